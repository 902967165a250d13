"""A TOML configuration file as frozen pydantic models, its mistakes as sentences with their key path.

A file's shape is declared once, as :class:`Table` models (``extra="forbid"``, frozen, strict: a value has
the type TOML wrote, never one coerced from a string). :func:`read_toml` parses the text and validates it;
the first problem becomes a :class:`~picexchange.errors.ConfigurationError` naming the file, the exact key
path (1-based like the file reads: ``partner[2].certificate[1].path``) and what is wrong in a sentence, with
the other problems counted after it — never pydantic's own text or a traceback.

Rules of meaning that pydantic cannot say (a participant id's form, a country code) raise :func:`problem`
with their own sentence from a validator; it is passed through as written.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import json
import re
import tomllib
import types
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from picexchange.errors import ConfigurationError

__all__ = ["Moment", "NonEmpty", "Table", "Text", "key_path", "problem", "read_toml", "sentence"]

_RULE = "configuration_rule"
_EXAMPLE_MOMENT = "2026-01-01T00:00:00Z"
_LISTED = 5  # problems listed after the first one
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class Table(BaseModel):
    """A TOML table: frozen, every key declared, each value of the type TOML gives (no coercion)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)


def problem(text: str) -> PydanticCustomError:
    """Return a validation error that reads ``text`` as written (raise it from a validator)."""
    # The sentence goes in as a context value, not as the template: a brace in a user's value stays literal.
    return PydanticCustomError(_RULE, "{text}", {"text": text})


def _at_least_one(items: tuple[T, ...]) -> tuple[T, ...]:
    # An after-validator, not min_length: pydantic would add "too short" for a list whose entries all failed.
    if not items:
        raise problem("must list at least one entry")
    return items


def _in_utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


#: A string with surrounding white space removed; empty is refused.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
#: A TOML offset date-time (a time zone is required), as UTC.
Moment = Annotated[AwareDatetime, AfterValidator(_in_utc)]
#: A TOML array (or array of tables) with at least one entry; lax only in taking a list for a tuple.
NonEmpty = Annotated[tuple[T, ...], Field(strict=False), AfterValidator(_at_least_one)]


def read_toml(text: str, model: type[M], *, source: str, nouns: Mapping[type[enum.Enum], str] | None = None) -> M:
    """Parse TOML text and validate it as ``model``.

    Args:
        text: the file's text.
        model: the :class:`Table` model of the whole file.
        source: the file's name, for messages.
        nouns: what a value of each enum is called, for "'x' is not a role (…)"; default "an allowed value".

    Raises:
        ConfigurationError: the text is not TOML (with its line), or the first problem pydantic found, with
            its key path and a sentence; the text then counts the others and lists the next five.

    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"not valid TOML: {exc}", source=source) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [(key_path(error["loc"]), sentence(error, model, nouns or {})) for error in exc.errors()]
        (field, text), rest = problems[0], problems[1:]
        if rest:
            # Enough to fix several at once; a file that is wrong everywhere does not need each listed.
            more = "; ".join(f"{where or '(top level)'}: {what}" for where, what in rest[:_LISTED])
            text = f"{text} (and {len(rest)} more: {more}{'; ...' if len(rest) > _LISTED else ''})"
        raise ConfigurationError(text, source=source, field=field or None) from exc


def key_path(loc: tuple[int | str, ...]) -> str:
    """Return a pydantic location as the file's key path: ``('partner', 1, 'id')`` is ``partner[2].id``."""
    path = ""
    for step in loc:
        # List positions count from 1, as a person counts the [[partner]] tables in the file.
        if isinstance(step, int):
            path += f"[{step + 1}]"
            continue
        # A key that is not a bare TOML key ("a.b", "x y") is written quoted, as in the file.
        name = step if _BARE_KEY.fullmatch(step) else json.dumps(step, ensure_ascii=False)
        path += f".{name}" if path else name
    return path


def sentence(error: ErrorDetails, model: type[BaseModel], nouns: Mapping[type[enum.Enum], str]) -> str:
    """Return what is wrong, in a sentence, for one pydantic error of ``model``.

    Args:
        error: one entry of :meth:`pydantic.ValidationError.errors`.
        model: the model of the whole file, to find the table or enum at the error's location.
        nouns: what a value of each enum is called.

    """
    kind, ctx, value = error["type"], error.get("ctx") or {}, error["input"]
    if kind == _RULE:
        return str(ctx["text"])
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        table = _annotation_at(model, error["loc"][:-1])
        allowed = sorted(table.model_fields) if isinstance(table, type) and issubclass(table, BaseModel) else []
        close = difflib.get_close_matches(str(error["loc"][-1]), allowed, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"unknown field (allowed here: {', '.join(allowed)}){hint}"
    if kind == "enum":
        members = _annotation_at(model, error["loc"])
        if isinstance(members, type) and issubclass(members, enum.Enum):
            noun = nouns.get(members, "an allowed value")
            return f"{value!r} is not {noun} ({', '.join(str(item.value) for item in members)})"
        return f"{value!r} is not one of {ctx.get('expected', 'the allowed values')}"
    if kind == "timezone_aware":
        return f"needs a time zone (e.g. {_EXAMPLE_MOMENT})"
    if kind in ("tuple_type", "list_type") and isinstance(value, dict):
        entries = get_args(_annotation_at(model, error["loc"]))
        item = _bare(entries[0]) if entries else None
        if isinstance(item, type) and issubclass(item, BaseModel):
            # [partner.certificate] is one table; [[partner.certificate]] is the array of them asked for.
            header = ".".join(str(step) for step in error["loc"] if isinstance(step, str))
            return f"must be an array of tables: write [[{header}]], not [{header}]"
    if kind == "string_too_short":
        minimum = ctx.get("min_length", 1)
        return "must not be empty" if minimum == 1 else f"must have at least {minimum} characters"
    wanted = _WANTED.get(kind)
    if wanted is not None:
        return f"must be {wanted.format(**ctx)}, not {_toml_kind(value)}"
    # A kind no file of ours can produce today; its type name still says which rule it is.
    return f"is not valid here ({kind.replace('_', ' ')})"


# Wrong type or out of bounds: "must be <what>, not <what TOML gave>".
_WANTED = {
    "string_type": "a string",
    "tuple_type": "a list",
    "list_type": "a list",
    "model_type": "a table",
    "dict_type": "a table",
    "datetime_type": f"a date-time with time zone (e.g. {_EXAMPLE_MOMENT})",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "greater_than": "greater than {gt}",
    "greater_than_equal": "at least {ge}",
    "less_than": "less than {lt}",
    "less_than_equal": "at most {le}",
    "literal_error": "{expected}",
}


def _toml_kind(value: object) -> str:
    # Name what the file holds in TOML's words, so the reader can find it.
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, int | float):
        return f"{value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, dt.datetime):
        return "a local date-time" if value.tzinfo is None else "a date-time"
    if isinstance(value, dt.date):
        return "a date"
    if isinstance(value, dt.time):
        return "a time"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _annotation_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> Any:
    # Follow the location through the models' fields (and into lists) to the type declared there.
    annotation: Any = model
    for step in loc:
        annotation = _bare(annotation)
        if isinstance(step, int) and get_origin(annotation) in (tuple, list):
            annotation = get_args(annotation)[0]
        elif isinstance(step, str) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if step not in annotation.model_fields:
                return None
            annotation = annotation.model_fields[step].annotation
        else:
            return None
    return _bare(annotation)


def _bare(annotation: Any) -> Any:
    # Strip Annotated[...] and the None of an optional value.
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation
