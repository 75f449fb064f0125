"""Measured speed of a run's exports (issue 18)."""
