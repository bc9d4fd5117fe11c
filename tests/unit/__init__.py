"""Tests that call the library directly: domain, store, statistics, charts, exports, imports."""
