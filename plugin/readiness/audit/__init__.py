"""Streaming audit-trail validation, shared by the ``audit.*`` checks and the CLI.

Typical use in a check::

    result = validate_file(trail, cache_dir=default_cache_dir(reports_dir))
    if result.count_of(SEQUENCE_KINDS):
        pytest.fail(result.describe(SEQUENCE_KINDS))
"""

from __future__ import annotations

from .checkpoint import Checkpoint, checkpoint_file
from .model import (
    CHAIN_KINDS,
    FORMAT_KINDS,
    SEQUENCE_KINDS,
    TIMESTAMP_KINDS,
    ZERO_HASH,
    AuditConfig,
    AuditError,
    AuditResult,
    ErrorKind,
)
from .validator import TrailUnreadable, default_cache_dir, user_cache_dir, validate_bytes, validate_file

__all__ = [
    "CHAIN_KINDS",
    "FORMAT_KINDS",
    "SEQUENCE_KINDS",
    "TIMESTAMP_KINDS",
    "ZERO_HASH",
    "AuditConfig",
    "AuditError",
    "AuditResult",
    "Checkpoint",
    "ErrorKind",
    "TrailUnreadable",
    "checkpoint_file",
    "default_cache_dir",
    "user_cache_dir",
    "validate_bytes",
    "validate_file",
]
