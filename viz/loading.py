"""Scenario files typed into the page: allowed folders, a size bound and a time limit.

The page's YAML-path field is answered with the server's rights, so a file
named there is only read when it is an allowed scenario file:

* its real path (symlinks followed) lies under an allowed folder: the
  library (:data:`abm.scenario.SCENARIO_DIR`) and the folders named by
  ``abm ui --scenario-dir DIR`` (repeatable; default: the current
  directory), which :func:`viz.server.serve` passes to the page in the
  environment variable :data:`SCENARIO_DIRS_ENV` (folders joined with
  ``os.pathsep``; unset means the current directory);
* it is a regular file named ``*.yaml`` / ``*.yml`` of at most
  :data:`MAX_BYTES`.

Anything else gets one generic message (:func:`refusal`) that neither says
whether the path exists nor shows any of its content. The same checks apply
to every file the scenario pulls in (``extends``, ``calibration``).

An allowed file is loaded, validated and tried (the model built and one week
stepped) in a separate worker process that is killed after
:func:`load_timeout` seconds (:data:`LOAD_TIMEOUT_ENV`, default
:data:`DEFAULT_TIMEOUT`) and may not grow by more than :data:`MEMORY_LIMIT`
bytes, so a slow or hostile file cannot stall the server or the other tabs.
The worker returns the validated :class:`~abm.scenario.Scenario` objects; the
session builds its own model from them.
"""

from __future__ import annotations

import multiprocessing
import os
import stat
import threading
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from abm.scenario import SCENARIO_DIR, Scenario, ScenarioError

SCENARIO_DIRS_ENV = "ABM_UI_SCENARIO_DIRS"
"""Folders (``os.pathsep``-separated) the page may read scenario files from, and the library."""
LOAD_TIMEOUT_ENV = "ABM_UI_LOAD_TIMEOUT"
"""Seconds a scenario file may take to load, validate and start (default: 10)."""
DEFAULT_TIMEOUT = 10.0
MAX_BYTES = 1_000_000
"""Largest scenario file the page reads (the library's largest file is ~64 kB)."""
MEMORY_LIMIT = 1 << 30
"""Bytes of address space a load worker may add to what it starts with."""
MAX_MESSAGE = 300
"""Longest message shown in the page (characters)."""
MAX_CONCURRENT_LOADS = 2
SUFFIXES = (".yaml", ".yml")

_LOADS = threading.BoundedSemaphore(MAX_CONCURRENT_LOADS)


class Refused(ScenarioError):
    """A path that is not an allowed scenario file (the message says nothing about it)."""


@dataclass(frozen=True)
class Loaded:
    """What a load worker returns for a run config.

    Attributes:
        plain: The scenario as written (what the levers show).
        spec: The scenario with the levers applied (what the run uses).
        moved: The moved levers in words.
        files: The files read, as the loader named them (all allowed).
    """

    plain: Scenario
    spec: Scenario
    moved: list[str] = field(default_factory=list)
    files: tuple[str, ...] = ()


def allowed_dirs() -> tuple[Path, ...]:
    """The folders scenario files may come from: the library, then :data:`SCENARIO_DIRS_ENV`."""
    raw = os.environ.get(SCENARIO_DIRS_ENV)
    named = [d for d in raw.split(os.pathsep) if d] if raw is not None else [os.getcwd()]
    out: list[Path] = []
    for d in [str(SCENARIO_DIR), *named]:
        real = Path(os.path.realpath(d))
        if real not in out:
            out.append(real)
    return tuple(out)


def load_timeout() -> float:
    """Seconds a load may take (:data:`LOAD_TIMEOUT_ENV`, default :data:`DEFAULT_TIMEOUT`)."""
    try:
        value = float(os.environ.get(LOAD_TIMEOUT_ENV, DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if 0 < value < 3600 else DEFAULT_TIMEOUT


def refusal(dirs: tuple[Path, ...] | None = None) -> str:
    """The one message for every path that is not an allowed scenario file."""
    shown = ", ".join(str(d) for d in (dirs or allowed_dirs()))
    return "not an allowed scenario file: choose a library scenario or a .yaml file under " + shown


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _inside(path: str | Path, dirs: tuple[Path, ...]) -> bool:
    try:
        real = Path(os.path.realpath(path))
    except (OSError, ValueError):
        return False
    return any(real == d or real.is_relative_to(d) for d in dirs)


def check_file(
    path: str | Path, dirs: tuple[Path, ...] | None = None, max_bytes: int = MAX_BYTES
) -> Path:
    """The real path of an allowed scenario file.

    Args:
        path: The path as the user typed it (relative to the server's directory).
        dirs: The allowed folders (default: :func:`allowed_dirs`).
        max_bytes: The largest file accepted.

    Returns:
        The resolved path (symlinks followed).

    Raises:
        Refused: With the generic :func:`refusal`, whatever the reason.
    """
    dirs = dirs or allowed_dirs()
    text = str(path)
    refused = Refused(refusal(dirs))
    if not text.strip() or "\x00" in text or not text.endswith(SUFFIXES):
        raise refused
    try:
        real = Path(os.path.realpath(text))
    except (OSError, ValueError):
        raise refused from None
    if real.suffix not in SUFFIXES or not _inside(real, dirs):
        raise refused
    try:
        st = os.stat(real)
    except (OSError, ValueError):
        raise refused from None
    if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
        raise refused
    return real


# ------------------------------------------------------------------ the worker


def _linked(path: Path, data: dict[str, Any]) -> list[Path]:
    """Files a scenario file's ``extends`` and ``calibration`` make the loader look for.

    The loader takes ``extends: name`` from the file's folder when
    ``name.yaml`` exists there, else from the library; the library path only
    counts when the first is absent (the first is checked to be allowed before
    anyone asks whether it exists).
    """
    out = []
    parent, cal = data.get("extends"), data.get("calibration")
    if isinstance(parent, str):
        near = path.parent / f"{parent}.yaml"
        out.append(near)
        if not near.exists():
            out.append(SCENARIO_DIR / f"{parent}.yaml")
    if isinstance(cal, str):
        out.append(path.parent / cal)
    return out


def _guard_reads(dirs: tuple[Path, ...], max_bytes: int, files: list[str]) -> None:
    """Make the loader (in this worker process only) read allowed files only.

    Every file it reads is checked first, and the files it would read next
    (``extends``, ``calibration``) are checked before it looks for them, so
    it never tells whether a file outside the allowed folders exists.
    """
    from abm.scenario import loader

    original = loader.read_yaml

    def guarded(path: Path) -> dict[str, Any]:
        check_file(path, dirs, max_bytes)
        files.append(str(path))
        data = original(path)
        for target in _linked(Path(path), data):  # in order: stop before probing outside
            if not _inside(target, dirs):
                raise Refused(refusal(dirs))
        return data

    loader.read_yaml = guarded


def _limit_memory(extra: int) -> None:
    try:
        import resource

        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (size + extra, size + extra))
    except (ImportError, OSError, ValueError):  # pragma: no cover - not Linux
        pass


def _prepare(
    source: str, levers: dict[str, float | None] | None, weeks: int | None, seed: int
) -> tuple[Scenario, Scenario, list[str]]:
    """Load and validate a scenario, apply the levers and try its first week."""
    from abm.engine.model import SupplyChainModel
    from abm.scenario import load_scenario
    from viz.levers import describe_levers, lever_overrides
    from viz.recorder import Recorder

    plain = load_scenario(source)
    overrides = lever_overrides(plain, levers) if levers else {}
    spec = load_scenario(source, overrides) if overrides else plain
    if weeks is not None:
        spec = spec.model_copy(update={"weeks": int(weeks)})
    moved = describe_levers(plain, levers) if levers else []
    try:
        model = SupplyChainModel(spec, seed=seed)
        rec = Recorder(model)
        model.step()
        rec.record()
    except Exception as exc:  # a file that validates but cannot run
        raise ScenarioError(
            f"{source}: the run cannot start ({type(exc).__name__}: {exc})"
        ) from None
    return plain, spec, moved


def _worker(
    conn: Connection,
    source: str,
    levers: dict[str, float | None] | None,
    weeks: int | None,
    seed: int,
    dirs: tuple[Path, ...],
    max_bytes: int,
    memory: int,
) -> None:
    """The load worker's body: send ``("ok", Loaded)`` or ``("error", message, files)``."""
    files: list[str] = []
    try:
        _limit_memory(memory)
        _guard_reads(dirs, max_bytes, files)
        plain, spec, moved = _prepare(source, levers, weeks, seed)
        result: tuple[Any, ...] = ("ok", Loaded(plain, spec, moved, tuple(files)))
    except Refused as exc:
        result = ("refused", str(exc), files)
    except ScenarioError as exc:
        result = ("error", str(exc), files)
    except MemoryError:
        result = ("error", f"{source}: too large to load", files)
    except Exception as exc:  # noqa: BLE001 - reported as one line, never raised in the page
        result = ("error", f"{source}: cannot be loaded ({type(exc).__name__}: {exc})", files)
    try:
        conn.send(result)
    finally:
        conn.close()


def _context() -> Any:
    """Forkserver where available (fast forks of a process with the model imported), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["viz.loading", "abm.engine.model", "viz.recorder"])
        return ctx
    return multiprocessing.get_context("spawn")  # pragma: no cover - not POSIX


def warm_up() -> None:
    """Start the worker server now (forkserver: ~3-5 s of imports) rather than on the first load."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        _context()
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _shown(
    message: str, source: str, files: list[str] | tuple[str, ...], dirs: tuple[Path, ...]
) -> str:
    """A worker's message if it names the given file or a file it was allowed to read."""
    line = one_line(message)
    if any(line.startswith(f"{f}: ") for f in (source, *files)):
        return line
    return refusal(dirs)


def load_file(
    source: str,
    levers: dict[str, float | None] | None = None,
    weeks: int | None = None,
    seed: int = 1,
    *,
    timeout: float | None = None,
    dirs: tuple[Path, ...] | None = None,
    max_bytes: int = MAX_BYTES,
    memory: int = MEMORY_LIMIT,
) -> Loaded:
    """Load a scenario file typed into the page, off this process and with a time limit.

    Args:
        source: The path as typed (relative paths from the server's directory).
        levers: Lever values to apply (None: none).
        weeks: Horizon override.
        seed: Seed of the trial week.
        timeout: Seconds before the worker is killed (default :func:`load_timeout`).
        dirs: Allowed folders (default :func:`allowed_dirs`).
        max_bytes: Largest file read.
        memory: Address space the worker may add.

    Returns:
        The validated scenarios.

    Raises:
        Refused: For a path that is not an allowed scenario file.
        ScenarioError: With a one-line message for a file that does not load in time or
            does not validate.
    """
    dirs = dirs or allowed_dirs()
    timeout = load_timeout() if timeout is None else timeout
    check_file(source, dirs, max_bytes)
    if not _LOADS.acquire(timeout=timeout):
        raise ScenarioError("the server is busy loading other files; try again")
    try:
        ctx = _context()
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_worker,
            args=(send, source, levers, weeks, seed, dirs, max_bytes, memory),
            daemon=True,
        )
        proc.start()
        send.close()
        answered = False
        try:
            if not recv.poll(timeout):
                raise ScenarioError(f"{source}: took longer than {timeout:g} s to load (stopped)")
            try:
                result = recv.recv()
            except (EOFError, OSError):
                raise ScenarioError(f"{source}: the loader stopped (too large?)") from None
            answered = True
        finally:
            recv.close()
            if answered:
                proc.join(2)
            if proc.is_alive():
                proc.kill()
            proc.join(5)
    finally:
        _LOADS.release()
    if result[0] == "ok":
        return result[1]
    if result[0] == "refused":
        raise Refused(refusal(dirs))
    raise ScenarioError(_shown(result[1], source, result[2], dirs))
