"""Where answers come from: a person at a terminal, or the environment of a script.

A secret is read like a password (no echo), so it never shows on the screen, in a terminal's
scrollback or in a recording of the session; the other answers are read normally.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from typing import Protocol

from .answers import Question


class NoAnswer(Exception):
    """A non-interactive run lacks an answer, or a terminal's input ended (Ctrl-D)."""


class Source(Protocol):
    interactive: bool

    def ask(self, question: Question) -> str:
        """The answer to ``question``, stripped; raises :class:`NoAnswer` when there is none."""
        ...


class Terminal:
    """Asks a person; an empty answer takes the default, or is asked again when there is none.

    A setting that is not a secret defaults to its environment variable when that is set, so
    ``readiness sandbox``'s origins (or a proxy's) are one Enter away.
    """

    interactive = True

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def ask(self, question: Question) -> str:
        default = question.default
        if not question.secret:
            default = self.environ.get(question.env, "").strip() or default
        shown = f" [{default}]" if default else ""
        label = f"{question.prompt} ({question.env}){shown}: "
        while True:
            try:
                raw = getpass.getpass(label) if question.secret else input(label)
            except EOFError:
                raise NoAnswer(f"input ended before {question.env} was given") from None
            answer = raw.strip() or (default or "")
            if answer:
                return answer
            print(f"  {question.env} is needed; Ctrl-C stops without writing anything")


class Environment:
    """Reads each answer from the variable named in the settings table (defaults as documented)."""

    interactive = False

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def ask(self, question: Question) -> str:
        answer = self.environ.get(question.env, "").strip() or (question.default or "")
        if not answer:
            raise NoAnswer(
                f"{question.env} is not set: set it in the environment (without a terminal, or with "
                "--non-interactive, every answer is read from there)"
            )
        return answer
