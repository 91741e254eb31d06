"""``abm ui``: the allowed scenario folders reach the page; a network bind is warned about."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

import viz.server
from abm.cli import app
from viz.loading import SCENARIO_DIRS_ENV, allowed_dirs
from viz.server import is_loopback, scenario_dirs_env

runner = CliRunner()


@pytest.fixture
def served(monkeypatch):
    calls = []
    monkeypatch.setattr(viz.server, "serve", lambda **kw: calls.append(kw))
    return calls


def test_a_network_bind_prints_a_warning(served):
    res = runner.invoke(app, ["ui", "--host", "0.0.0.0", "--port", "8799"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "warning: --host 0.0.0.0 makes the UI reachable from the network" in text
    assert "no authentication" in text
    assert served[0]["host"] == "0.0.0.0"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_binds_print_no_warning(served, host):
    res = runner.invoke(app, ["ui", "--host", host])
    assert res.exit_code == 0 and "warning" not in res.output, res.output


def test_is_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("10.0.0.5")
    assert not is_loopback("example.org")


def test_scenario_dirs_reach_the_page(served, tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    res = runner.invoke(app, ["ui", "--scenario-dir", str(a), "--scenario-dir", str(b)])
    assert res.exit_code == 0, res.output
    assert [str(d) for d in served[0]["scenario_dirs"]] == [str(a), str(b)]
    env = scenario_dirs_env(served[0]["scenario_dirs"])
    assert env[SCENARIO_DIRS_ENV] == os.pathsep.join([str(a.resolve()), str(b.resolve())])
    monkeypatch.setenv(SCENARIO_DIRS_ENV, env[SCENARIO_DIRS_ENV])
    assert allowed_dirs()[1:] == (a.resolve(), b.resolve())
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["ui"]).exit_code == 0
    assert [str(d) for d in served[1]["scenario_dirs"]] == [str(tmp_path)]  # default: cwd
    monkeypatch.delenv(SCENARIO_DIRS_ENV)
    assert allowed_dirs()[1:] == (tmp_path.resolve(),)


def test_a_scenario_dir_that_is_not_a_folder_is_refused(served, tmp_path):
    res = runner.invoke(app, ["ui", "--scenario-dir", str(tmp_path / "nope")])
    assert res.exit_code != 0 and "not a folder" in res.output and not served
