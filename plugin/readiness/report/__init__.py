"""Readiness outputs: JSON, HTML sign-off report, history and terminal summary."""

from __future__ import annotations
