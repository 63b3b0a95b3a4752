"""Helpers that the suites share (no tests here)."""
