"""The log SQL sandbox: what a query may not read, write, change or load; time limit; bad logs.

Every attack is tried three ways: through :func:`fetch` (all layers), through
:func:`fetch` with the statement-type check switched off (DuckDB's own
settings, the read-only file system and the read-only transaction must stop
it alone), and through ``abm logs OUT query`` (one line, exit code 2). Each
time the run's files must be byte-unchanged and no file may appear anywhere
under the test's folder (run, "outside" folder, working directory).
"""

import hashlib
import json
import os
import shutil
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import abm.analysis.logs as logs
from abm.analysis.logs import (
    DEFAULT_TIMEOUT_S,
    QueryFailed,
    QueryRefused,
    QueryTimeout,
    ResultsError,
    connect,
    fetch,
)
from abm.cli import EXIT_INTERRUPTED, EXIT_TIMEOUT, LOG_TIMEOUT_S, app
from abm.engine.model import SupplyChainModel
from abm.runs.outputs import prepare_out_dir, write_run

runner = CliRunner()
SLOW = "SELECT count(*) FROM range(100000000) a, range(100000000) b"
"""A cross join that would run for hours."""
OUTER_BOUND_S = 60
"""Generous bound for "it stopped": not a timing test."""


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sandbox")
    run = root / "run"
    prepare_out_dir(run)
    model = SupplyChainModel.from_scenario("baseline", seed=1, weeks=20).run()
    write_run(model, run, datetime.now(UTC))
    (root / "outside").mkdir()
    (root / "outside" / "secret.csv").write_text("user,password\nalice,hunter2\n")
    (root / "cwd").mkdir()
    return root


@pytest.fixture()
def sandbox(base, monkeypatch):
    """(run folder, template values); the working directory is an empty folder."""
    monkeypatch.chdir(base / "cwd")
    values = {
        "run": str(base / "run"),
        "outside": str(base / "outside"),
        "secret": str(base / "outside" / "secret.csv"),
    }
    return base / "run", values


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "/"
        for p in sorted(root.rglob("*"))
    }


def _home_duckdb() -> list[str]:
    home = Path.home() / ".duckdb"
    return sorted(str(p) for p in home.rglob("*")) if home.exists() else []


def _one_line_error(res) -> str:
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1, res.output
    assert "Traceback" not in res.output
    return lines[0]


READS = {
    "read_text /etc/passwd": "SELECT content FROM read_text('/etc/passwd')",
    "read_csv /etc/passwd": "SELECT * FROM read_csv('/etc/passwd')",
    "read_csv outside": "SELECT * FROM read_csv('{secret}')",
    "read_blob /etc/*.conf": "SELECT count(*) FROM read_blob('/etc/*.conf')",
    "glob /root/.ssh": "SELECT * FROM glob('/root/.ssh/*')",
    "glob the run folder": "SELECT * FROM glob('{run}/*')",
    "sniff_csv": "SELECT * FROM sniff_csv('/etc/passwd')",
    "read_text /proc/self/environ": "SELECT length(content) FROM read_text('/proc/self/environ')",
    "explain analyze of a read": "EXPLAIN ANALYZE SELECT * FROM read_text('/etc/passwd')",
    "read in a CTE": "WITH x AS (SELECT * FROM read_text('{secret}')) SELECT * FROM x",
    "read through query()": "SELECT * FROM query('SELECT * FROM read_text(''{secret}'')')",
    "read_json": "SELECT * FROM read_json_auto('/etc/os-release')",
    "the manifest next to the logs": "SELECT * FROM read_text('{run}/manifest.json')",
    "a log file by its own path": "SELECT count(*) FROM read_parquet('{run}/metrics.parquet')",
    "file:// URL": "SELECT * FROM read_text('file:///etc/passwd')",
    "abmlogs:// other file": "SELECT * FROM read_text('abmlogs:///etc/passwd')",
    "abmlogs:// dot-dot": "SELECT * FROM read_text('abmlogs://{run}/../outside/secret.csv')",
    "parquet_metadata": "SELECT * FROM parquet_metadata('{run}/../run/events.parquet')",
    "http URL": "SELECT * FROM read_parquet('http://127.0.0.1:9/x.parquet')",
}
WRITES = {
    "COPY over a log file": "COPY (SELECT 1 AS a) TO '{run}/metrics.parquet' (FORMAT parquet)",
    "COPY a new file in the run": "COPY (SELECT 1 AS a) TO '{run}/new.csv'",
    "COPY outside": "COPY (SELECT 1 AS a) TO '{outside}/x.csv'",
    "COPY relative (cwd)": "COPY (SELECT 1 AS a) TO 'x.csv'",
    "COPY to abmlogs:// in place": (
        "COPY (SELECT 1 AS a) TO 'abmlogs://{run}/events.parquet' (FORMAT csv, USE_TMP_FILE false)"
    ),
    "EXPORT DATABASE into the run": "EXPORT DATABASE '{run}/export'",
    "EXPORT DATABASE outside": "EXPORT DATABASE '{outside}/export'",
    "ATTACH a db in the run": "ATTACH '{run}/x.db'",
    "ATTACH a db outside": "ATTACH '{outside}/x.db'",
    "CREATE TABLE": "CREATE TABLE t AS SELECT 1",
    "DROP VIEW": "DROP VIEW events",
    "replace a view": "CREATE OR REPLACE VIEW metrics AS SELECT * FROM read_csv('{secret}')",
}
CTE_WRITES = {
    "CTE COPY over metrics": (
        "WITH x AS (COPY (SELECT 1 AS a) TO '{run}/metrics.parquet' (FORMAT parquet)) SELECT 1"
    ),
    "CTE COPY over metrics, no tmp file": (
        "WITH x AS (COPY (SELECT 1 AS a) TO '{run}/metrics.parquet' "
        "(FORMAT parquet, USE_TMP_FILE false)) SELECT 1"
    ),
    "CTE COPY via abmlogs://": (
        "WITH x AS (COPY (SELECT 1 AS a) TO 'abmlogs://{run}/agents.parquet' "
        "(FORMAT csv, USE_TMP_FILE false)) SELECT 1"
    ),
    "CTE COPY a shell script": (
        "WITH x AS (COPY (SELECT '#!/bin/sh' AS a) TO '{outside}/evil.sh' "
        "(FORMAT csv, HEADER false)) SELECT 1"
    ),
    "CTE COPY /etc/passwd out": (
        "WITH x AS (COPY (SELECT * FROM read_text('/etc/passwd')) TO '{outside}/passwd.csv') "
        "SELECT 1"
    ),
    "CTE DELETE": "WITH x AS (DELETE FROM runs RETURNING *) SELECT count(*) FROM x",
    "CTE UPDATE": "WITH x AS (UPDATE runs SET seed = 99 RETURNING *) SELECT count(*) FROM x",
    "CTE INSERT": "WITH x AS (INSERT INTO runs SELECT * FROM runs RETURNING *) SELECT 1 FROM x",
    "EXPLAIN ANALYZE of a CTE COPY": (
        "EXPLAIN ANALYZE WITH x AS (COPY (SELECT 1 AS a) TO '{outside}/e.csv') SELECT 1"
    ),
}
SETTINGS = {
    "SET external access": "SET enable_external_access = true",
    "RESET external access": "RESET enable_external_access",
    "SET GLOBAL allowed_directories": "SET GLOBAL allowed_directories = ['/']",
    "SET allowed_paths": "SET allowed_paths = ['/etc/passwd']",
    "SET disabled_filesystems": "SET disabled_filesystems = ''",
    "SET lock_configuration": "SET lock_configuration = false",
    "SET max_execution_time": "SET max_execution_time = 0",
    "SET autoload": "SET autoload_known_extensions = true",
    "SET temp_directory": "SET temp_directory = '{outside}'",
    "PRAGMA enable_profiling": "PRAGMA enable_profiling",
    "SET profiling_output": "SET profiling_output = '{outside}/profile.json'",
    "CALL a setting pragma": "CALL enable_profiling()",
}
EXTENSIONS = {
    "LOAD httpfs": "LOAD httpfs",
    "INSTALL httpfs": "INSTALL httpfs",
    "FORCE INSTALL from community": "FORCE INSTALL h3 FROM community",
    "LOAD a file": "LOAD '{outside}/evil.duckdb_extension'",
    "autoload by s3 URL": "SELECT * FROM read_parquet('s3://bucket/x.parquet')",
    "autoload sqlite": "SELECT * FROM sqlite_scan('{outside}/x.db', 't')",
    "persistent s3 secret (httpfs)": "CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
}
ATTACKS = [
    pytest.param(kind, sql, id=f"{kind}: {name}")
    for kind, cases in [
        ("read", READS),
        ("write", WRITES),
        ("cte-write", CTE_WRITES),
        ("setting", SETTINGS),
        ("extension", EXTENSIONS),
    ]
    for name, sql in cases.items()
]


@pytest.mark.parametrize(("kind", "template"), ATTACKS)
def test_attack_is_refused_and_changes_nothing(sandbox, base, monkeypatch, kind, template):
    run, values = sandbox
    sql = template.format(**values)
    before, home = _snapshot(base), _home_duckdb()
    con = connect(run)
    n_runs = con.execute("SELECT count(*) FROM runs").fetchall()
    with pytest.raises((QueryRefused, QueryFailed)):
        fetch(con, sql)
    # The statement-type check is only an extra layer: without it the sandbox must hold.
    with monkeypatch.context() as m:
        m.setattr(logs, "check", lambda con, sql: None)
        with pytest.raises((QueryRefused, QueryFailed)) as refused:
            fetch(con, sql)
    if kind in ("read", "write", "cte-write", "setting"):
        assert isinstance(refused.value, QueryRefused), refused.value
    res = runner.invoke(app, ["logs", str(run), "query", sql])
    assert res.exit_code == 2
    _one_line_error(res)
    assert _snapshot(base) == before
    assert _home_duckdb() == home
    assert con.execute("SELECT count(*) FROM runs").fetchall() == n_runs
    settings = dict(
        con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
            "'lock_configuration', 'allowed_directories', 'autoload_known_extensions')"
        ).fetchall()
    )
    assert settings == {
        "enable_external_access": "false",
        "lock_configuration": "true",
        "allowed_directories": "[]",
        "autoload_known_extensions": "false",
    }


def test_the_sandbox_settings_are_in_force(sandbox):
    run, _ = sandbox
    con = connect(run, timeout=7)
    settings = dict(con.execute("SELECT name, value FROM duckdb_settings()").fetchall())
    assert settings["enable_external_access"] == "false"
    assert settings["lock_configuration"] == "true"
    assert settings["allowed_directories"] == "[]"
    # duckdb_settings() shows disabled_filesystems as '' (DuckDB 2.0.1), yet it is in force:
    with pytest.raises(duckdb.PermissionException, match="LocalFileSystem has been disabled"):
        con.execute(f"SELECT * FROM read_parquet('{run}/events.parquet')").fetchall()
    assert settings["autoinstall_known_extensions"] == "false"
    assert settings["autoload_known_extensions"] == "false"
    assert settings["allow_community_extensions"] == "false"
    assert settings["max_execution_time"] == "7000"
    allowed = con.execute("SELECT current_setting('allowed_paths')").fetchall()[0][0]
    assert sorted(allowed) == sorted(f"abmlogs://{run / name}" for name in logs.TABLES)


def test_normal_queries_still_work(sandbox):
    run, _ = sandbox
    con = connect(run)
    n = fetch(con, "SELECT count(*) AS n FROM events").column("n")[0].as_py()
    assert n == pq.read_metadata(run / "events.parquet").num_rows
    assert fetch(con, "DESCRIBE metrics").num_rows > 0
    assert fetch(con, "SUMMARIZE runs").num_rows > 0
    assert fetch(con, "EXPLAIN SELECT * FROM agents").num_rows > 0
    joined = fetch(
        con,
        "WITH o AS (SELECT agent, count(*) AS n FROM events GROUP BY agent) "
        "SELECT count(*) AS k FROM o JOIN (SELECT DISTINCT agent FROM agents) USING (agent)",
    )
    assert joined.column("k")[0].as_py() > 0
    # our own statements (summary, trace, report) run on the same locked connection
    assert logs.summary(con).fetchall()


def test_views_read_exactly_the_files(sandbox, tmp_path):
    run, _ = sandbox
    batch = tmp_path / "batch"
    for i in range(4):
        shutil.copytree(run, batch / f"r{i}")
    con = connect(batch)
    plain = duckdb.connect()
    for table in ("events", "metrics", "agents"):
        files = sorted(str(p) for p in batch.glob(f"*/{table}.parquet"))
        sql = "SELECT sum(hash(COLUMNS(*)) % 1000003) FROM {}"
        direct = f"read_parquet({files!r}, union_by_name = true)"
        want = plain.execute(sql.format(direct)).fetchall()
        got = fetch(con, sql.format(table))
        assert [tuple(r.values()) for r in got.to_pylist()] == want


def test_log_file_positions_are_per_thread(tmp_path):
    # DuckDB's threads share one handle and read at an offset as seek() then read();
    # with one shared position, another thread's seek() between the two reads wrong bytes.
    path = tmp_path / "data.bin"
    data = os.urandom(1 << 20)
    path.write_bytes(data)
    handle = logs._ReadOnlyFile(str(path))
    errors = []

    def reader(seed: int) -> None:
        for i in range(2000):
            offset = (seed * 7919 + i * 104729) % (len(data) - 4096)
            handle.seek(offset)
            time.sleep(0)
            if handle.read(4096) != data[offset : offset + 4096]:
                errors.append(offset)

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    handle.close()
    assert errors == []


def test_log_files_refuse_everything_but_reading(sandbox):
    run, values = sandbox
    fs = logs.LogFiles([run / "events.parquet"])
    url = f"abmlogs://{run}/events.parquet"
    with fs.open(url, "rb") as f:
        assert f.read(4) == b"PAR1"
    for mode in ("wb", "ab", "r+b"):
        with pytest.raises(PermissionError):
            fs.open(url, mode)
    with pytest.raises(PermissionError):
        fs.open(f"abmlogs://{run}/metrics.parquet", "rb")
    with pytest.raises(PermissionError):
        fs.open(f"abmlogs://{values['secret']}", "rb")
    for call in (fs.rm, fs.mkdir, fs.touch, fs.ls, fs.rmdir):
        with pytest.raises(PermissionError):
            call(url)
    assert fs.glob(url) == [str(run / "events.parquet")]
    with pytest.raises(PermissionError):
        fs.glob(f"abmlogs://{run}/*")
    with pytest.raises(PermissionError):
        fs.mv(url, f"abmlogs://{run}/x")


# ------------------------------------------------------------------ time limit


def test_a_slow_query_stops_at_the_time_limit(sandbox):
    run, _ = sandbox
    con = connect(run, timeout=1)
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match="time limit of 1 s"):
        fetch(con, SLOW)
    assert time.monotonic() - started < OUTER_BOUND_S
    assert fetch(con, "SELECT 1 AS one").num_rows == 1  # the connection still answers


def test_duckdb_limit_applies_to_every_statement(sandbox):
    run, _ = sandbox
    con = connect(run, timeout=1)  # trace and report use con.execute directly
    started = time.monotonic()
    with pytest.raises(duckdb.InterruptException, match="maximum execution time"):
        con.execute(SLOW).fetchall()
    assert time.monotonic() - started < OUTER_BOUND_S


def test_the_timer_stops_a_query_by_itself(sandbox, monkeypatch):
    run, _ = sandbox
    con = connect(run, timeout=0)  # no DuckDB limit: only the timer's interrupt()
    assert con.execute("SELECT current_setting('max_execution_time')").fetchall() == [(0,)]
    monkeypatch.setattr(logs, "_time_limit", lambda con: 1.0)
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        fetch(con, SLOW)
    assert time.monotonic() - started < OUTER_BOUND_S


def test_cli_timeout_is_one_line(sandbox):
    run, _ = sandbox
    started = time.monotonic()
    res = runner.invoke(app, ["logs", str(run), "query", SLOW, "--timeout", "1"])
    assert time.monotonic() - started < OUTER_BOUND_S
    assert res.exit_code == EXIT_TIMEOUT
    line = _one_line_error(res)
    assert "time limit of 1 s" in line and "--timeout" in line


def test_default_time_limit():
    assert DEFAULT_TIMEOUT_S == LOG_TIMEOUT_S == 60
    import inspect

    assert inspect.signature(connect).parameters["timeout"].default == DEFAULT_TIMEOUT_S


def _interrupt_when_the_query_runs(to_this_thread: bool = False) -> threading.Thread:
    """Send SIGINT once a query worker started after this call runs.

    By default to the process (as a terminal's Ctrl-C; the kernel picks the
    thread); with ``to_this_thread`` to the kicking thread itself, which is
    what happens when the kernel hands the signal to a thread other than the
    main one.
    """
    before = {t.ident for t in threading.enumerate() if t.name == logs.WORKER_NAME}

    def kick() -> None:
        deadline = time.monotonic() + OUTER_BOUND_S
        while time.monotonic() < deadline:
            if any(
                t.name == logs.WORKER_NAME and t.ident not in before for t in threading.enumerate()
            ):
                time.sleep(0.5)
                if to_this_thread:
                    signal.pthread_kill(threading.get_ident(), signal.SIGINT)
                else:
                    os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=kick, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(60)
def test_ctrl_c_handed_to_another_thread_still_stops_the_query(sandbox):
    """The kernel may deliver a Ctrl-C to any thread; Python then only sets a flag that
    the main thread acts on when it runs. A waiter that slept through the whole query
    missed it (the full-suite flake of stop 22): the waiter wakes in short slices."""
    run, _ = sandbox
    con = connect(run, timeout=OUTER_BOUND_S * 10)
    kicker = _interrupt_when_the_query_runs(to_this_thread=True)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        fetch(con, SLOW)
    kicker.join()
    assert time.monotonic() - started < OUTER_BOUND_S
    assert fetch(con, "SELECT 1 AS one").num_rows == 1


@pytest.mark.timeout(60)
def test_ctrl_c_stops_a_query(sandbox):
    run, _ = sandbox
    con = connect(run, timeout=OUTER_BOUND_S * 10)
    _interrupt_when_the_query_runs()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        fetch(con, SLOW)
    assert time.monotonic() - started < OUTER_BOUND_S
    assert fetch(con, "SELECT 1 AS one").num_rows == 1


@pytest.mark.timeout(60)
def test_ctrl_c_in_the_cli_is_one_line(sandbox):
    run, _ = sandbox
    kicker = _interrupt_when_the_query_runs()
    res = runner.invoke(app, ["logs", str(run), "query", SLOW, "--timeout", "600"])
    kicker.join()
    assert res.exit_code == EXIT_INTERRUPTED
    assert _one_line_error(res) == "error: interrupted"


# ------------------------------------------------------------------ exports


def test_exports_are_written_by_the_tool(sandbox, base):
    run, values = sandbox
    before = _snapshot(run)
    out = Path(values["outside"]) / "orders.parquet"
    res = runner.invoke(
        app, ["logs", str(run), "query", "SELECT agent FROM events", "--parquet", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert pq.read_table(out).num_rows == pq.read_metadata(run / "events.parquet").num_rows
    out.unlink()
    res = runner.invoke(
        app, ["logs", str(run), "query", "SELECT 1", "--parquet", str(run / "metrics.parquet")]
    )
    assert res.exit_code == 2 and "is a log file" in _one_line_error(res)
    res = runner.invoke(
        app, ["logs", str(run), "query", "SELECT 1", "--parquet", str(base / "no" / "x.parquet")]
    )
    assert res.exit_code == 2 and "no folder" in _one_line_error(res)
    assert _snapshot(run) == before


# ------------------------------------------------------------------ bad logs


@pytest.fixture()
def broken(sandbox, tmp_path) -> Path:
    """A copy of a run whose manifest has no file sizes or checksums (as runs written before
    them), so damage reaches the Parquet-level checks below."""
    run, _ = sandbox
    copy = tmp_path / "broken"
    shutil.copytree(run, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest.pop("files", None)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


@pytest.mark.parametrize("name", ["metrics.parquet", "events.parquet", "agents.parquet"])
def test_bytes_flipped_inside_a_file_fail_its_checksum_at_connect(sandbox, tmp_path, name):
    run, _ = sandbox
    copy = tmp_path / "flipped"
    shutil.copytree(run, copy)
    path = copy / name
    size = path.stat().st_size
    _flip(path, size // 2)  # same size: only the checksum can tell
    assert path.stat().st_size == size
    with pytest.raises(ResultsError, match=rf"flipped/{name} checksum differs from the manifest"):
        connect(copy)
    res = runner.invoke(app, ["logs", str(copy), "query", "SELECT sum(value) FROM metrics"])
    assert res.exit_code == 2
    assert f"{name} checksum differs" in _one_line_error(res)


MANIFESTS = {
    "a list": ("[1, 2]", "expected a JSON object, got a list"),
    "a string": ('"run"', "expected a JSON object, got a string"),
    "a number": ("5", "expected a JSON object, got a number"),
    "null": ("null", "expected a JSON object, got null"),
    "not JSON": ("{not json", "not valid JSON"),
    "empty": ("", "not valid JSON"),
    "run_id a number": ('{"run_id": 5}', "run_id should be a string, got a number"),
    "seed a string": ('{"run_id": "r", "seed": "x"}', "seed should be an integer, got a string"),
    "seed true": ('{"run_id": "r", "seed": true}', "seed should be an integer"),
    "short edge": ('{"run_id": "r", "supply_edges": [["a", "b"]]}', "supply_edges should be"),
    "edges a dict": ('{"run_id": "r", "supply_edges": {}}', "supply_edges should be"),
    "rows a list": ('{"run_id": "r", "rows": [1]}', "rows should map"),
}


@pytest.mark.parametrize(("text", "message"), MANIFESTS.values(), ids=MANIFESTS.keys())
def test_malformed_manifest_is_one_line_naming_it(broken, text, message):
    (broken / "manifest.json").write_text(text)
    with pytest.raises(ResultsError, match=message):
        connect(broken)
    for args in (["summary"], ["trace", "Nvidia"], ["report"], ["query", "SELECT 1"]):
        res = runner.invoke(app, ["logs", str(broken), *args])
        assert res.exit_code == 2, (args, res.output)
        line = _one_line_error(res)
        assert str(broken / "manifest.json") in line and message in line


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    for k in range(8):
        data[offset + k] ^= 0xFF
    path.write_bytes(bytes(data))


def _column_chunk(path: Path, column: str):
    meta = pq.read_metadata(path).row_group(0)
    names = [meta.column(i).path_in_schema for i in range(meta.num_columns)]
    return meta.column(names.index(column))


def test_parquet_that_cannot_be_opened_is_named(sandbox, broken):
    sandbox_run, _ = sandbox
    (broken / "events.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(ResultsError, match=r"events\.parquet: not a readable Parquet file"):
        connect(broken)
    shutil.copy(sandbox_run / "events.parquet", broken / "events.parquet")
    data = (broken / "agents.parquet").read_bytes()
    (broken / "agents.parquet").write_bytes(data[: len(data) // 2])  # cut short
    res = runner.invoke(app, ["logs", str(broken), "summary"])
    assert res.exit_code == 2
    assert str(broken / "agents.parquet") in _one_line_error(res)


def test_parquet_with_other_rows_than_the_manifest_is_named(broken):
    table = pq.read_table(broken / "events.parquet")
    pq.write_table(table.slice(0, table.num_rows - 3), broken / "events.parquet")
    with pytest.raises(ResultsError, match=r"events\.parquet: \d+ rows, but manifest.json records"):
        connect(broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest.pop("rows")  # an older manifest without row counts is still read
    (broken / "manifest.json").write_text(json.dumps(manifest))
    assert connect(broken).execute("SELECT count(*) FROM events").fetchall()[0][0] > 0


@pytest.mark.parametrize(
    "where",
    ["dictionary page", "data page header"],
)
def test_corrupt_page_is_one_line_naming_the_file(broken, where):
    path = broken / "metrics.parquet"
    chunk = _column_chunk(path, "value")
    if where == "dictionary page":  # DuckDB's error names the file
        _flip(path, chunk.dictionary_page_offset + 30)
    else:  # DuckDB's error does not: every file is read to find it
        _flip(path, chunk.data_page_offset)
    con = connect(broken)  # footers are intact
    with pytest.raises(QueryFailed, match=rf"{path}: cannot be read"):
        fetch(con, "SELECT * FROM metrics")
    for args in (["query", "SELECT sum(value) FROM metrics"], ["report"]):
        res = runner.invoke(app, ["logs", str(broken), *args])
        assert res.exit_code == 2, (args, res.output)
        assert f"{path}: cannot be read" in _one_line_error(res)


def test_a_run_marked_as_being_written_is_not_read(sandbox, tmp_path):
    run, _ = sandbox
    copy = tmp_path / "writing"
    shutil.copytree(run, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["status"] = "writing"  # what a killed `abm run --overwrite` leaves
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ResultsError, match="manifest status is 'writing', not 'completed'"):
        connect(copy)
