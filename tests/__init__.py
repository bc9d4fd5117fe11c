"""The tests of posturetest: unit/, functional/ and e2e/, with shared builders in factories.py."""
