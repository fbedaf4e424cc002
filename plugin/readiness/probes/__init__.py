"""Probes: what the checks measure, one module per dependency. Checks only assert on results."""
