"""Run outputs: tidy Parquet tables and a manifest, written crash-safely.

:func:`write_run` first writes every file (the three tables and the final
manifest) to a temporary name in the output folder. Only when all of them are
on disk does it mark the folder incomplete (the manifest is replaced by one
whose status is ``writing``), rename the tables into place and, last, rename
the final manifest, which records each file's size and sha256. So:

* a crash or a full disk while the temporaries are written leaves the
  previous run untouched (its manifest still describes its files);
* a crash while the files are renamed leaves a folder marked ``writing``;
* a folder is a complete run only if :func:`verify_run` finds its manifest
  ``completed`` and every file with the recorded size and checksum.

Temporaries (``.NAME.tmp-PID``) left by a dead process are removed by the next
write into the folder. Errors writing the folder (full disk, read-only file
system, no permission) are :class:`OutputError` with a one-line message.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from abm.engine.statelog import AGENT_STATE

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel

FILES = ("metrics.parquet", "events.parquet", "agents.parquet", "manifest.json")
PACKAGES = ("mesa", "numpy", "networkx", "pyarrow", "pydantic", "pandas", "duckdb", "PyYAML")
STATE_COLUMNS = tuple(c.name for c in AGENT_STATE)
"""Columns of ``agents.parquet`` after the keys (declared with units and meanings in
:data:`abm.engine.statelog.AGENT_STATE`); empty where a family has no such state."""


TABLES = FILES[:3]
WRITING = "writing"
"""Status of a folder whose files are being replaced (not a complete run)."""
DISK_ERRNOS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}
"""Errors of the output folder itself (not of the run), with their short wording."""


class OutputError(RuntimeError):
    """An output folder that cannot be written safely."""


def describe_os_error(exc: OSError, what: str) -> str:
    """One line for an ``OSError`` raised while writing ``what``."""
    where = exc.filename or what
    if exc.errno in DISK_ERRNOS:
        return f"{where}: cannot write ({DISK_ERRNOS[exc.errno]}: {os.strerror(exc.errno)})"
    return f"{where}: cannot write ({exc.strerror or exc})"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_TMP = re.compile(r"^\..+\.tmp-(\d+)$")


def clean_stale_temporaries(folder: Path) -> list[Path]:
    """Remove ``.NAME.tmp-PID`` files and folders in ``folder`` whose process is dead.

    Returns:
        The paths removed.
    """
    removed: list[Path] = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _TMP.match(p.name)
        if m is None or _pid_alive(int(m.group(1))) and int(m.group(1)) != os.getpid():
            continue
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
    return removed


def file_digest(path: Path) -> dict[str, Any]:
    """``{"bytes": size, "sha256": hex}`` of a file."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return {"bytes": size, "sha256": h.hexdigest()}


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """A run folder's manifest, or None if it is missing or unreadable."""
    try:
        data = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def verify_run(folder: Path, checksums: bool = True) -> list[str]:
    """What is wrong with a run folder (empty: a complete run).

    A complete run has a manifest whose status is ``completed`` and, for every
    file the manifest lists, a file of the recorded size and sha256 (only
    sizes if not ``checksums``). A manifest from before checksums were
    recorded is checked by the row counts of its Parquet files.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        return ["manifest.json missing or unreadable"]
    if manifest.get("status") != "completed":
        return [f"manifest status is {manifest.get('status')!r}, not 'completed'"]
    problems = []
    files = manifest.get("files")
    if isinstance(files, dict) and files:
        for name, want in files.items():
            path = folder / name
            if not path.is_file():
                problems.append(f"{name} missing")
                continue
            size = path.stat().st_size
            if size != want.get("bytes"):
                problems.append(f"{name} has {size} bytes, the manifest says {want.get('bytes')}")
            elif checksums and file_digest(path)["sha256"] != want.get("sha256"):
                problems.append(f"{name} checksum differs from the manifest")
        return problems
    for name, rows in (manifest.get("rows") or {}).items():  # a manifest without checksums
        try:
            got = pq.read_metadata(folder / name).num_rows
        except (OSError, pa.ArrowException):
            problems.append(f"{name} missing or unreadable")
            continue
        if got != rows:
            problems.append(f"{name} has {got} rows, the manifest says {rows}")
    return problems or ([] if manifest.get("rows") else ["manifest lists no files"])


DISTRIBUTION = "gpu-supply-abm"
"""The project's distribution name (``pip install gpu-supply-abm``)."""
LOCK_FILE_NAME = "requirements.lock"
"""The lock (pinned constraints) at the checkout's root; ``make lock`` writes it."""


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a run depends on, and of this project."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out[DISTRIBUTION] = package_version()
    return out


def package_version() -> str:
    """This project's installed version (``source`` when run from an uninstalled tree)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "source"


def project_checkout() -> Path | None:
    """The root of this project's own source checkout, when the code runs from one.

    The code runs from a checkout when the folder above the ``abm`` package holds this
    project's ``pyproject.toml`` and is the top of a git work tree (an editable install
    or ``python -m`` from the clone). An installed wheel lives in ``site-packages``,
    which has neither: a repository that happens to surround the virtualenv is not
    this project's, so ``None``.
    """
    return checkout_at(Path(__file__).resolve().parents[2])


def checkout_at(root: Path) -> Path | None:
    """``root`` if it is the top of a git work tree holding this project, else ``None``."""
    pyproject = root / "pyproject.toml"
    try:
        if not (root / ".git").exists() or not pyproject.is_file():
            return None
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    if not re.search(rf'^name\s*=\s*"{re.escape(DISTRIBUTION)}"', text, re.MULTILINE):
        return None
    try:
        top = _git(root, "rev-parse", "--show-toplevel")
    except (OSError, subprocess.SubprocessError):
        return None
    return root if Path(top).resolve() == root else None


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, timeout=5, check=True
    )
    return done.stdout.strip()


def git_commit() -> str:
    """The checkout's git commit (``-dirty`` if the tree has changes), else ``unknown``.

    Only this project's own checkout counts (see :func:`project_checkout`); an
    installed package records ``unknown`` and its version (:func:`package_versions`).
    """
    root = project_checkout()
    if root is None:
        return "unknown"
    try:
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
        return _git(root, "rev-parse", "HEAD") + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment_record() -> dict[str, Any]:
    """What the run's environment was installed from, for the manifest.

    ``packages_sha256`` hashes the sorted ``name==version`` of every installed
    distribution (the same value for the same environment, wherever it is).
    ``lock_sha256`` is the hash of the ``requirements.lock`` the environment was meant
    to be installed from and ``lock_source`` says which: ``checkout`` (this project's
    checkout, an editable install) or ``package`` (the copy shipped inside the wheel,
    ``abm/requirements.lock``); ``None`` for both when neither is found.
    ``matches_lock`` says whether the environment is the lock's: from a checkout, every
    package the lock pins is installed at that version (dev extras included); from
    the package, every installed package that the lock pins is at its version (a wheel
    install has no dev extras); ``None`` without a lock.
    """
    return dict(_environment_record())


def _shipped_lock() -> str | None:
    """The lock shipped inside the package (``abm/requirements.lock``), if it is one."""
    from importlib import resources

    try:
        text = resources.files("abm").joinpath(LOCK_FILE_NAME).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    # a checkout without symbolic links holds the link's target path, not a lock
    return text if _PIN.search(text) else None


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", re.MULTILINE)


@functools.cache
def _environment_record() -> tuple[tuple[str, Any], ...]:
    installed: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            installed[_canonical(name)] = dist.version
    listing = "\n".join(f"{n}=={v}" for n, v in sorted(installed.items()))
    record: dict[str, Any] = {
        "packages_sha256": hashlib.sha256(listing.encode()).hexdigest(),
        "lock_sha256": None,
        "lock_source": None,
        "matches_lock": None,
    }
    root = project_checkout()
    lock = root / LOCK_FILE_NAME if root is not None else None
    text, source = None, None
    if lock is not None and lock.is_file():
        text, source = lock.read_text(encoding="utf-8"), "checkout"
    elif (text := _shipped_lock()) is not None:
        source = "package"
    if text is not None:
        record["lock_sha256"] = hashlib.sha256(text.encode()).hexdigest()
        record["lock_source"] = source
        pins = {_canonical(n): v for n, v in _PIN.findall(text)}
        if source == "checkout":
            record["matches_lock"] = all(installed.get(n) == v for n, v in pins.items())
        else:
            record["matches_lock"] = all(
                installed[n] == v for n, v in pins.items() if n in installed
            )
    return tuple(record.items())


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dates(model: SupplyChainModel, steps: pa.Array) -> pa.Array:
    start = model.spec.start_date
    lookup = [start + timedelta(weeks=i) for i in range(model.spec.weeks)]
    return pa.array([lookup[s] for s in steps.to_pylist()], pa.date32())


def _keys(model: SupplyChainModel, table: pa.Table, with_scenario: bool) -> pa.Table:
    n = table.num_rows
    cols = {"run_id": pa.array([model.run_id] * n, pa.string())}
    if with_scenario:
        cols["scenario"] = pa.array([model.spec.name] * n, pa.string())
        cols["seed"] = pa.array([model.seed] * n, pa.int64())
    cols["step"] = table.column("step")
    cols["date"] = _dates(model, table.column("step").combine_chunks())
    for name in table.column_names:
        if name != "step":
            cols[name] = table.column(name)
    return pa.table(cols)


def metrics_table(model: SupplyChainModel) -> pa.Table:
    """``run_id, scenario, seed, step, date, name, scope, value``."""
    return _keys(model, model.metrics.to_arrow(), with_scenario=True)


def events_table(model: SupplyChainModel) -> pa.Table:
    """``run_id, step, date, agent, family, region, event, counterparty, product, ...``."""
    return _keys(model, model.events.to_arrow(), with_scenario=False)


def agents_table(model: SupplyChainModel) -> pa.Table:
    """Per-step state of every agent: keys, then :data:`STATE_COLUMNS`."""
    base = model.agent_states.to_arrow(STATE_COLUMNS)
    return _keys(model, base, with_scenario=True)


def temporary_name(path: Path) -> Path:
    """The temporary beside ``path`` this process writes before renaming it into place."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary name beside ``path``, then rename it into place.

    A reader never sees a half-written file; on failure (a full disk, say) the
    temporary is removed and the old file, if any, is kept.
    """
    tmp = temporary_name(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and check a file can be written in it.

    Raises:
        OutputError: one line naming the folder and why (read-only, no permission...).
    """
    probe = Path(folder) / f".probe.tmp-{os.getpid()}"
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(describe_os_error(exc, str(folder))) from None


def prepare_out_dir(out: Path, overwrite: bool = False) -> None:
    """Create ``out``; refuse a folder holding another run unless ``overwrite``.

    Nothing of a run already in ``out`` is touched: :func:`write_run` replaces it
    only once the new files are written.

    Raises:
        OutputError: for a folder holding a run (without ``overwrite``), a path
            that is not a folder, or a folder that cannot be written.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    if out.exists() and not overwrite:
        present = [f for f in FILES if (out / f).exists()]
        if present:
            raise OutputError(
                f"{out}: already holds a run ({', '.join(present)}); choose another --out "
                "or pass --overwrite"
            )
    check_writable(out)


def write_run(
    model: SupplyChainModel,
    out: Path,
    started: datetime,
    status: str = "completed",
    error: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the run's three tables and its manifest to ``out``, crash-safely.

    Every file is first written to a temporary; then the folder is marked
    ``writing``, the tables are renamed into place and the final manifest
    (with each file's size and sha256) is renamed last (see the module notes).

    Args:
        model: The model (run, or stopped by a failure).
        out: The run folder (created if needed).
        started: When the run started.
        status: ``completed`` or ``failed``.
        error: The failure's traceback.
        extra: More manifest entries (e.g. a batch run's KPIs).

    Returns:
        The manifest as written.

    Raises:
        OutputError: if the folder cannot be written (full disk, read-only...);
            a run already in the folder is then left as it was.
    """
    out = Path(out)
    tables = {
        "metrics.parquet": metrics_table(model),
        "events.parquet": events_table(model),
        "agents.parquet": agents_table(model),
    }
    manifest = _manifest(model, started, status, error, tables, extra)
    staged: list[Path] = []
    current = out
    try:
        out.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(out)
        files = {}
        for name, table in tables.items():
            current = out / name
            tmp = temporary_name(out / name)
            staged.append(tmp)
            with pa.OSFile(str(tmp), "wb") as sink:  # closed even if the disk is full
                pq.write_table(table, sink, compression="zstd")
            files[name] = file_digest(tmp)
        manifest["files"] = files
        current = out / "manifest.json"
        text = json.dumps(manifest, indent=2) + "\n"
        final_tmp = temporary_name(out / "manifest.json")
        staged.append(final_tmp)
        final_tmp.write_text(text, encoding="utf-8")
        # from here the old run is being replaced: mark the folder incomplete first
        if (out / "manifest.json").exists():
            marker = {"status": WRITING, "run_id": model.run_id, "pid": os.getpid()}
            marker_tmp = out / f".manifest.json.writing.tmp-{os.getpid()}"
            staged.append(marker_tmp)
            marker_tmp.write_text(json.dumps(marker) + "\n", encoding="utf-8")
            os.replace(marker_tmp, out / "manifest.json")
        for name in tables:
            os.replace(temporary_name(out / name), out / name)
        os.replace(final_tmp, out / "manifest.json")
    except OSError as exc:
        message = describe_os_error(exc, str(current))
        del exc  # and its traceback, which holds the writer
        raise OutputError(message) from None
    finally:
        for tmp in staged:
            if tmp.exists():
                tmp.unlink()
    return manifest


def _manifest(
    model: SupplyChainModel,
    started: datetime,
    status: str,
    error: str | None,
    tables: dict[str, pa.Table],
    extra: dict[str, Any] | None,
) -> dict[str, Any]:
    cons = model.conservation()
    manifest = {
        "run_id": model.run_id,
        "scenario": model.spec.name,
        "scenario_hash": model.declared_spec.content_hash(),
        "sampled_scenario_hash": model.spec.content_hash(),
        "uncertainty": model.draws.record(),
        "seed": model.seed,
        "weeks_run": model.steps,
        "start_date": model.spec.start_date.isoformat(),
        "end_date": (model.spec.start_date + timedelta(weeks=max(0, model.steps - 1))).isoformat(),
        "status": status,
        "error": error,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "versions": package_versions(),
        "environment": environment_record(),
        "command": " ".join(sys.argv),
        "rows": {name: t.num_rows for name, t in tables.items()},
        "conservation": cons,
        "supply_edges": sorted(
            [model.graph.nodes[a]["name"], model.graph.nodes[b]["name"], d["kind"]]
            for a, b, d in model.graph.edges(data=True)
        ),
        **(extra or {}),
    }
    return manifest
