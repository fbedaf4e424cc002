"""The run: refuse early, ask and check every answer, then write everything at once.

Nothing is written until every answer has passed, so a bad answer or Ctrl-C leaves the folder
as it was. Everything printed passes through a redactor holding the secrets answered so far.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from . import templates, writing
from .answers import questions, redactor
from .prompts import Environment, NoAnswer, Source, Terminal
from .validation import Problem, Step, check, steps

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass(frozen=True, slots=True)
class InitOptions:
    folder: Path
    target: str
    force: bool
    interactive: bool


def run(options: InitOptions, environ: Mapping[str, str], out: TextIO = sys.stdout) -> int:
    """``readiness init``; returns the exit status."""
    err = sys.stderr
    env_path = options.folder / writing.ENV
    if not options.folder.is_dir():
        print(f"readiness init: --dir {options.folder}: no such folder", file=err)
        return EXIT_USAGE
    if not options.force and (env_path.exists() or env_path.is_symlink()):
        print(f"readiness init: {env_path} exists; not replacing it (use --force to replace it)", file=err)
        return EXIT_USAGE
    source: Source = Terminal(environ) if options.interactive else Environment(environ)
    answers: dict[str, str] = {}
    try:
        _collect(options.target, source, answers, out)
    except KeyboardInterrupt:
        print("\nreadiness init: interrupted; nothing written", file=err)
        return EXIT_INTERRUPTED
    except NoAnswer as exc:
        print(f"readiness init: {exc}; nothing written", file=err)
        return EXIT_INVALID
    except _Refused as exc:
        print(f"readiness init: {redactor(answers)(str(exc))}; nothing written", file=err)
        return EXIT_INVALID
    _write(options, answers, out)
    return EXIT_OK


class _Refused(Exception):
    """A non-interactive answer failed its check."""


def _collect(target: str, source: Source, answers: dict[str, str], out: TextIO) -> None:
    """Fill ``answers``, each step's checked as soon as it has them; a failed step asks again."""
    asked = questions(target)
    every: tuple[Step, ...] = steps(target)
    pending = list(range(len(every)))
    while pending:
        step = every[pending[0]]
        for name in step.needs:
            if name not in answers:
                answer = source.ask(asked[name])
                answers[name] = answer.rstrip("/") if name.endswith("_url") else answer
        outcome = check(step, target, answers)
        mask = redactor(answers)
        if not isinstance(outcome, Problem):
            print(f"  ok: {mask(outcome)}", file=out, flush=True)
            pending.pop(0)
            continue
        if not source.interactive:
            raise _Refused(outcome.message)
        print(f"  problem: {mask(outcome.message)}", file=out, flush=True)
        for name in outcome.ask_again:
            answers.pop(name, None)
        # rerun, in order, every step that read an answer asked for again
        again = set(outcome.ask_again)
        pending = [i for i, s in enumerate(every) if i in pending or again & set(s.needs)]


def _write(options: InitOptions, answers: Mapping[str, str], out: TextIO) -> None:
    today = dt.date.today()
    folder = options.folder
    planned = [
        writing.Planned(folder / writing.ENV, templates.env_file(options.target, answers, today), 0o600),
        writing.Planned(folder / writing.CONFIG, templates.readiness_toml(), 0o644),
        writing.Planned(folder / writing.WAIVERS, templates.waivers_toml(today), 0o644),
        writing.Planned(folder / writing.ATTESTATIONS, templates.attestations_toml(today), 0o644),
    ]
    for path, written in writing.write(planned, force=options.force):
        note = "written" if written else "exists, kept (--force replaces it)"
        print(f"{path}: {note}", file=out)
    where = "" if folder.resolve() == Path.cwd().resolve() else f"cd {folder} && "
    reads = "it reads the .env and readiness.toml of the folder it runs in"
    print(f"next: {where}pytest -m preflight ({reads})", file=out)
