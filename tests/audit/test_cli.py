"""``readiness audit``: exit codes, the SPEC §10 JSON object, one-line errors, no traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from audit_trailgen import join, trail

from readiness.cli import main

SPEC_FIELDS = {"path", "lines", "bytes", "valid", "errors", "seconds"}


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(join(trail(10)))
    return path


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    lines = trail(10)
    lines[4] = b"oops"
    path = tmp_path / "bad.jsonl"
    path.write_bytes(join(lines))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_valid_json_output(good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "audit", str(good), "--json", "--cache-dir", str(tmp_path / "c"))
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert out.count("\n") == 1 and doc.keys() >= SPEC_FIELDS
    assert doc["path"] == str(good) and doc["lines"] == 10 and doc["valid"] is True
    assert doc["bytes"] == good.stat().st_size and doc["errors"] == []
    assert isinstance(doc["seconds"], float) and doc["chained"] is True


def test_invalid_json_output(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", str(bad), "--json", "--no-checkpoint")
    doc = json.loads(out)
    assert code == 1 and doc["valid"] is False and doc["error_count"] == 2
    assert doc["errors"][0] == {"line": 5, "reason": doc["errors"][0]["reason"], "kind": "json"}
    assert doc["errors"][1]["line"] == 6 and doc["checkpoint"] == "disabled"


def test_human_output_lists_errors(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", str(bad), "--no-checkpoint")
    assert code == 1
    assert out.splitlines()[0].startswith(f"{bad}:5: invalid JSON")
    assert "INVALID, 2 error(s)" in out


@pytest.mark.parametrize("xdg", [True, False], ids=["XDG_CACHE_HOME", "home"])
def test_checkpoints_go_to_the_users_cache_not_the_folder_it_runs_in(
    good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], xdg: bool
) -> None:
    here, home = tmp_path / "here", tmp_path / "home"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setenv("HOME", str(home))
    if xdg:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    else:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert run(capsys, "audit", str(good))[0] == 0
    cache = (tmp_path / "xdg" if xdg else home / ".cache") / "readiness" / "audit"
    assert len(list(cache.iterdir())) == 1
    assert list(here.iterdir()) == []
    code, out, _ = run(capsys, "audit", str(good), "--json")
    assert code == 0 and json.loads(out)["incremental"] is True


def test_no_checkpoint_writes_nothing(
    good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "audit", str(good), "--no-checkpoint")[0] == 0
    assert not (tmp_path / "reports").exists()


def _unreadable_cases(tmp_path: Path) -> dict[str, Path]:
    loop = tmp_path / "loop"
    os.symlink(tmp_path / "loop2", loop)
    os.symlink(loop, tmp_path / "loop2")
    return {"missing": tmp_path / "nope.jsonl", "directory": tmp_path, "loop": loop}


@pytest.mark.parametrize("case", ["missing", "directory", "loop"])
def test_unreadable_file_exits_2_with_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _unreadable_cases(tmp_path)[case]
    code, out, err = run(capsys, "audit", str(path), "--json")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err


def test_permission_denied_exits_2(
    good: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_open = open

    def deny(file: object, *args: object, **kwargs: object) -> object:
        if str(file) == str(good):
            raise PermissionError(13, "Permission denied", str(good))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", deny)
    code, _, err = run(capsys, "audit", str(good), "--no-checkpoint")
    assert code == 2 and err == f"readiness audit: cannot read audit trail {good}: Permission denied\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_real_permission_denied_exits_2(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good.chmod(0)
    assert run(capsys, "audit", str(good), "--no-checkpoint")[0] == 2


@pytest.mark.parametrize("argv", [[], ["audit"], ["audit", "a", "b"], ["audit", "x", "--bogus"], ["nosuch"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and "usage:" in err and "Traceback" not in err


def test_workers_must_be_positive(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "audit", str(good), "--workers", "0")
    assert code == 2 and err.count("\n") == 1


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "audit", "--help")[0] == 0


def test_field_name_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"ts": 1, "type": "x"}\n{"ts": 2, "type": "y"}\n')
    argv = ["audit", str(path), "--no-checkpoint", "--timestamp-field", "ts"]
    assert run(capsys, *argv, "--event-field", "type")[0] == 0
    assert run(capsys, *argv)[0] == 1


def test_installed_console_script(good: Path, bad: Path, tmp_path: Path) -> None:
    exe = shutil.which("readiness")
    assert exe, "the readiness console script is not installed"
    ok = subprocess.run([exe, "audit", str(good), "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0 and json.loads(ok.stdout)["valid"] is True
    nok = subprocess.run([exe, "audit", str(bad), "--json", "--no-checkpoint"], capture_output=True)
    assert nok.returncode == 1
    missing = subprocess.run([exe, "audit", str(tmp_path / "none")], capture_output=True, text=True)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def test_flag_defaults_match_audit_config() -> None:
    from readiness.audit import AuditConfig
    from readiness.cli import _FIELD_DEFAULTS

    cfg = AuditConfig()
    assert {f: getattr(cfg, f"{f}_field") for f in _FIELD_DEFAULTS} == _FIELD_DEFAULTS
