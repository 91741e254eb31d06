"""Agent-based model of the AI-compute supply chain under export controls.

Build and run the default world in two lines::

    from abm import SupplyChainModel
    model = SupplyChainModel.from_scenario("baseline", seed=1).run()

The names below (and ``__version__``, the installed distribution's version) are
loaded on first use, so ``import abm`` (and ``abm --help``) stays fast.

Importing ``abm`` warns (one line on stderr) when another installed distribution also
provides a top-level ``abm`` or ``viz`` package: those import names are taken on PyPI,
and installing this project beside such a distribution makes one overwrite the other's
files. Set ``ABM_IGNORE_NAME_CLASH=1`` to silence it.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel
    from abm.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["Scenario", "ScenarioError", "SupplyChainModel", "load_scenario"]

DISTRIBUTION = "gpu-supply-abm"
IMPORT_NAMES = ("abm", "viz")
"""The top-level packages this distribution installs (names other PyPI projects use too)."""

_LAZY = {
    "SupplyChainModel": "abm.engine.model",
    "Scenario": "abm.scenario",
    "ScenarioError": "abm.scenario",
    "load_scenario": "abm.scenario",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":  # importlib.metadata is slow to import: only when asked
        from importlib import metadata

        try:
            return metadata.version("gpu-supply-abm")
        except metadata.PackageNotFoundError:  # a source tree that was never installed
            return "source"
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


def _canonical(name: str) -> str:
    return name.replace("_", "-").replace(".", "-").lower()


def name_clashes(paths: list[str] | None = None) -> dict[str, list[str]]:
    """Other installed distributions that provide a top-level ``abm`` or ``viz``.

    A quick scan of the ``*.dist-info`` and ``*.egg-info`` folders on ``paths``
    (default ``sys.path``) that hold an ``abm`` or ``viz`` package or module: their
    ``top_level.txt``, else the first path component of each ``RECORD`` line.
    :func:`importlib.metadata.packages_distributions` answers the same question but
    takes about a second here (it parses every distribution's files); this takes under
    a millisecond in a virtualenv without a clash (a few in a wheel install), so it
    runs on every import.

    Returns:
        ``{import name: [distribution, ...]}`` for the clashing names only (this
        project's own distribution left out).
    """
    found: dict[str, list[str]] = {}
    own = _canonical(DISTRIBUTION)
    tops = {f"{n}{ext}" for n in IMPORT_NAMES for ext in ("", ".py")}
    for entry in sys.path if paths is None else paths:
        try:
            with os.scandir(entry or ".") as listing:
                items = list(listing)
        except OSError:  # a zip file, a missing folder
            continue
        if not tops & {item.name for item in items}:
            continue  # nothing installed an abm or viz here: no metadata to read
        for item in items:
            if not item.name.endswith((".dist-info", ".egg-info")):
                continue
            dist = item.name.rsplit(".", 1)[0].split("-", 1)[0]
            if _canonical(dist) == own or not item.is_dir():
                continue
            for top in sorted(_provided(item.path)):
                if dist not in found.get(top, []):
                    found.setdefault(top, []).append(dist)
    return found


def _provided(folder: str) -> set[str]:
    """Which of :data:`IMPORT_NAMES` the distribution whose metadata is ``folder`` installs."""
    try:
        with open(os.path.join(folder, "top_level.txt"), "rb") as f:
            return {n.decode(errors="replace") for n in f.read().split()} & set(IMPORT_NAMES)
    except OSError:
        pass
    try:  # RECORD lines: "abm/__init__.py,sha256=...,123" (searched as bytes: big files)
        with open(os.path.join(folder, "RECORD"), "rb") as f:
            record = b"\n" + f.read()
    except OSError:
        return set()
    return {
        name
        for name in IMPORT_NAMES
        if any(f"\n{name}{end}".encode() in record for end in ("/", ".py,"))
    }


def _warn_name_clashes() -> None:
    if os.environ.get("ABM_IGNORE_NAME_CLASH"):
        return
    clashes = name_clashes()
    if clashes:
        named = "; ".join(f"{', '.join(d)} provides '{n}'" for n, d in sorted(clashes.items()))
        sys.stderr.write(
            f"warning: import-name clash with {DISTRIBUTION}: {named} too (one may have "
            "overwritten the other's files); install gpu-supply-abm in its own virtualenv "
            "(make venv), or set ABM_IGNORE_NAME_CLASH=1\n"
        )


_warn_name_clashes()
