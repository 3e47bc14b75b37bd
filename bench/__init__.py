"""Benchmarks: timing goals live here, never in pass/fail tests."""
