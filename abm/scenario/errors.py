"""Scenario errors and the one formatter of their one-line messages.

Every refusal of a scenario file reads ``<file>: <field path>: <what was
expected>`` on one line. Errors carry their location as a tuple, as pydantic
does (``("world", "clouds", 1, "name")``), and are formatted in one place,
:func:`first_error`: pydantic validation errors, the cross-checks of
:mod:`abm.scenario.checks` (raised as :class:`ScenarioCheckError`) and YAML
parse errors alike. Loader refusals that are not exceptions of their own
(a missing file, an ``extends`` cycle) go through :func:`scenario_error`.

This module imports neither the schema nor the loader: the schema's
validators raise its errors, and the formatter is given the root model class
(:class:`abm.scenario.schema.Scenario`) to walk a location through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

Loc = tuple[str | int, ...]
"""A field path: mapping keys and field names as text, list positions as integers."""


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message is one line for the user."""


class ScenarioCheckError(ValueError):
    """A check that failed at a field path.

    Raised by the cross-checks and by the schema's own validators; ``loc`` is
    relative to the object being validated (pydantic prepends the object's
    own path when it reports the error). ``str()`` gives ``loc: expected``.

    Args:
        loc: The field path of the offending value.
        expected: What is wrong and what was expected, in the user's terms.
    """

    def __init__(self, loc: Loc, expected: str) -> None:
        super().__init__(tuple(loc), expected)  # args kept for pickling
        self.loc: Loc = tuple(loc)
        self.expected = expected

    def __str__(self) -> str:
        return _joined(self.loc, self.expected)


def format_loc(loc: Loc) -> str:
    """A field path as the user writes it: ``world.clouds[1].name``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _joined(loc: Loc, expected: str) -> str:
    return f"{format_loc(loc)}: {expected}" if loc else expected


def message(path: Path | str, loc: Loc, expected: str) -> str:
    """The one-line message: ``path: field.path: expected`` (no field path: ``path: expected``)."""
    return f"{path}: {_joined(loc, expected)}"


def scenario_error(path: Path | str, loc: Loc, expected: str) -> ScenarioError:
    """A :class:`ScenarioError` whose message names ``path``, ``loc`` and ``expected``."""
    return ScenarioError(message(path, loc, expected))


def first_error(
    path: Path | str,
    exc: ValidationError | ScenarioCheckError | yaml.YAMLError,
    prefix: str = "",
    model: type[BaseModel] | None = None,
) -> str:
    """The one-line message for the first problem of ``exc`` in the file ``path``.

    Args:
        path: The file, as the user named it.
        exc: A pydantic validation error, a failed check, or a YAML parse error.
        prefix: Text put before the field path (a section of the file, e.g. ``"search."``).
        model: The root model ``exc`` validated. Given (the scenario loader passes
            :class:`~abm.scenario.schema.Scenario`), pydantic errors are told in the
            user's terms: ``[i]`` list positions, no discriminator tags, ``expected
            ...`` and unknown keys listing the allowed ones. Without it (batch specs,
            targets, the calibration search) pydantic's own path and wording are kept.

    Returns:
        ``path: field.path: expected``, on one line.
    """
    if isinstance(exc, yaml.YAMLError):
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        return message(path, (), f"unparseable YAML{where}: {problem}")
    if isinstance(exc, ScenarioCheckError):
        return _prefixed(path, prefix, exc.loc, exc.expected)
    err = exc.errors()[0]
    if model is None:
        return f"{path}: {prefix}{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    loc, holder = _walk(model, tuple(err["loc"]))
    kind = err["type"]
    if kind == "extra_forbidden":
        keys = ", ".join(k for k in holder.model_fields if k != "sources") if holder else ""
        hint = f"expected one of: {keys}" if keys else "check the spelling"
        return _prefixed(path, prefix, loc, f"unknown key ({hint})")
    if kind == "value_error":
        raised = (err.get("ctx") or {}).get("error")
        if isinstance(raised, ScenarioCheckError):  # located by the check, below this object
            return _prefixed(path, prefix, (*loc, *raised.loc), raised.expected)
        return _prefixed(path, prefix, loc, str(err["msg"]).removeprefix("Value error, "))
    got = err.get("input")
    got_s = "" if isinstance(got, dict | list) else f", got {got!r}"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return _prefixed(
        path, prefix, loc or ("(top level)",), f"expected {_expected(err)}{got_s}{more}"
    )


def _prefixed(path: Path | str, prefix: str, loc: Loc, expected: str) -> str:
    if not prefix:
        return message(path, loc, expected)
    return f"{path}: {prefix}{_joined(loc, expected)}"


# ----------------------------------------------------- pydantic's locations


def _walk(root: type[BaseModel], loc: Loc) -> tuple[Loc, type[BaseModel] | None]:
    """``loc`` without discriminator tags, and the model holding its last key.

    Pydantic puts the tag of a discriminated union (a shock's ``kind``) in the
    path; the user never wrote it as a key, so it is dropped.
    """
    shown: list[str | int] = []
    current: tuple[type[BaseModel], ...] = (root,)
    holder: type[BaseModel] | None = None
    for n, part in enumerate(loc):
        if isinstance(part, int):
            shown.append(part)
            continue
        tagged = _tagged(current, part) if len(current) > 1 else None
        if tagged is not None:
            current = (tagged,)
            continue
        shown.append(part)
        if n == len(loc) - 1:
            holder = current[0] if len(current) == 1 else None
            break
        field = current[0].model_fields.get(part) if len(current) == 1 else None
        current = _models(field.annotation) if field is not None else ()
    return tuple(shown), holder


def _tagged(models: tuple[type[BaseModel], ...], tag: str) -> type[BaseModel] | None:
    """The member of a union whose ``Literal`` discriminator field has the value ``tag``."""
    for m in models:
        for field in m.model_fields.values():
            if get_origin(field.annotation) is Literal and tag in get_args(field.annotation):
                return m
    return None


def _models(annotation: Any) -> tuple[type[BaseModel], ...]:
    """The model classes an annotation holds (itself, list items, dict values, union members)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return (annotation,)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _models(args[0])
    if origin is dict:
        return _models(args[-1]) if args else ()
    return tuple(m for a in args for m in _models(a))


_EXPECTED = {
    "float_parsing": "a number",
    "float_type": "a number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "date_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "date_type": "a date (YYYY-MM-DD)",
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping of fields",
    "model_attributes_type": "a mapping of fields",
    "missing": "a value (this field is required)",
}


def _expected(err: ErrorDetails) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    bounds = {
        "greater_than_equal": ">=",
        "greater_than": ">",
        "less_than_equal": "<=",
        "less_than": "<",
    }
    if kind in bounds:
        value = next(iter(ctx.values()), "")
        shown = f"{value:g}" if isinstance(value, int | float) else value
        return f"a number {bounds[kind]} {shown}"
    if kind == "literal_error":
        return f"one of {ctx.get('expected', '')}"
    if kind == "string_pattern_mismatch":
        return f"text matching {ctx.get('pattern', '')}"
    if kind in ("too_short", "too_long"):
        limit = ctx.get("min_length", ctx.get("max_length", ""))
        word = "at least" if kind == "too_short" else "at most"
        return f"{word} {limit} item(s) or characters"
    msg = err["msg"]
    return (msg[0].lower() + msg[1:]).removeprefix("input should be ")
