"""What users read: the docs, ``--help`` and the package's own text, written for them."""

from __future__ import annotations

import re
import subprocess
import sys

from readiness.settings import DEFINITIONS
from readiness.settings_reference import markdown

from .helpers import REPO

USER_FACING = [
    REPO / "README.md",
    *sorted((REPO / "docs").rglob("*.md")),
    *sorted((REPO / "plugin" / "readiness").rglob("*.py")),
    *sorted((REPO / "plugin" / "readiness").rglob("*.j2")),
    *sorted((REPO / "checks").rglob("*.py")),
]
#: A relative Markdown link: [text](path#anchor).
LINK = re.compile(r"\]\(((?!https?:|#)[^)#\s]+)(?:#[^)]*)?\)")


def test_the_settings_reference_is_the_settings_table() -> None:
    assert (REPO / "docs" / "settings.md").read_text("utf-8") == markdown(), (
        "docs/settings.md is stale: python -m readiness.settings_reference > docs/settings.md"
    )
    assert all(definition.doc for definition in DEFINITIONS)
    for definition in DEFINITIONS:
        assert f"| `{definition.name}` | `{definition.env}` |" in markdown()


def test_no_user_facing_text_cites_the_internal_spec() -> None:
    citing = [str(path.relative_to(REPO)) for path in USER_FACING if "§" in path.read_text("utf-8")]
    assert not citing, f"these cite a document users do not have: {citing}"


def test_every_subcommand_help_is_for_users() -> None:
    for command in ([], ["audit"], ["sandbox"], ["init"]):
        done = subprocess.run(
            [sys.executable, "-m", "readiness.cli", *command, "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "§" not in done.stdout and "SPEC" not in done.stdout, command


def test_relative_links_in_the_docs_resolve() -> None:
    for path in (REPO / "README.md", *(REPO / "docs").rglob("*.md")):
        for target in LINK.findall(path.read_text("utf-8")):
            assert (path.parent / target).exists(), f"{path.relative_to(REPO)} links to missing {target}"
