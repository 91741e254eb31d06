"""Fuzzing bad input: mutated scenario files and CLI arguments never crash, hang or slip through.

Hypothesis mutates the baseline scenario (drops keys, swaps types, puts NaN, inf,
huge, negative and boolean values in, nests deeply, adds random bytes, repeated keys
and aliases) and the ``--seed``/``--weeks`` arguments, then runs ``abm run`` through
typer's runner with three weeks. Every example must exit 0 with outputs free of NaN,
or exit 2 with one line and no traceback; none may hang (pytest-timeout). The example
count stays modest and the examples are derandomized, so the suite is reproducible.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from abm.cli import app
from abm.scenario import SCENARIO_DIR

runner = CliRunner()
BASELINE = yaml.safe_load((SCENARIO_DIR / "baseline.yaml").read_text(encoding="utf-8"))
BASELINE["calibration"] = str(SCENARIO_DIR / "calibration.yaml")  # read from a temp folder
FUZZ = settings(  # ABM_FUZZ_EXAMPLES=500 for a longer campaign
    max_examples=int(os.environ.get("ABM_FUZZ_EXAMPLES", "40")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

BAD_VALUES = st.sampled_from(
    [
        None,
        True,
        False,
        "",
        "text",
        "2023-02-30",
        -1,
        0,
        -1e308,
        1e308,
        math.inf,
        -math.inf,
        math.nan,
        2**70,
        -(2**70),
        10**29,
        0.5,
        [],
        {},
        [1, 2],
        {"a": 1},
        [
            [
                [
                    [
                        [
                            [
                                [
                                    [
                                        [
                                            [
                                                [
                                                    [
                                                        [
                                                            [
                                                                [
                                                                    [
                                                                        [
                                                                            [
                                                                                [
                                                                                    [
                                                                                        [
                                                                                            [
                                                                                                [
                                                                                                    [
                                                                                                        [
                                                                                                            [
                                                                                                                [
                                                                                                                    [
                                                                                                                        [
                                                                                                                            [
                                                                                                                                [
                                                                                                                                    [
                                                                                                                                        [
                                                                                                                                            [
                                                                                                                                                [
                                                                                                                                                    [
                                                                                                                                                        [
                                                                                                                                                            [
                                                                                                                                                                [
                                                                                                                                                                    [
                                                                                                                                                                        [
                                                                                                                                                                            [
                                                                                                                                                                                [
                                                                                                                                                                                    [
                                                                                                                                                                                        [
                                                                                                                                                                                            [
                                                                                                                                                                                                1
                                                                                                                                                                                            ]
                                                                                                                                                                                        ]
                                                                                                                                                                                    ]
                                                                                                                                                                                ]
                                                                                                                                                                            ]
                                                                                                                                                                        ]
                                                                                                                                                                    ]
                                                                                                                                                                ]
                                                                                                                                                            ]
                                                                                                                                                        ]
                                                                                                                                                    ]
                                                                                                                                                ]
                                                                                                                                            ]
                                                                                                                                        ]
                                                                                                                                    ]
                                                                                                                                ]
                                                                                                                            ]
                                                                                                                        ]
                                                                                                                    ]
                                                                                                                ]
                                                                                                            ]
                                                                                                        ]
                                                                                                    ]
                                                                                                ]
                                                                                            ]
                                                                                        ]
                                                                                    ]
                                                                                ]
                                                                            ]
                                                                        ]
                                                                    ]
                                                                ]
                                                            ]
                                                        ]
                                                    ]
                                                ]
                                            ]
                                        ]
                                    ]
                                ]
                            ]
                        ]
                    ]
                ]
            ]
        ],
    ]
)


def _nodes(data: Any, path: tuple = ()) -> list[tuple]:
    """Every path into ``data`` (mapping keys and list positions)."""
    out = [path]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _nodes(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _nodes(v, (*path, i))
    return out


PATHS = [p for p in _nodes(BASELINE) if p]


def _mutate(data: dict, path: tuple, how: str, value: Any) -> dict:
    data = copy.deepcopy(data)
    node = data
    for part in path[:-1]:
        node = node[part]
    last = path[-1]
    if how == "drop":
        del node[last]
    elif how == "replace":
        node[last] = value
    elif how == "negate" and isinstance(node[last], int | float) and node[last] is not True:
        node[last] = -node[last] - 1
    elif how == "scale" and isinstance(node[last], int | float) and node[last] is not True:
        node[last] = node[last] * 1e12
    elif how == "stringify":
        node[last] = str(node[last])
    else:
        node[last] = value
    return data


TEXT_EDITS = st.sampled_from(
    ["none", "random_bytes", "duplicate_line", "alias_bomb", "deep_block", "deep_flow", "anchor"]
)


def _edit_text(text: str, how: str, where: int, blob: bytes) -> bytes:
    lines = text.splitlines(keepends=True)
    at = where % len(lines)
    if how == "random_bytes":
        raw = text.encode()
        pos = where % len(raw)
        return raw[:pos] + blob + raw[pos:]
    if how == "duplicate_line":
        lines.insert(at, lines[at])
    elif how == "alias_bomb":
        bomb = ["lol0: &a0 [x, x, x, x, x, x, x, x, x]\n"]
        bomb += [f"lol{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)]
        lines = bomb + lines
    elif how == "deep_block":
        lines.append("".join(f"{' ' * i}k{i}:\n" for i in range(300)) + " " * 300 + "v: 1\n")
    elif how == "deep_flow":
        lines.append("deep: " + "[" * 3000 + "]" * 3000 + "\n")
    elif how == "anchor":
        lines = ["shared: &s {x: 1}\n", *lines, "other: *s\n"]
    return "".join(lines).encode("utf-8")


def _check_outcome(res, out: Path) -> None:
    event(f"exit {res.exit_code}")  # shown by --hypothesis-show-statistics
    assert "Traceback" not in res.output, res.output
    assert res.exit_code in (0, 2), (res.exit_code, res.output, res.exception)
    if res.exit_code == 2:
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), res.output
        return
    for name in ("metrics.parquet", "agents.parquet"):
        table = pq.read_table(out / name)
        for col in table.column_names:
            column = table.column(col)
            if column.type in ("double", "float"):
                assert not pc.any(pc.is_nan(column)).as_py(), f"NaN in {name}:{col}"


@pytest.mark.timeout(240)
@FUZZ
@given(
    path=st.sampled_from(PATHS),
    how=st.sampled_from(["drop", "replace", "negate", "scale", "stringify"]),
    value=BAD_VALUES,
    text_edit=TEXT_EDITS,
    where=st.integers(min_value=0, max_value=10**6),
    blob=st.binary(min_size=1, max_size=8),
)
def test_fuzzed_scenario_files(path, how, value, text_edit, where, blob):
    event(f"mutation {how}, text edit {text_edit}")
    data = _mutate(BASELINE, path, how, value)
    try:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        return
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "fuzzed.yaml"
        f.write_bytes(_edit_text(text, text_edit, where, blob))
        out = Path(tmp) / "out"
        res = runner.invoke(app, ["run", str(f), "--weeks", "3", "--quiet", "--out", str(out)])
        _check_outcome(res, out)
        if res.exit_code == 2:
            assert str(f) in res.output or "fuzzed.yaml" in " ".join(res.output.split())


@pytest.mark.timeout(240)
@FUZZ
@given(
    seed=st.one_of(st.integers(), st.integers(min_value=-(2**80), max_value=2**80)),
    weeks=st.one_of(
        st.none(),
        st.integers(min_value=1, max_value=3),
        st.integers(max_value=0),
        st.integers(min_value=2001),
    ),
    command=st.sampled_from(["run", "batch", "validate"]),
)
def test_fuzzed_cli_arguments(seed, weeks, command):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        if command == "run":
            args = ["run", "baseline", "--seed", str(seed), "--quiet", "--out", str(out)]
            args += ["--weeks", str(weeks if weeks is not None else 3)]
        elif command == "batch":  # --seeds is a count: only refusals are run
            seeds = seed if not 1 <= seed <= 10_000 else -seed
            args = ["batch", "baseline", "--seeds", str(seeds), "--out", str(out)]
            args += ["--weeks", str(weeks)] if weeks is not None else []
        else:
            seeds = seed if not 1 <= seed <= 10_000 else -seed
            args = ["validate", "--seeds", str(seeds), "--out", str(out)]
        res = runner.invoke(app, args)
        if command == "run":
            _check_outcome(res, out)
        else:
            event(f"exit {res.exit_code}")
            assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
            assert "Traceback" not in res.output and not out.exists()
