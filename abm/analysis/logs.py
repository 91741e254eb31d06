"""Agent logs: open a run or a batch folder with DuckDB, summarise, query, trace.

A results folder is either one run (``manifest.json`` with ``metrics.parquet``,
``events.parquet``, ``agents.parquet``) or any folder holding such runs below
it (a batch). :func:`connect` checks each run (its manifest is a JSON object
whose fields have their documented types; each Parquet file has a readable
footer and the row count the manifest records) and opens an in-memory DuckDB
database with views ``events``, ``metrics``, ``agents`` over the Parquet files
and tables ``runs`` (one row per manifest) and ``edges`` (the supply graph).

**The SQL sandbox.** A query (:func:`fetch`, :func:`query`, ``abm logs OUT
query``) can read the three Parquet files of each run in the folder, and
nothing else; it can write nothing. The guard is DuckDB's own configuration,
which :func:`connect` sets once the views exist, and then locks:

- The Parquet files are reached only through :class:`LogFiles`, a file system
  registered with DuckDB as ``abmlogs://`` that serves exactly those files,
  for reading: opening one to write, listing, deleting or renaming fails.
- ``enable_external_access=false`` with ``allowed_paths`` set to those
  ``abmlogs://`` files and ``allowed_directories`` empty (DuckDB lets a query
  write into an allowed folder, and over an allowed file): every other path,
  glob, URL, ``COPY``/``EXPORT DATABASE``/``ATTACH`` target, ``INSTALL``/``LOAD``
  and persistent secret is refused, in a CTE or an ``EXPLAIN ANALYZE`` too.
- ``disabled_filesystems='LocalFileSystem'``: no local path at all, even one
  that would be allowed. So ``temp_directory=''``: nothing spills to disk, and a
  query that needs more than ``memory_limit`` fails.
- ``autoinstall_known_extensions=false``, ``autoload_known_extensions=false``,
  ``allow_community_extensions=false``, ``python_enable_replacements=false``.
- ``max_execution_time``: the time limit, below.
- ``lock_configuration=true``: no query can ``SET``, ``RESET`` or ``PRAGMA``
  any of these back.
- :func:`fetch` runs each query in a ``READ ONLY`` transaction: the views and
  tables cannot be replaced, dropped or changed, not even by a ``DELETE``,
  ``UPDATE`` or ``INSERT`` inside a CTE.
- An extra layer that nothing depends on: only one ``SELECT`` or ``EXPLAIN``
  statement is accepted. It sees statement types only, not what a CTE holds.

**Time limit.** Each statement on the connection stops after ``timeout``
seconds (:data:`DEFAULT_TIMEOUT_S` unless :func:`connect` is given another;
``abm logs OUT query --timeout SECONDS``; 0 means no limit). DuckDB's
``max_execution_time`` enforces it, and :func:`fetch` also calls
``interrupt()`` from a timer as a backstop. :func:`fetch` runs the query in a
worker thread, so Ctrl-C stops it as well. Results are fetched as Arrow; the
tool, not the sandbox, writes them to a file (``--parquet``, ``--csv``).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from abm.runs.outputs import verify_run

TABLES = ("metrics.parquet", "events.parquet", "agents.parquet")
READ_ONLY = {"SELECT", "EXPLAIN"}
DEFAULT_TIMEOUT_S = 60.0
"""Default time limit of one statement, in seconds."""
WORKER_NAME = "abm-logs-query"
WAIT_SLICE_S = 0.1
"""How often the thread waiting for a query wakes to act on Ctrl-C or the time limit, s."""
"""Name of the thread that runs a query in :func:`fetch`."""
PROTOCOL = "abmlogs"
"""URL scheme under which DuckDB reads the log files (see :class:`LogFiles`)."""
MANIFEST_FIELDS: dict[str, type] = {
    "run_id": str,
    "scenario": str,
    "seed": int,
    "status": str,
    "weeks_run": int,
    "start_date": str,
    "end_date": str,
    "scenario_hash": str,
    "git_commit": str,
}
"""Manifest fields read into ``runs`` and their types (a field may be absent or null)."""
RUNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("scenario", pa.string()),
        ("seed", pa.int64()),
        ("status", pa.string()),
        ("weeks_run", pa.int64()),
        ("start_date", pa.string()),
        ("end_date", pa.string()),
        ("scenario_hash", pa.string()),
        ("git_commit", pa.string()),
        ("path", pa.string()),
    ]
)
EDGES_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("supplier", pa.string()),
        ("buyer", pa.string()),
        ("kind", pa.string()),
    ]
)
USER_ERRORS = (
    duckdb.ParserException,
    duckdb.SyntaxException,
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.ConversionException,
    duckdb.OutOfRangeException,
    duckdb.TypeMismatchException,
    duckdb.NotImplementedException,
    duckdb.PermissionException,
    duckdb.TransactionException,
    duckdb.InterruptException,
    duckdb.OutOfMemoryException,
)
"""DuckDB errors that come from the query itself, never from an unreadable log file."""


class ResultsError(ValueError):
    """A results folder that cannot be read; the message says which file and why."""


class QueryRefused(ValueError):
    """A statement that is not one read-only statement, or that the sandbox refused."""


class QueryFailed(ValueError):
    """A query that DuckDB could not answer; the message is one line."""


class QueryTimeout(RuntimeError):
    """A query stopped at the time limit."""


def find_runs(out: str | Path) -> list[Path]:
    """Run folders under ``out`` (``out`` itself if it is one), sorted.

    Raises:
        ResultsError: when the folder is missing, holds no run, or a run
            misses a file or has a manifest that is not a valid run manifest.
    """
    return [run for run, _ in _load_runs(out)]


def _load_runs(out: str | Path) -> list[tuple[Path, dict[str, Any]]]:
    """Run folders under ``out`` with their checked manifests."""
    out = Path(out)
    if not out.exists():
        raise ResultsError(f"{out}: no such results folder")
    if not out.is_dir():
        raise ResultsError(f"{out}: not a folder (expected a run or batch output folder)")
    runs = sorted(
        m.parent
        for m in out.rglob("manifest.json")
        if not _is_batch_manifest(m)
        and not any(p.startswith(".") for p in m.parent.relative_to(out).parts)
    )
    if not runs:
        raise ResultsError(
            f"{out}: no run found (expected manifest.json with {', '.join(TABLES)}; "
            "run `abm run SCENARIO --out DIR` first)"
        )
    loaded = []
    for run in runs:
        for name in TABLES:
            if not (run / name).is_file():
                raise ResultsError(f"{run / name}: missing (the run folder is incomplete)")
        manifest = read_manifest(run / "manifest.json")
        # a manifest that records sizes and sha256 is checked against them (so is one whose
        # status says the run is incomplete); older manifests go to the row-count checks below
        recorded = manifest.get("files") or manifest.get("status") != "completed"
        problems = verify_run(run) if recorded else []
        if problems:
            raise ResultsError(  # problems name the file first: "events.parquet has ..."
                f"{run}/{problems[0]} (the run is damaged or incomplete: run it again, "
                "or `abm batch ... --resume` for a batch)"
            )
        loaded.append((run, manifest))
    return loaded


def select_runs(
    out: str | Path,
    loaded: list[tuple[Path, dict[str, Any]]],
    scenarios: Sequence[str] | None = None,
    runs: Sequence[str] | None = None,
) -> list[tuple[Path, dict[str, Any]]]:
    """The runs of ``loaded`` of the given scenarios and run ids (all when None).

    Raises:
        ResultsError: for a scenario or run id that matches no run (listing those there are).
    """
    kept = loaded
    if scenarios:
        known = sorted({str(m.get("scenario")) for _, m in loaded})
        missing = [s for s in scenarios if s not in known]
        if missing:
            raise ResultsError(
                f"{out}: no run of scenario {missing[0]!r} (scenarios: {', '.join(known)})"
            )
        kept = [(r, m) for r, m in kept if str(m.get("scenario")) in set(scenarios)]
    if runs:
        ids = [str(m.get("run_id")) for _, m in kept]
        missing = [r for r in runs if r not in ids]
        if missing:
            shown = ", ".join(ids[:8]) + (", ..." if len(ids) > 8 else "")
            raise ResultsError(f"{out}: no run {missing[0]!r} in the selection (runs: {shown})")
        kept = [(r, m) for r, m in kept if str(m.get("run_id")) in set(runs)]
    return kept


def read_manifest(path: Path) -> dict[str, Any]:
    """A run's manifest, checked: a JSON object whose fields have their documented types.

    Raises:
        ResultsError: naming the file and what is wrong with it.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise ResultsError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object, got {_json_kind(data)}")
    for key, kind in MANIFEST_FIELDS.items():
        value = data.get(key)
        if value is not None and not _is(value, kind):
            raise ResultsError(
                f"{path}: {key} should be {'an integer' if kind is int else 'a string'}, "
                f"got {_json_kind(value)}"
            )
    edges = data.get("supply_edges", [])
    if type(edges) is not list or not all(
        type(e) is list and len(e) == 3 and type(e[0]) is type(e[1]) is type(e[2]) is str
        for e in edges
    ):
        raise ResultsError(
            f"{path}: supply_edges should be a list of [supplier, buyer, kind] strings"
        )
    rows = data.get("rows", {})
    if not isinstance(rows, dict) or not all(_is(n, int) for n in rows.values()):
        raise ResultsError(f"{path}: rows should map each table file to its row count")
    return data


def _is(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def _json_kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, int | float) else "null"


def _is_batch_manifest(path: Path) -> bool:
    """True for the manifest of a batch folder (it lists runs; it is not a run)."""
    if (path.parent / "events.parquet").exists():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return False
    return isinstance(data, dict) and "spec_hash" in data and "runs" in data


def _unreadable_footer(loaded: Sequence[tuple[Path, dict[str, Any]]]) -> ResultsError | None:
    """The first Parquet file of the runs whose footer cannot be read, as an error."""
    for run, _ in loaded:
        for name in TABLES:
            try:
                pq.read_metadata(run / name)
            except (pa.ArrowException, OSError) as exc:
                return ResultsError(f"{run / name}: not a readable Parquet file ({exc})")
    return None


def _check_rows(
    con: duckdb.DuckDBPyConnection,
    loaded: Sequence[tuple[Path, dict[str, Any]]],
    urls: dict[str, list[str]],
) -> None:
    """Each Parquet file holds the rows its manifest records (where it records them).

    The manifest records no size or checksum yet, so bytes corrupted inside a
    data page that still decode go unnoticed.
    """
    listed = ", ".join(_literal(u) for name in TABLES for u in urls[name])
    counts = dict(
        con.execute(f"SELECT file_name, num_rows FROM parquet_file_metadata([{listed}])").fetchall()
    )
    for name in TABLES:
        for (run, manifest), url in zip(loaded, urls[name], strict=True):
            want = manifest.get("rows", {}).get(name)
            if want is not None and counts.get(url) != want:
                raise ResultsError(
                    f"{run / name}: {counts.get(url)} rows, but manifest.json records {want} "
                    "(the file was changed after the run)"
                )


def _runs_table(loaded: Sequence[tuple[Path, dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for run, m in loaded:
        row: dict[str, Any] = {key: m.get(key) for key in MANIFEST_FIELDS}
        row["path"] = str(run)
        rows.append(row)
    return rows


class LogFiles(AbstractFileSystem):
    """The log files of a results folder, read-only, as DuckDB sees them.

    Registered with DuckDB under ``abmlogs://`` (``abmlogs:///abs/run/events.parquet``).
    It serves the files it was given, for reading, and nothing else: any other
    path, any write mode, listing, deleting, renaming or making a folder
    raises :class:`PermissionError`, which DuckDB reports as the query's error.

    Args:
        files: Absolute paths of the files to serve.
    """

    protocol = PROTOCOL
    cachable = False
    root_marker = "/"

    def __init__(self, files: Sequence[Path]) -> None:
        super().__init__()
        self._files = frozenset(str(f) for f in files)

    @staticmethod
    def url(path: Path) -> str:
        """The ``abmlogs://`` URL of an absolute path."""
        return f"{PROTOCOL}://{path}"

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return "/" + str(path).removeprefix(f"{PROTOCOL}://").lstrip("/")

    def _served(self, path: Any) -> str:
        local = self._strip_protocol(path)
        if local not in self._files:
            raise PermissionError(f"{local}: not a log file of this results folder")
        return local

    def open(self, path: Any, mode: str = "rb", **kwargs: Any) -> Any:
        """A served file, for reading (``rb``) only; DuckDB opens files many times a query."""
        if mode != "rb":
            raise PermissionError(f"{self._strip_protocol(path)}: the logs are read-only")
        return _ReadOnlyFile(self._served(path))

    _open = open

    def info(self, path: Any, **kwargs: Any) -> dict[str, Any]:
        """Name, size and type of a served file."""
        local = self._served(path)
        return {"name": local, "size": os.stat(local).st_size, "type": "file"}

    def size(self, path: Any) -> int:
        """Size of a served file in bytes."""
        return os.stat(self._served(path)).st_size

    def modified(self, path: Any) -> datetime:
        """Modification time of a served file."""
        return datetime.fromtimestamp(os.stat(self._served(path)).st_mtime, tz=UTC)

    def glob(self, path: Any, **kwargs: Any) -> list[str]:
        """A served file itself; any pattern is refused (the logs cannot be listed)."""
        return [self._served(path)]

    def ls(self, path: Any, detail: bool = True, **kwargs: Any) -> Any:
        """Refused: the log files cannot be listed."""
        raise PermissionError(f"{self._strip_protocol(path)}: the logs cannot be listed")

    def _refuse(self, path: Any = "", *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(f"{self._strip_protocol(path)}: the logs are read-only")

    rm = rm_file = _rm = rmdir = mkdir = makedirs = touch = _refuse
    mv = cp_file = copy = pipe_file = put_file = _refuse


class _ReadOnlyFile:
    """A file open for reading whose position is kept per thread.

    DuckDB's threads share one handle per file and read at an offset as two
    calls, ``seek`` then ``read``; with one shared position another thread's
    ``seek`` can come between them and the read returns the wrong bytes. Here
    each thread has its own position and reads with ``os.pread``.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = None  # opened at the first read: DuckDB opens many handles
        self._lock = threading.Lock()  # only to open the file once
        self._at = threading.local()
        self.closed = False

    def _descriptor(self) -> int:
        if self._fd is None:
            with self._lock:
                if self.closed:
                    raise ValueError(f"{self._path}: read of a closed file")
                if self._fd is None:
                    self._fd = os.open(self._path, os.O_RDONLY)
        return self._fd

    def _position(self) -> int:
        return getattr(self._at, "offset", 0)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move this thread's position."""
        if whence == os.SEEK_END:
            offset += os.fstat(self._descriptor()).st_size
        elif whence == os.SEEK_CUR:
            offset += self._position()
        self._at.offset = offset
        return offset

    def tell(self) -> int:
        """This thread's position."""
        return self._position()

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all to the end if negative) from this thread's position."""
        fd = self._descriptor()
        offset = self._position()
        want = os.fstat(fd).st_size - offset if size is None or size < 0 else size
        chunks = []
        while want > 0:
            chunk = os.pread(fd, want, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
            want -= len(chunk)
        self._at.offset = offset
        return b"".join(chunks)

    def readable(self) -> bool:
        """True."""
        return True

    def writable(self) -> bool:
        """False: the logs are read-only."""
        return False

    def seekable(self) -> bool:
        """True."""
        return True

    def write(self, data: bytes) -> int:
        """Refused."""
        raise PermissionError("the logs are read-only")

    def flush(self) -> None:
        """Nothing to flush."""

    def close(self) -> None:
        """Close the file (once)."""
        with self._lock:
            self.closed = True
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        # DuckDB drops its handle without always calling close(), as a Python file
        # object would be closed when freed; without this every query leaks descriptors.
        self.close()

    def __enter__(self) -> _ReadOnlyFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(
    out: str | Path,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    scenarios: Sequence[str] | None = None,
    runs: Sequence[str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory, sandboxed DuckDB connection over the logs of the run(s) in ``out``.

    Views ``events``, ``metrics``, ``agents`` and tables ``runs``, ``edges``; the
    sandbox (see the module docstring) lets statements read those and nothing
    else, and stops each statement after ``timeout`` seconds.

    Args:
        out: A run folder or a folder of runs (a batch).
        timeout: Time limit of each statement in seconds; ``None`` or 0 for none.
        scenarios: Keep only the runs of these scenarios (names as in the runs' manifests).
        runs: Keep only these run ids.

    Raises:
        ResultsError: when the folder, a manifest or a Parquet file cannot be read,
            or when the selection keeps no run (naming what there is).
    """
    loaded = select_runs(out, _load_runs(out), scenarios, runs)
    files = {name: [Path(os.path.abspath(run / name)) for run, _ in loaded] for name in TABLES}
    urls = {name: [LogFiles.url(f) for f in files[name]] for name in TABLES}
    served = [f for name in TABLES for f in files[name]]
    con = duckdb.connect(":memory:")
    con.execute("SET parquet_metadata_cache = true").fetchall()  # footers read once
    con.register_filesystem(LogFiles(served))
    for name in TABLES:
        view = name.removesuffix(".parquet")
        listed = ", ".join(_literal(u) for u in urls[name])
        try:
            con.execute(
                f"CREATE VIEW {view} AS SELECT * FROM read_parquet([{listed}], "
                "union_by_name = true)"
            ).fetchall()
            con.execute(f"SELECT * FROM {view} LIMIT 0").fetchall()
        except duckdb.Error as exc:
            named = _unreadable_footer(loaded)
            if named is not None:
                raise named from None
            raise ResultsError(f"{out}: cannot read {name} ({_one_line(exc)})") from None
    _check_rows(con, loaded, urls)
    rows = _runs_table(loaded)
    edges = [
        {"run_id": row["run_id"], "supplier": a, "buyer": b, "kind": k}
        for (_, m), row in zip(loaded, rows, strict=True)
        for a, b, k in m.get("supply_edges", [])
    ]
    con.register("runs_arrow", pa.Table.from_pylist(rows, schema=RUNS_SCHEMA))
    con.register("edges_arrow", pa.Table.from_pylist(edges, schema=EDGES_SCHEMA))
    con.execute("CREATE TABLE runs AS SELECT * FROM runs_arrow").fetchall()
    con.execute("CREATE TABLE edges AS SELECT * FROM edges_arrow").fetchall()
    con.unregister("runs_arrow")
    con.unregister("edges_arrow")
    _lock(con, [LogFiles.url(f) for f in served], timeout)
    return con


def _lock(con: duckdb.DuckDBPyConnection, urls: Sequence[str], timeout: float | None) -> None:
    """Turn the sandbox on (see the module docstring); the order matters."""
    limit_ms = round(timeout * 1000) if timeout else 0
    for setting in (
        "temp_directory = ''",  # no spilling; must precede the file-system lock
        f"allowed_paths = [{', '.join(_literal(u) for u in urls)}]",
        "allowed_directories = []",
        "autoinstall_known_extensions = false",
        "autoload_known_extensions = false",
        "allow_community_extensions = false",
        "python_enable_replacements = false",
        f"max_execution_time = {limit_ms}",
        "enable_external_access = false",
        "disabled_filesystems = 'LocalFileSystem'",  # only after external access is off
        "lock_configuration = true",
    ):
        con.execute(f"SET {setting}").fetchall()


def check(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """The extra layer: ``sql`` is one ``SELECT``/``WITH``/``DESCRIBE``/``EXPLAIN`` statement.

    Raises:
        QueryRefused: for anything else, or SQL that does not parse.
    """
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"cannot parse the query: {_one_line(exc)}") from None
    if len(statements) != 1:
        raise QueryRefused(f"expected one statement, got {len(statements)}")
    kind = str(statements[0].type).removeprefix("StatementType.")
    if kind not in READ_ONLY:
        raise QueryRefused(f"{kind} statements are refused: queries over logs are read-only")


def fetch(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """Run one read-only statement over the views, within the time limit, as an Arrow table.

    The statement runs in a worker thread, in a ``READ ONLY`` transaction on its
    own cursor; the calling thread waits up to the connection's time limit, then
    interrupts it. Ctrl-C (``KeyboardInterrupt``) interrupts it too, and is re-raised.

    Raises:
        QueryRefused: when the statement is not one read-only statement, or the
            sandbox refused what it does (a file, a write, a setting...).
        QueryTimeout: when it ran past the time limit.
        QueryFailed: when DuckDB could not answer it (naming an unreadable log file).
    """
    check(con, sql)
    limit_s = _time_limit(con)
    cursor = con.cursor()
    box: dict[str, Any] = {}
    done = threading.Event()  # not Thread.is_alive(): wrong after a join() cut by Ctrl-C

    def work() -> None:
        try:
            cursor.execute("BEGIN TRANSACTION READ ONLY")
            relation = cursor.sql(sql)
            box["table"] = relation.to_arrow_table() if relation is not None else pa.table({})
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc
        finally:
            with contextlib.suppress(duckdb.Error):
                cursor.execute("ROLLBACK")
            done.set()

    worker = threading.Thread(target=work, name=WORKER_NAME, daemon=True)
    stopped = False
    try:
        worker.start()
        deadline = time.monotonic() + limit_s if limit_s else None
        # wait in short slices: a Ctrl-C that the kernel hands to another thread only
        # sets Python's flag, which this thread acts on when it next runs (a single long
        # wait would sleep through it until the query ended)
        while not done.wait(WAIT_SLICE_S):
            if deadline is not None and time.monotonic() >= deadline:
                stopped = True
                _stop(cursor, worker, done)
                break
    except KeyboardInterrupt:
        _stop(cursor, worker, done)
        raise
    finally:
        if done.is_set():  # else a second Ctrl-C cut _stop: leave the busy cursor be
            cursor.close()
    error = box.get("error")
    if error is None:
        return box["table"]
    if isinstance(error, duckdb.InterruptException) and (
        stopped or "maximum execution time" in str(error)
    ):
        raise QueryTimeout(
            f"query stopped: it ran longer than the time limit of {limit_s:g} s"
        ) from None
    if isinstance(error, duckdb.Error):
        runs = [Path(row[0]) for row in con.execute("SELECT path FROM runs").fetchall()]
        raise describe_error(error, runs) from None
    raise error


def _stop(
    cursor: duckdb.DuckDBPyConnection, worker: threading.Thread, done: threading.Event
) -> None:
    """Interrupt the worker's statement until the worker is done with the cursor.

    An interrupt that comes before the statement starts is lost, hence the loop.
    """
    while worker.ident is not None and not done.is_set():
        cursor.interrupt()
        done.wait(0.05)


def _time_limit(con: duckdb.DuckDBPyConnection) -> float:
    """The connection's time limit in seconds (0: none)."""
    ms = con.execute("SELECT current_setting('max_execution_time')").fetchall()[0][0]
    return int(ms) / 1000


def query(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation:
    """:func:`fetch` as a DuckDB relation (answered already, within the time limit).

    Raises:
        QueryRefused, QueryTimeout, QueryFailed: as :func:`fetch`.
    """
    return con.from_arrow(fetch(con, sql))


def describe_error(error: duckdb.Error, runs: Sequence[Path]) -> QueryRefused | QueryFailed:
    """A :class:`QueryRefused` or :class:`QueryFailed` with a one-line message for ``error``.

    A query refused by the sandbox says so. Otherwise, unless the error is
    the query's own fault (syntax, names, types), the log files of ``runs``
    are read in full to find one that cannot be read and name it.
    """
    text = _one_line(error)
    if (
        isinstance(error, duckdb.PermissionException | duckdb.TransactionException)
        or "the configuration has been locked" in text  # lock_configuration
        or text.startswith("PermissionError: ")  # LogFiles
    ):
        return QueryRefused(
            f"refused: {text} (a query may only read the logs of the results folder)"
        )
    files = [Path(os.path.abspath(run / name)) for name in TABLES for run in runs]
    named = next((f for f in files if str(f) in text), None)
    if named is not None:
        return QueryFailed(f"{named}: cannot be read ({text})")
    if not isinstance(error, USER_ERRORS):
        bad = unreadable_file(files)
        if bad is not None:
            return QueryFailed(bad)
    return QueryFailed(f"query failed: {text}")


def unreadable_file(files: Sequence[Path]) -> str | None:
    """``"<file>: cannot be read (<why>)"`` for the first Parquet file that fails to decode.

    Reads every column of every file (our own fixed statement, outside the
    sandbox); ``None`` when all of them read.
    """
    probe = duckdb.connect(":memory:")
    try:
        for path in files:
            try:
                probe.execute(
                    "SELECT count(*) FROM read_parquet(?) WHERE hash(COLUMNS(*)) IS NOT NULL",
                    [str(path)],
                ).fetchall()
            except duckdb.Error as exc:
                return f"{path}: cannot be read ({_one_line(exc)})"
    finally:
        probe.close()
    return None


def _one_line(error: BaseException) -> str:
    """The gist of an error in one line (a Python traceback inside it: its last line)."""
    text = str(error).replace(f"{PROTOCOL}://", "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    if lines[0].startswith("Traceback (most recent call last)"):
        return lines[-1]
    return lines[0]


def summary_sql(by: str = "family", per_scenario: bool = False) -> str:
    """The statement behind :func:`summary`.

    Rows are ordered completely (ties in ``events`` by event name), so two
    calls print the same table. With ``per_scenario`` the first column is the
    scenario and nothing is pooled across scenarios.
    """
    if by not in ("agent", "family", "region"):
        raise ValueError("by must be agent, family or region")
    if per_scenario:
        return (
            f"SELECT r.scenario, e.{by}, e.event, count(*) AS events, "
            f"sum(e.quantity) AS quantity, count(DISTINCT e.run_id) AS runs "
            f"FROM events AS e JOIN runs AS r USING (run_id) "
            f"GROUP BY r.scenario, e.{by}, e.event ORDER BY r.scenario, e.{by}, events DESC, "
            f"e.event"
        )
    return (
        f"SELECT {by}, event, count(*) AS events, sum(quantity) AS quantity, "
        f"count(DISTINCT run_id) AS runs FROM events GROUP BY {by}, event "
        f"ORDER BY {by}, events DESC, event"
    )


def scenario_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The scenarios of the connection's runs, sorted."""
    rows = con.execute("SELECT DISTINCT scenario FROM runs ORDER BY 1").fetchall()
    return [str(r[0]) for r in rows]


def summary(
    con: duckdb.DuckDBPyConnection, by: str = "family", per_scenario: bool | None = None
) -> duckdb.DuckDBPyRelation:
    """Counts and volumes by event type, per ``agent``, ``family`` or ``region``.

    Volumes are summed ``quantity`` (units for orders, shipments, deliveries,
    denials; H100e or USD where the event says so — see ``EVENT_TYPES``).
    ``per_scenario`` (default: when the runs hold several scenarios) adds the
    scenario as the first column, so scenarios are never pooled silently.
    """
    if per_scenario is None:
        per_scenario = len(scenario_names(con)) > 1
    return con.sql(summary_sql(by, per_scenario))


# ------------------------------------------------------------------ trace


@dataclass(frozen=True)
class Link:
    """One hop of a shortage explanation.

    Attributes:
        date: When it happened (or the week looked at).
        agent: Who it is about.
        what: What happened, in a few words.
        quantity: The quantity involved (units, H100e or share; see ``what``).
        detail: Further detail (asked/given, binding constraint, rule id...).
        depth: Hops from the agent being traced.
    """

    date: date
    agent: str
    what: str
    quantity: float
    detail: str
    depth: int


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> Any:
    rows = con.execute(sql, params).fetchall()  # fetch all: no unfinished result left behind
    return rows[0] if rows else None


def trace(
    con: duckdb.DuckDBPyConnection,
    agent: str,
    at: date | None = None,
    run_id: str | None = None,
    window_weeks: int = 26,
) -> list[Link]:
    """Explain why ``agent`` was short, hop by hop up the supply chain.

    From the agent's shortage at ``at`` (default: the week it was most
    short) the walk follows where its compute should have come from: a
    renting lab or an enterprise to its region's rental market and the
    clouds in it; a buyer of GPUs to the orders it placed in the preceding
    ``window_weeks``, what each vendor allocated or refused and why (the
    binding constraint or the control rule); a vendor to the supplier of its
    binding constraint (packaging, HBM or wafers) and that supplier's
    capacity, shocks and backlog.

    Returns:
        The chain of links, the traced agent first.

    Raises:
        ResultsError: when the agent or run is unknown.
    """
    run_id = run_id or _one(con, "SELECT min(run_id) FROM runs", [])[0]
    who = _one(
        con,
        "SELECT family, region FROM agents WHERE run_id = ? AND agent = ? LIMIT 1",
        [run_id, agent],
    )
    if who is None:
        raise ResultsError(f"no agent named {agent!r} in run {run_id!r}")
    family, region = who
    if at is None:
        row = _one(
            con,
            "SELECT date FROM agents WHERE run_id = ? AND agent = ? "
            "ORDER BY shortage_ratio DESC NULLS LAST, step LIMIT 1",
            [run_id, agent],
        )
        at = row[0]
    else:
        row = _one(
            con,
            "SELECT max(date) FROM agents WHERE run_id = ? AND agent = ? AND date <= ?",
            [run_id, agent, at],
        )
        at = row[0] or at
    links: list[Link] = []
    state = _one(
        con,
        "SELECT shortage_ratio, demand_h100e, compute_h100e, rented_h100e FROM agents "
        "WHERE run_id = ? AND agent = ? AND date = ?",
        [run_id, agent, at],
    )
    shortage, demand, compute, rented = state or (None, None, None, None)
    links.append(
        Link(
            at,
            agent,
            f"{family} in {region} short",
            shortage or 0.0,
            _describe_need(demand, compute, rented),
            0,
        )
    )
    since = at - timedelta(weeks=window_weeks)
    if family in ("lab", "enterprise"):
        _trace_rental(con, run_id, region, at, since, links)
    if family in ("cloud", "lab", "broker"):
        _trace_orders(con, run_id, agent, at, since, links, depth=1)
    if family == "vendor":
        _trace_vendor(con, run_id, agent, at, since, links, depth=1)
    if family in ("foundry", "packager", "memory"):
        _trace_supplier(con, run_id, agent, at, since, links, depth=1)
    return links


def _describe_need(demand: Any, compute: Any, rented: Any) -> str:
    parts = []
    if demand is not None:
        parts.append(f"wanted {demand:,.0f} H100e")
    if compute is not None:
        parts.append(f"owns/served {compute:,.0f} H100e")
    if rented:
        parts.append(f"rented {rented:,.0f} H100e")
    return "; ".join(parts)


def _trace_rental(con, run_id, region, at, since, links) -> None:
    row = _one(
        con,
        "SELECT value FROM metrics WHERE run_id = ? AND name = 'rental_utilisation' "
        "AND scope = ? AND date = ?",
        [run_id, region, at],
    )
    price = _one(
        con,
        "SELECT value FROM metrics WHERE run_id = ? AND name = 'rental_price_usd_per_gpu_hour' "
        "AND scope = ? AND date = ?",
        [run_id, region, at],
    )
    links.append(
        Link(
            at,
            f"{region} rental market",
            "cloud capacity rented out",
            row[0] if row else 0.0,
            f"price {price[0]:.2f} USD/H100e-hour" if price else "",
            1,
        )
    )
    clouds = con.execute(
        "SELECT agent, compute_h100e, shortage_ratio FROM agents WHERE run_id = ? "
        "AND family = 'cloud' AND region = ? AND date = ? ORDER BY compute_h100e DESC",
        [run_id, region, at],
    ).fetchall()
    for cloud, compute, _ in clouds[:3]:
        links.append(Link(at, cloud, "cloud fleet", compute or 0.0, "H100e installed", 2))
        _trace_orders(con, run_id, cloud, at, since, links, depth=3, limit=2)


def _trace_orders(con, run_id, buyer, at, since, links, depth, limit=3) -> None:
    rows = con.execute(
        "SELECT counterparty, sum(quantity) FROM events WHERE run_id = ? AND agent = ? "
        "AND event = 'order' AND date BETWEEN ? AND ? GROUP BY counterparty "
        "ORDER BY 2 DESC",
        [run_id, buyer, since, at],
    ).fetchall()
    for vendor, ordered in rows[:limit]:
        got = _one(
            con,
            "SELECT coalesce(sum(quantity), 0) FROM events WHERE run_id = ? AND agent = ? "
            "AND event = 'shipment' AND counterparty = ? AND date BETWEEN ? AND ?",
            [run_id, vendor, buyer, since, at],
        )[0]
        links.append(
            Link(
                at,
                buyer,
                f"ordered from {vendor}",
                ordered,
                f"shipped {got:,.0f} units in the same {((at - since).days // 7)} weeks",
                depth,
            )
        )
        denials = con.execute(
            "SELECT rule, sum(quantity), min(date) FROM events WHERE run_id = ? AND agent = ? "
            "AND event = 'denial' AND counterparty = ? AND date BETWEEN ? AND ? GROUP BY rule",
            [run_id, vendor, buyer, since, at],
        ).fetchall()
        for rule, units, first in denials:
            links.append(Link(first, vendor, "denied by control rule", units, rule, depth + 1))
        short = _one(
            con,
            "SELECT detail, date FROM events WHERE run_id = ? AND agent = ? "
            "AND event = 'allocation' AND detail NOT LIKE '%binding: none' AND counterparty = ? "
            "AND date BETWEEN ? AND ? "
            "ORDER BY date DESC LIMIT 1",
            [run_id, vendor, buyer, since, at],
        )
        if short:
            links.append(
                Link(short[1], vendor, "allocated less than asked", 0.0, short[0], depth + 1)
            )
            _trace_vendor(con, run_id, vendor, at, since, links, depth + 2, binding=short[0])


BINDING_EDGE = {"packaging": "packaging", "hbm": "hbm", "wafer": "wafers"}
"""Supply-graph edge kind that feeds each binding constraint."""


def _trace_vendor(con, run_id, vendor, at, since, links, depth, binding: str | None = None):
    if binding is None:
        row = _one(
            con,
            "SELECT detail FROM events WHERE run_id = ? AND agent = ? AND "
            "event = 'allocation' AND detail NOT LIKE '%binding: none' AND date BETWEEN ? AND ? "
            "ORDER BY date DESC LIMIT 1",
            [run_id, vendor, since, at],
        )
        binding = row[0] if row else ""
    lead = _one(
        con,
        "SELECT value FROM metrics WHERE run_id = ? AND name = 'lead_time_weeks' "
        "AND scope = ? AND date = ?",
        [run_id, vendor, at],
    )
    constraint = binding.rsplit("binding: ", 1)[-1] if "binding: " in binding else "demand"
    # "hbm (SK Hynix)": the input and the firm (or rule) behind it
    constraint, _, firm = constraint.partition(" (")
    firm = firm.rstrip(")")
    links.append(
        Link(
            at,
            vendor,
            f"binding constraint: {constraint}" + (f" ({firm})" if firm else ""),
            lead[0] if lead else 0.0,
            "quoted lead time, weeks",
            depth,
        )
    )
    kind = BINDING_EDGE.get(constraint)
    if kind is None:
        return
    names = [
        r[0]
        for r in con.execute(
            "SELECT supplier FROM edges WHERE run_id = ? AND buyer = ? AND kind = ? "
            "ORDER BY supplier",
            [run_id, vendor, kind],
        ).fetchall()
    ]
    if firm in names:  # the vendor named the supplier that binds
        names = [firm]
    for name in names:
        _trace_supplier(con, run_id, name, at, since, links, depth + 1)


def _trace_supplier(con, run_id, supplier, at, since, links, depth) -> None:
    row = _one(
        con,
        "SELECT capacity, backlog, shortage_ratio FROM agents WHERE run_id = ? AND agent = ? "
        "AND date = ?",
        [run_id, supplier, at],
    )
    if row is None:
        return
    capacity, backlog, shortage = row
    links.append(
        Link(
            at,
            supplier,
            "supplier short of capacity",
            shortage or 0.0,
            f"capacity {capacity:,.0f}/week, backlog {backlog:,.0f}",
            depth,
        )
    )
    shocks = con.execute(
        "SELECT date, quantity, detail FROM events WHERE run_id = ? AND agent = ? AND "
        "event = 'capacity_shock' AND date <= ? ORDER BY date DESC LIMIT 1",
        [run_id, supplier, at],
    ).fetchall()
    for when, factor, detail in shocks:
        links.append(Link(when, supplier, "capacity shock", factor, detail, depth + 1))


def format_trace(links: Sequence[Link]) -> str:
    """The chain as indented lines of text."""
    out = []
    for link in links:
        pad = "  " * link.depth
        q = f"{link.quantity:,.2f}" if abs(link.quantity) < 10 else f"{link.quantity:,.0f}"
        out.append(f"{pad}{link.date}  {link.agent}: {link.what} [{q}]  {link.detail}".rstrip())
    return "\n".join(out)
