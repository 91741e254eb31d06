"""Start-up: `abm --help` and `abm scenarios list` load no model code; `python -m abm` works."""

import json
import subprocess
import sys

import pytest

HEAVY = (
    "mesa",
    "numpy",
    "pandas",
    "pyarrow",
    "duckdb",
    "dask",
    "distributed",
    "scipy",
    "networkx",
    "matplotlib",
    "solara",
    "pydantic",
)
HEAVY_OWN = ("abm.engine", "abm.runs", "abm.analysis", "abm.scenario.schema", "viz")
PROBE = """
import json, sys
sys.argv = ["abm", *json.loads(sys.argv[1])]
from abm.cli import app
try:
    app(prog_name="abm")
except SystemExit as exc:
    code = exc.code
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + " " + str(code) + "\\n")
"""


def _loaded(args: list[str]) -> tuple[set[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("MODULES "))
    names, code = line.removeprefix("MODULES ").rsplit(" ", 1)
    assert code in ("0", "None"), done.stderr
    return set(json.loads(names)), done.stdout


@pytest.mark.parametrize("args", [["--help"], ["scenarios", "list"], ["run", "--help"]])
def test_light_commands_import_no_model_code(args):
    modules, out = _loaded(args)
    assert out.strip()
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY_OWN))
    if args != ["--help"]:  # typer 0.29 coerces a sub-command's parameters through pydantic
        heavy = [m for m in heavy if m.split(".")[0] != "pydantic"]
    assert heavy == [], f"abm {' '.join(args)} imported {heavy[:8]}"


def test_python_dash_m_abm():
    done = subprocess.run(
        [sys.executable, "-m", "abm", "scenarios", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("b_end_boom: ")
    assert "\nbaseline: Historical world" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "abm", "run", "no_such_scenario"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert "no such scenario file or library scenario" in bad.stderr
    assert "Traceback" not in bad.stderr
