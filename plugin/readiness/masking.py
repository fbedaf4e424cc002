"""Hooks that keep secrets out of every output: logs, test ids, reports, pytest-metadata."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from .redact import MASK, Redactor, is_secret_name
from .state import state_key


class _RedactingFilter(logging.Filter):
    """Mask secrets in log records before pytest's handlers format them (live log, capture, file)."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.redact.contains_secret(message):
            record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        return True


def pytest_sessionstart(session: pytest.Session) -> None:
    state = session.config.stash[state_key]
    logging_plugin = session.config.pluginmanager.get_plugin("logging-plugin")
    if logging_plugin is not None:
        log_filter = _RedactingFilter(state.redact)
        for name in ("log_cli_handler", "caplog_handler", "report_handler", "log_file_handler"):
            handler = getattr(logging_plugin, name, None)
            if isinstance(handler, logging.Handler):
                handler.addFilter(log_filter)


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Keep secrets out of test ids (and so out of every report that names a test)."""
    state = config.stash.get(state_key, None)
    if state is not None and isinstance(val, str) and state.redact.contains_secret(val):
        return state.redact(val)
    return None


def redact_report(report: pytest.TestReport, redact: Redactor) -> None:
    if report.longrepr is not None and redact.contains_secret(str(report.longrepr)):
        if isinstance(report.longrepr, tuple):
            path, lineno, reason = report.longrepr
            report.longrepr = (path, lineno, redact(reason))
        else:
            report.longrepr = redact(str(report.longrepr))
    report.sections = [(title, redact(content)) for title, content in report.sections]
    report.user_properties = [(redact(str(k)), v) for k, v in report.user_properties]


def _mask_mapping(mapping: dict[str, Any], redact: Redactor) -> None:
    for key, value in list(mapping.items()):
        if isinstance(value, dict):
            _mask_mapping(value, redact)
        elif isinstance(value, str):
            mapping[key] = MASK if is_secret_name(key) and value else redact(value)


def redact_metadata(config: pytest.Config, redact: Redactor) -> None:
    """pytest-metadata merges each xdist worker's raw metadata late; mask it before pytest-html."""
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:
        return
    metadata = config.stash.get(metadata_key, None)
    if metadata is not None:
        _mask_mapping(metadata, redact)


@pytest.hookimpl(optionalhook=True)
def pytest_metadata(metadata: dict[str, Any], config: pytest.Config) -> None:
    state = config.stash.get(state_key, None)
    if state is not None:
        _mask_mapping(metadata, state.redact)
