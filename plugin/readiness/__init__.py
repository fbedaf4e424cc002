"""Deployment-readiness harness: a pytest plugin that scores readiness checks into a verdict."""

from __future__ import annotations

__version__ = "0.1.0"
