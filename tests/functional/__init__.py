"""Tests of what a user drives: the TUI through Pilot, SVG snapshots, the command line, the docs."""
