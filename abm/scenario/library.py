"""Where the scenario library is: the one lookup of the shipped YAML files.

The library (scenarios, ``references.yaml``, ``calibration.yaml``,
``targets.yaml``) is the top-level ``scenarios/`` folder of the checkout,
installed as the package ``abm.scenarios`` (``package-dir`` in
``pyproject.toml``). It is read through :mod:`importlib.resources`, so the same
code finds it in a developer checkout (editable install) and in an installed
wheel, whatever the current directory. This module imports nothing heavy: the
command line lists the library with it before loading any model code.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

LIBRARY_PACKAGE = "abm.scenarios"
REFERENCES_FILE = "references.yaml"
CALIBRATION_FILE_NAME = "calibration.yaml"
TARGETS_FILE_NAME = "targets.yaml"
CHECKS_FILE_NAME = "checks.yaml"
NOT_SCENARIOS = frozenset(
    {REFERENCES_FILE, CALIBRATION_FILE_NAME, TARGETS_FILE_NAME, CHECKS_FILE_NAME}
)
"""Library files that are data for the scenarios, not scenarios."""


class LibraryMissingError(RuntimeError):
    """The installed package has no scenario library (a broken or partial install)."""


@functools.cache
def library_dir() -> Path:
    """The folder holding the shipped scenario files, as a real directory.

    Raises:
        LibraryMissingError: when ``abm.scenarios`` cannot be imported or is not a
            folder on disk (e.g. the package was imported from a zip file).
    """
    try:
        root = resources.files(LIBRARY_PACKAGE)
    except ModuleNotFoundError as exc:
        raise LibraryMissingError(
            f"the scenario library ({LIBRARY_PACKAGE}) is not installed: reinstall "
            "gpu-supply-abm (pip install -e . in a checkout)"
        ) from exc
    path = Path(str(root))
    if not isinstance(root, Path) or not path.is_dir():
        raise LibraryMissingError(
            f"the scenario library ({LIBRARY_PACKAGE}) is not a folder on disk: {root}"
        )
    return path


def library_file(name: str) -> Path:
    """The path of one library file, e.g. ``library_file("references.yaml")``."""
    return library_dir() / name


def library_names() -> list[str]:
    """Names of the scenarios shipped in the library (file stems), sorted."""
    return sorted(p.stem for p in library_dir().glob("*.yaml") if p.name not in NOT_SCENARIOS)


def library_description(name: str) -> str:
    """A library scenario's ``description``, read from its file without validating it.

    Follows ``extends`` inside the library when the file has no description of its
    own (as :func:`~abm.scenario.load_scenario` would inherit it). This is the quick
    read behind ``abm scenarios list``; ``abm scenarios validate`` checks the files.

    Raises:
        ValueError: a one-line message naming the file when it cannot be read as a
            mapping of scenario fields.
    """
    import yaml  # here, not at the top: `abm --help` does not need it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    seen: list[str] = []
    while name not in seen:
        seen.append(name)
        path = library_file(f"{name}.yaml")
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"{path}: {first}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of scenario fields at the top level")
        description = data.get("description")
        if description is not None:
            return str(description)
        parent = data.get("extends")
        if not isinstance(parent, str) or not library_file(f"{parent}.yaml").is_file():
            return ""
        name = parent
    raise ValueError(f"{library_file(f'{name}.yaml')}: extends: cycle ({' -> '.join(seen)})")


def print_library(console: Console | None = None) -> int:
    """Print ``abm scenarios list``: each library scenario's name and description.

    The one implementation of the listing, shared by the Typer command and the console
    entry point's fast path (:func:`abm.__main__.main`, which answers ``abm scenarios list``
    without building the Typer app), so both print the same bytes. An unreadable file
    is marked ``invalid`` with its one-line reason and the others are listed.

    Args:
        console: Where to print (a default :class:`rich.console.Console` if not given).

    Returns:
        The exit code: 0, or 2 after a one-line ``error:`` on stderr when the library
        itself is missing.
    """
    from rich.console import Console

    console = console or Console()
    try:
        names = library_names()
    except LibraryMissingError as exc:
        print_error(str(exc))
        return 2
    for name in names:
        try:
            description = library_description(name)
            console.print(f"[bold]{name}[/]: {description}", highlight=False)
        except ValueError as exc:
            console.print(f"[bold]{name}[/]: [red]invalid[/] ({exc})", highlight=False)
    return 0


def print_error(message: str) -> None:
    """The command line's one-line ``error: MESSAGE`` on stderr (``abm.cli._fail``'s)."""
    from rich.console import Console
    from rich.markup import escape  # the message is data: "[nan, 1]" is not a style tag

    Console(stderr=True).print(
        f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True
    )
