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
import os
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from abm.scenario.checks import check_sources
from abm.scenario.errors import (
    Loc,
    ScenarioCheckError,
    ScenarioError,
    first_error,
    scenario_error,
)
from abm.scenario.library import REFERENCES_FILE, library_dir
from abm.scenario.library import library_names as library_names
from abm.scenario.schema import Scenario

SCENARIO_DIR = library_dir()
"""The scenario library's folder (see :mod:`abm.scenario.library`)."""

MAX_FILE_BYTES = 2 * 1024 * 1024
"""Largest scenario (or referenced) file read: 2 MiB, about 30x the largest library file."""
MAX_YAML_DEPTH = 40
"""Deepest nesting of mappings and lists (the library's deepest is under 10 levels)."""
MAX_YAML_NODES = 1_000_000
"""Most values a file may hold once its aliases are expanded: about what 2 MiB can spell
out without aliases, so an alias "bomb" is refused before anything walks it."""

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Bounded:
    """Checks of the composed node graph, shared by the libyaml and pure-Python loaders.

    After composing (aliases are still shared nodes, nothing is expanded yet)
    :meth:`get_single_node` walks each node once and refuses nesting deeper than
    :data:`MAX_YAML_DEPTH`, aliases expanding past :data:`MAX_YAML_NODES` values or
    referring to themselves, a key repeated in one mapping, and a date that is not on
    the calendar, each as a :class:`ScenarioCheckError` at the field path.
    """

    def get_single_node(self) -> yaml.Node | None:
        """The document's root node, checked (see the class)."""
        node = super().get_single_node()  # type: ignore[misc]
        if node is not None:
            self._check_graph(node)
        return node

    def _check_graph(self, root: yaml.Node) -> None:
        size: dict[int, int] = {}
        height: dict[int, int] = {}
        entered: set[int] = set()
        stack: list[tuple[yaml.Node, Loc, list | None]] = [(root, (), None)]
        while stack:
            node, loc, kids = stack.pop()
            nid = id(node)
            if kids is not None:  # leaving: every child is done
                entered.discard(nid)
                size[nid] = 1 + sum(size[id(k)] for k, _ in kids)
                height[nid] = 1 + max((height[id(k)] for k, _ in kids), default=0)
                if height[nid] > MAX_YAML_DEPTH:
                    shown = loc[:6] + (("...",) if len(loc) > 6 else ())
                    raise ScenarioCheckError(
                        shown, f"nested deeper than {MAX_YAML_DEPTH} levels (line {_line(node)})"
                    )
                if size[nid] > MAX_YAML_NODES:
                    raise ScenarioCheckError(
                        loc,
                        f"aliases expand to more than {MAX_YAML_NODES:,} values "
                        f"(line {_line(node)}); write the values out",
                    )
                continue
            if nid in size:  # an alias of a node already checked
                continue
            if nid in entered:
                raise ScenarioCheckError(loc, f"an alias refers to itself (line {_line(node)})")
            if isinstance(node, yaml.ScalarNode):
                size[nid], height[nid] = 1, 1
                if node.tag == _TIMESTAMP_TAG:
                    try:
                        self.construct_yaml_timestamp(node)  # type: ignore[attr-defined]
                    except ValueError as exc:
                        raise ScenarioCheckError(
                            loc, f"{node.value!r} is not a date on the calendar ({exc})"
                        ) from None
                continue
            if isinstance(node, yaml.MappingNode):
                _check_unique_keys(node, loc)
            kids = _children(node, loc)
            entered.add(nid)
            stack.append((node, loc, kids))
            stack.extend((k, kloc, None) for k, kloc in reversed(kids))


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _children(node: yaml.Node, loc: Loc) -> list[tuple[yaml.Node, Loc]]:
    """A node's children with their field paths (mapping keys count as values too)."""
    if isinstance(node, yaml.SequenceNode):
        return [(item, (*loc, i)) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        out: list[tuple[yaml.Node, Loc]] = []
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            out.append((key, loc))
            out.append((value, (*loc, name)))
        return out
    return []


def _check_unique_keys(node: yaml.MappingNode, loc: Loc) -> None:
    """Refuse a key written twice in one mapping (YAML would silently keep the last)."""
    first: dict[tuple[str, str], int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE_TAG:
            continue
        if (key.tag, key.value) in first:
            raise ScenarioCheckError(
                (*loc, str(key.value)),
                f"duplicate key (lines {first[(key.tag, key.value)]} and {_line(key)}); "
                "write each key once",
            )
        first[(key.tag, key.value)] = _line(key)


class _FastLoader(_Bounded, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser (when installed) with the checks of :class:`_Bounded`."""


class _PyLoader(_Bounded, yaml.SafeLoader):
    """The pure-Python parser with the same checks (its messages do not vary by installation)."""


_YAML_CACHE: dict[tuple[str, int, int], Any] = {}


def _read_bounded(path: Path) -> str:
    """The text of a regular file of at most :data:`MAX_FILE_BYTES`, decoded as UTF-8.

    Devices (``/dev/zero``), FIFOs and directories are refused before anything is
    read, and at most one byte more than the limit is ever read.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise scenario_error(path, (), "file not found") from None
    except (OSError, ValueError) as exc:
        raise scenario_error(
            path, (), f"cannot read ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise scenario_error(path, (), "not a regular file (a directory, device or pipe)")
    if st.st_size > MAX_FILE_BYTES:
        raise scenario_error(
            path, (), f"file of {st.st_size:,} bytes; the limit is {MAX_FILE_BYTES:,} bytes"
        )
    try:
        with open(path, "rb") as fh:
            blob = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise scenario_error(path, (), f"cannot read ({exc.strerror})") from None
    if len(blob) > MAX_FILE_BYTES:  # grew since stat
        raise scenario_error(path, (), f"file larger than {MAX_FILE_BYTES:,} bytes")
    try:
        return blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = blob.count(b"\n", 0, exc.start) + 1
        column = exc.start - (blob.rfind(b"\n", 0, exc.start) + 1) + 1
        raise scenario_error(
            path,
            (),
            f"not UTF-8 text (byte 0x{blob[exc.start]:02x} at line {line}, column {column})",
        ) from None


def _parse(path: Path, text: str) -> Any:
    """Parse ``text`` with the checks of :class:`_Bounded`; every failure a one-line error."""
    try:
        try:
            return yaml.load(text, Loader=_FastLoader)  # noqa: S506 (a safe loader)
        except yaml.YAMLError:
            return yaml.load(text, Loader=_PyLoader)  # noqa: S506 (the same error, usual wording)
    except (yaml.YAMLError, ScenarioCheckError) as exc:
        raise ScenarioError(first_error(path, exc)) from None
    except RecursionError:
        raise scenario_error(path, (), f"nested deeper than {MAX_YAML_DEPTH} levels") from None
    except MemoryError:
        raise scenario_error(path, (), "too large to parse in memory") from None


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file's content (kept per file version: batches and benchmarks re-read files).

    Only regular files of at most :data:`MAX_FILE_BYTES` are read; nesting,
    alias expansion, repeated keys and impossible dates are refused (see
    :class:`_Bounded`). Parsed with libyaml when available; errors are reported
    by the pure-Python parser so messages do not depend on the installation.

    Raises:
        ScenarioError: with a one-line message naming the file (and the field).
    """
    path = Path(path)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    except (OSError, ValueError, RuntimeError):
        key = None
    if key is not None and key in _YAML_CACHE:
        return copy.deepcopy(_YAML_CACHE[key])
    data = _parse(path, _read_bounded(path))
    if not isinstance(data, dict):
        raise scenario_error(path, (), "expected a mapping of scenario fields at the top level")
    if key is not None:
        if len(_YAML_CACHE) > 64:
            _YAML_CACHE.clear()
        _YAML_CACHE[key] = copy.deepcopy(data)
    return data


# ------------------------------------------------------------------ merging


ITEM_KEYS = ("id", "name", "node", "path")
"""Keys that name the items of a list (rules: ``id``; firms: ``name``; a foundry's nodes:
``node``; uncertain inputs: ``path``)."""


def _identity(items: Any) -> str | None:
    """The key (``id``, ``name`` or ``node``) that identifies every item of a list of mappings."""
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in ITEM_KEYS:
        if all(
            isinstance(i.get(key), str | int) and not isinstance(i.get(key), bool) for i in items
        ):
            return key
    return None


def _merge_named(
    base: list[dict[str, Any]], override: list[dict[str, Any]], key: str, loc: Loc
) -> list:
    first: dict[Any, int] = {}
    for n, item in enumerate(override):
        if item[key] in first:
            raise ScenarioCheckError(
                (*loc, n, key),
                f"{item[key]!r} is repeated in this list (items [{first[item[key]]}] and [{n}]); "
                "give each item once",
            )
        first[item[key]] = n
    out = [copy.deepcopy(i) for i in base]
    index = {i[key]: n for n, i in enumerate(out)}
    for n, item in enumerate(override):
        if item.get("remove") is True:
            if item[key] not in index:
                raise ScenarioCheckError(
                    (*loc, n, key), f"no item {item[key]!r} to remove in the scenario extended"
                )
            out = [i for i in out if i[key] != item[key]]
            index = {i[key]: n for n, i in enumerate(out)}
        elif item[key] in index:
            out[index[item[key]]] = deep_merge(out[index[item[key]]], item, (*loc, n))
        else:
            index[item[key]] = len(out)
            out.append(copy.deepcopy(item))
    return out


def deep_merge(base: dict[str, Any], override: dict[str, Any], loc: Loc = ()) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``.

    Mappings merge key by key. Lists of named items (every item has an
    ``id``, or every item a ``name``, in both lists) merge item by item: an
    override item changes the base item with the same id/name, a new one is
    appended, and ``{id: X, remove: true}`` deletes X. Other values replace.

    Args:
        base: The content merged into.
        override: The content that wins.
        loc: Where ``override`` sits in the scenario (for the messages).

    Raises:
        ScenarioCheckError: for a name given twice in one list of ``override``, or
            the removal of an item ``base`` does not have.
    """
    out = copy.deepcopy(base)
    for key, value in override.items():
        sub = (*loc, str(key))
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value, sub)
        elif (ident := _identity(out.get(key))) and _identity(value) == ident:
            out[key] = _merge_named(out[key], value, ident, sub)
        else:
            out[key] = copy.deepcopy(value)
    return out


def overrides_from(params: dict[str, Any]) -> dict[str, Any]:
    """Nested scenario overrides from ``key.path`` parameters.

    A segment ``name[Item]`` addresses the item called ``Item`` of a list of
    named items, e.g. ``world.packagers[TSMC CoWoS].capacity_wafers_per_week``
    (a foundry's nodes are named by their ``node``: ``nodes[N+2]``). Batch
    sweeps and designs, the fitted values of a calibration file and the
    values an uncertainty draw are given this way; a position (``nodes[0]``)
    or every item (``labs[*]``) is first turned into names against the
    scenario by :func:`expand_key_path`.

    Raises:
        ScenarioError: for a path that ends at a list item instead of a field.
    """
    out: dict[str, Any] = {}
    for path, value in params.items():
        node: dict[str, Any] = out
        parts = split_key_path(path)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            key, item = key_segment(part)
            if item is not None:
                items = node.setdefault(key, [])
                if not isinstance(items, list):
                    raise scenario_error(path, (), f"{key!r} is both a field and a list")
                entry = next((e for e in items if item in _names_of(e)), None)
                if entry is None:
                    ident = "id" if item.startswith(("US-", "CN-")) else "name"
                    entry = {"node" if key == "nodes" else ident: item}
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
                if not isinstance(node, dict):
                    raise scenario_error(path, (), f"{part!r} is both a value and a mapping")
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


def key_segment(part: str) -> tuple[str, str | None]:
    """A segment of a ``key.path`` as (field, item): ``labs[OpenAI]`` -> ``("labs", "OpenAI")``.

    The item is None for a plain field (``growth`` -> ``("growth", None)``).
    """
    if "[" in part and part.endswith("]"):
        key, item = part[:-1].split("[", 1)
        return key, item
    return part, None


def _names_of(entry: Any) -> tuple[Any, ...]:
    """The names an item of a list answers to (its ``id``, ``name`` or ``node``)."""
    return tuple(entry.get(k) for k in ITEM_KEYS) if isinstance(entry, dict) else ()


def find_items(items: list[Any], item: str) -> list[tuple[int, Any]]:
    """The items of a list a bracketed segment addresses, with their positions.

    ``item`` is a name (matched against each item's ``id``, ``name`` or
    ``node``), a position (``0``, ``-1``) or ``*`` (every item).
    """
    if item == "*":
        return list(enumerate(items))
    named = [(i, e) for i, e in enumerate(items) if item in _names_of(e)]
    if named or not item.lstrip("-").isdigit():
        return named
    n = int(item)
    return [(n % len(items), items[n])] if -len(items) <= n < len(items) else []


def expand_key_path(data: dict[str, Any], path: str) -> list[tuple[str, Any]]:
    """The fields a ``key.path`` addresses in scenario content, by name, with their values.

    Positions (``nodes[0]``) and ``[*]`` (every item) are resolved against
    ``data`` and written as names, so the paths returned can be given to
    :func:`overrides_from`: ``world.foundries[SMIC].nodes[0].yield_fraction``
    -> ``world.foundries[SMIC].nodes[N+2].yield_fraction``.

    Args:
        data: Scenario content (a validated scenario's ``model_dump(mode="json")``).
        path: The key path.

    Returns:
        ``(path by name, current value)`` of each field addressed.

    Raises:
        ValueError: naming the segment that addresses nothing.
    """
    found: list[tuple[list[str], Any]] = [([], data)]
    for part in split_key_path(path):
        key, item = key_segment(part)
        nxt: list[tuple[list[str], Any]] = []
        for walked, node in found:
            where = ".".join([*walked, key]) or "the scenario"
            if not isinstance(node, dict) or key not in node:
                raise ValueError(f"no field {key!r} in {'.'.join(walked) or 'the scenario'}")
            value = node[key]
            if item is None:
                nxt.append(([*walked, key], value))
                continue
            if not isinstance(value, list):
                raise ValueError(f"{where} is not a list of named items")
            hits = find_items(value, item)
            if not hits:
                known = ", ".join(
                    str(next(filter(None, _names_of(e)), i)) for i, e in enumerate(value[:12])
                )
                raise ValueError(f"no item {item!r} in {where} (known: {known})")
            for i, entry in hits:
                name = next((str(v) for v in _names_of(entry) if v is not None), None)
                if name is None:
                    raise ValueError(f"item [{i}] of {where} has no id, name or node")
                nxt.append(([*walked, f"{key}[{name}]"], entry))
        found = nxt
    return [(".".join(walked), value) for walked, value in found]


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
    for key in fitted:
        if not isinstance(key, str):
            raise scenario_error(cal_path, ("fitted", str(key)), "expected a key.path (text)")
    try:
        return deep_merge(data, overrides_from(fitted))
    except (ScenarioError, ScenarioCheckError) as exc:
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
    try:
        merged = deep_merge(base, {k: v for k, v in data.items() if k != "extends"})
    except ScenarioCheckError as exc:
        raise ScenarioError(first_error(path, exc)) from None
    _check_inherited_draws(path, data, merged)
    merged["extends"] = parent
    return merged


def _check_inherited_draws(path: Path, own: dict[str, Any], merged: dict[str, Any]) -> None:
    """Refuse a value the scenario sets that an inherited absolute uncertainty would overwrite.

    A counterfactual that changes, say, SMIC's yield while the baseline draws that
    yield from an absolute range would silently lose its change: it must restate the
    entry (its own range) or remove it (``{path: ..., remove: true}``).
    """
    entries = merged.get("uncertainties")
    if not isinstance(entries, list):
        return
    restated = {e.get("path") for e in own.get("uncertainties") or [] if isinstance(e, dict)}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("factor") or entry.get("path") in restated:
            continue
        try:
            hits = expand_key_path(own, str(entry.get("path")))
        except (ValueError, TypeError, AttributeError):
            continue  # the scenario does not set that field
        if hits:
            raise scenario_error(
                path,
                ("uncertainties",),
                f"this scenario sets {hits[0][0]}, which the scenario it extends draws "
                "per seed from an absolute range (overwriting it); restate that uncertainty "
                f"with its own range or remove it ({{path: {entry.get('path')!r}, remove: true}})",
            )


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
        try:
            raw = deep_merge(raw, overrides)
        except ScenarioCheckError as exc:
            raise ScenarioError(first_error(path, exc, prefix="(overrides) ")) from None
    try:
        check_sources(raw, load_references(), f"scenarios/{REFERENCES_FILE}")
        sc = Scenario.model_validate(raw)
    except (ScenarioCheckError, ValidationError) as exc:
        raise ScenarioError(first_error(path, exc, model=Scenario)) from None
    _check_draw_ends(path, sc)
    return sc


def _check_draw_ends(path: Path, sc: Scenario) -> None:
    """Refuse an uncertainty whose range reaches values the field does not take.

    The scenario is validated with every entry at its ``low`` end, then at its
    ``high`` end (two validations, whatever the number of entries); on a refusal
    each entry is tried alone to name it. Trend paths (growth factors) stay valid
    for any factor and are skipped.
    """
    if not sc.uncertainties:
        return
    data = sc.model_dump(mode="json")

    def ends(index: int | None, end: str) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for i, u in enumerate(sc.uncertainties):
            if index is not None and i != index:
                continue
            x = u.low if end == "low" else u.high
            for where, value in expand_key_path(data, u.path):
                if isinstance(value, list):
                    continue
                v = value * x if u.factor else x
                params[where] = round(v) if u.integer else v
        return params

    for end in ("low", "high"):
        try:
            Scenario.model_validate(deep_merge(data, overrides_from(ends(None, end))))
            continue
        except (ScenarioCheckError, ValidationError):
            pass
        for i in range(len(sc.uncertainties)):
            try:
                Scenario.model_validate(deep_merge(data, overrides_from(ends(i, end))))
            except (ScenarioCheckError, ValidationError) as exc:
                why = first_error("", exc, model=Scenario).removeprefix(": ")
                raise scenario_error(
                    path, ("uncertainties", i, end), f"this end of the range is refused ({why})"
                ) from None
