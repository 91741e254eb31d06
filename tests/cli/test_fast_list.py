"""`abm scenarios list` through the console entry point's fast path (abm.__main__.main) prints what
the Typer app prints, byte for byte, without importing Typer; errors stay one line.

The timing itself is a benchmark (bench/startup.py), not a test.
"""

import json
import os
import subprocess
import sys
from importlib import metadata

import pytest
from typer.testing import CliRunner

import abm.scenario.library as library
from abm.__main__ import main
from abm.cli import app

FAST = """
import json, sys
sys.argv = ["abm", "scenarios", "list"]
from abm.__main__ import main
try:
    main()
except SystemExit as exc:
    code = exc.code
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + " " + str(code) + "\\n")
"""
FULL = """
import sys
sys.argv = ["abm", "scenarios", "list"]
from abm.cli import app
app(prog_name="abm")
"""


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        timeout=60,
        check=False,
        env={**base, "ABM_IGNORE_NAME_CLASH": "1", **env},
    )


def test_console_command_is_the_fast_entry_point():
    (script,) = [e for e in metadata.entry_points(group="console_scripts") if e.name == "abm"]
    assert script.value == "abm.__main__:main"


@pytest.mark.parametrize(
    "env", [{}, {"COLUMNS": "50"}, {"COLUMNS": "200"}, {"FORCE_COLOR": "1", "COLUMNS": "120"}]
)
def test_fast_path_prints_the_same_bytes_as_the_typer_app(env):
    fast, full = _python(FAST, env), _python(FULL, env)
    assert full.returncode == 0, full.stderr
    assert fast.stdout == full.stdout
    assert b"baseline" in fast.stdout
    line = fast.stderr.decode().splitlines()[-1]
    modules, code = line.removeprefix("MODULES ").rsplit(" ", 1)
    assert code == "0"
    loaded = json.loads(modules)
    assert not [m for m in loaded if m.split(".")[0] in ("typer", "click", "pydantic")]


def test_other_arguments_go_to_the_typer_app(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["abm", "scenarios", "list", "--help"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 0
    assert "Usage: abm scenarios list" in capsys.readouterr().out


def _missing():
    raise library.LibraryMissingError("the scenario library (abm.scenarios) is not installed")


def test_a_missing_library_is_the_same_one_line_error_both_ways(monkeypatch, capsys):
    monkeypatch.setattr(library, "library_dir", _missing)
    monkeypatch.setattr(sys, "argv", ["abm", "scenarios", "list"])
    with pytest.raises(SystemExit) as exc:
        main()
    fast = capsys.readouterr()
    assert exc.value.code == 2
    assert fast.out == ""
    assert fast.err == "error: the scenario library (abm.scenarios) is not installed\n"
    res = CliRunner().invoke(app, ["scenarios", "list"])
    assert res.exit_code == 2
    assert res.stderr == fast.err
