"""Loading scenarios: files, ``extends``, calibration, overrides, then validation.

:func:`load_scenario` resolves a library name or path, reads the file and the
chain of files it ``extends`` (merged by :func:`deep_merge`), applies the
fitted values of the file named by ``calibration:``, merges the caller's
overrides, checks every ``sources`` entry against ``scenarios/references.yaml``
and validates the result against :class:`~abm.scenario.schema.Scenario`.
Every refusal is a :class:`~abm.scenario.errors.ScenarioError` with a
one-line message naming the file, the field and what was expected.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from abm.scenario.checks import check_sources
from abm.scenario.errors import ScenarioCheckError, ScenarioError, first_error, scenario_error
from abm.scenario.schema import Scenario

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
REFERENCES_FILE = "references.yaml"

_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_CACHE: dict[tuple[str, int, int], Any] = {}


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file's content (kept per file version: batches and benchmarks re-read files).

    Parsed with libyaml when available; errors are reported by the pure-Python
    parser so messages do not depend on the installation.
    """
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    except OSError:
        key = None
    if key is not None and key in _YAML_CACHE:
        return copy.deepcopy(_YAML_CACHE[key])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise scenario_error(path, (), "file not found") from None
    except OSError as exc:
        raise scenario_error(path, (), f"cannot read ({exc.strerror})") from None
    try:
        try:
            data = yaml.load(text, Loader=_FAST_LOADER)  # noqa: S506 (a safe loader)
        except yaml.YAMLError:
            data = yaml.safe_load(text)  # the same error, with the usual message
    except yaml.YAMLError as exc:
        raise ScenarioError(first_error(path, exc)) from None
    if not isinstance(data, dict):
        raise scenario_error(path, (), "expected a mapping of scenario fields at the top level")
    if key is not None:
        if len(_YAML_CACHE) > 64:
            _YAML_CACHE.clear()
        _YAML_CACHE[key] = copy.deepcopy(data)
    return data


# ------------------------------------------------------------------ merging


def _identity(items: Any) -> str | None:
    """The key (``id`` or ``name``) that identifies every item of a list of mappings."""
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in ("id", "name"):
        if all(key in i for i in items):
            return key
    return None


def _merge_named(base: list[dict[str, Any]], override: list[dict[str, Any]], key: str) -> list:
    out = [copy.deepcopy(i) for i in base]
    index = {i[key]: n for n, i in enumerate(out)}
    for item in override:
        if item.get("remove") is True:
            out = [i for i in out if i[key] != item[key]]
            index = {i[key]: n for n, i in enumerate(out)}
        elif item[key] in index:
            out[index[item[key]]] = deep_merge(out[index[item[key]]], item)
        else:
            index[item[key]] = len(out)
            out.append(copy.deepcopy(item))
    return out


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``.

    Mappings merge key by key. Lists of named items (every item has an
    ``id``, or every item a ``name``, in both lists) merge item by item: an
    override item changes the base item with the same id/name, a new one is
    appended, and ``{id: X, remove: true}`` deletes X. Other values replace.
    """
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        elif (ident := _identity(out.get(key))) and _identity(value) == ident:
            out[key] = _merge_named(out[key], value, ident)
        else:
            out[key] = copy.deepcopy(value)
    return out


def overrides_from(params: dict[str, Any]) -> dict[str, Any]:
    """Nested scenario overrides from ``key.path`` parameters.

    A segment ``name[Item]`` addresses the item called ``Item`` of a list of
    named items, e.g. ``world.packagers[TSMC CoWoS].capacity_wafers_per_week``.
    Batch sweeps and designs and the fitted values of a calibration file are
    given this way.

    Raises:
        ScenarioError: for a path that ends at a list item instead of a field.
    """
    out: dict[str, Any] = {}
    for path, value in params.items():
        node: dict[str, Any] = out
        parts = split_key_path(path)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if "[" in part and part.endswith("]"):
                key, item = part[:-1].split("[", 1)
                items = node.setdefault(key, [])
                entry = next((e for e in items if e.get("name", e.get("id")) == item), None)
                if entry is None:
                    entry = {"id": item} if item.startswith(("US-", "CN-")) else {"name": item}
                    items.append(entry)
                if last:
                    raise scenario_error(
                        path, (), "a parameter must end at a field, not a list item"
                    )
                node = entry
            elif last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return out


def split_key_path(path: str) -> list[str]:
    """The segments of a ``key.path``; dots inside ``[...]`` do not split."""
    parts, buf, depth = [], "", 0
    for ch in path:
        if ch == "." and depth == 0:
            parts.append(buf)
            buf = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        buf += ch
    parts.append(buf)
    return parts


# ------------------------------------------------------------------ library


def resolve_path(name_or_path: str | Path) -> Path:
    """Turn a library name (``baseline``) or a path into a scenario file path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    lib = SCENARIO_DIR / f"{name_or_path}.yaml"
    if lib.exists():
        return lib
    known = ", ".join(library_names()) or "none"
    raise scenario_error(
        name_or_path, (), f"no such scenario file or library scenario (known: {known})"
    )


def library_names() -> list[str]:
    """Names of the scenarios shipped in ``scenarios/``."""
    not_scenarios = {REFERENCES_FILE, "calibration.yaml", "targets.yaml"}
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml") if p.name not in not_scenarios)


def load_references() -> dict[str, dict[str, Any]]:
    """Read ``scenarios/references.yaml``: sourced facts and declared assumptions by id."""
    path = SCENARIO_DIR / REFERENCES_FILE
    data = read_yaml(path)
    refs: dict[str, dict[str, Any]] = {}
    for section in ("facts", "assumptions"):
        for rid, entry in (data.get(section) or {}).items():
            refs[str(rid)] = {"kind": section, **entry}
    return refs


# ------------------------------------------------------------------ loading


def _apply_calibration(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Merge the fitted values of the file named by ``calibration:`` over ``data``.

    A scenario (the baseline) may name a calibration file written by ``abm
    calibrate``; its ``fitted`` mapping (``key.path -> value``) replaces the
    file's own values, so the record of where a value came from is that file.
    """
    name = data.get("calibration")
    if name is None:
        return data
    if not isinstance(name, str):
        raise scenario_error(path, ("calibration",), f"expected a file name, got {name!r}")
    cal_path = path.parent / name
    if not cal_path.exists():
        raise scenario_error(path, ("calibration",), f"no such file {cal_path}")
    fitted = read_yaml(cal_path).get("fitted") or {}
    if not isinstance(fitted, dict):
        raise scenario_error(cal_path, ("fitted",), "expected a mapping of key.path: value")
    try:
        return deep_merge(data, overrides_from(fitted))
    except ScenarioError as exc:
        raise scenario_error(cal_path, ("fitted",), str(exc)) from None


def _raw_with_extends(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a scenario file and the chain of files it extends, merged.

    Messages name files as the user gave them (``path`` is not resolved;
    resolved paths are only used to detect cycles).
    """
    real = path.resolve()
    if real in seen:
        chain = " -> ".join(p.stem for p in (*seen, real))
        raise scenario_error(path, ("extends",), f"cycle ({chain})")
    data = _apply_calibration(path, read_yaml(path))
    parent = data.get("extends")
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise scenario_error(path, ("extends",), f"expected a scenario name, got {parent!r}")
    candidate = path.parent / f"{parent}.yaml"
    parent_path = candidate if candidate.exists() else SCENARIO_DIR / f"{parent}.yaml"
    if not parent_path.exists():
        raise scenario_error(
            path,
            ("extends",),
            f"no scenario named {parent!r} (looked in {path.parent or '.'}/ "
            "and the scenario library)",
        )
    base = _raw_with_extends(parent_path, (*seen, real))
    merged = deep_merge(base, {k: v for k, v in data.items() if k != "extends"})
    merged["extends"] = parent
    return merged


def load_scenario(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Load, merge (``extends``, then ``overrides``) and validate a scenario.

    Args:
        name_or_path: A library name such as ``"baseline"`` or a YAML path.
        overrides: Optional nested mapping merged over the file's content.

    Returns:
        The validated :class:`Scenario`.

    Raises:
        ScenarioError: with a one-line message naming the file and field.
    """
    path = resolve_path(name_or_path)
    raw = _raw_with_extends(path)
    if overrides:
        raw = deep_merge(raw, overrides)
    try:
        check_sources(raw, load_references(), f"scenarios/{REFERENCES_FILE}")
        return Scenario.model_validate(raw)
    except (ScenarioCheckError, ValidationError) as exc:
        raise ScenarioError(first_error(path, exc, model=Scenario)) from None
