"""The benchmarks of `make bench` (not tests: pytest does not collect them)."""
