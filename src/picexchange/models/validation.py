"""pydantic's validation errors in the words of the XML: element paths, sentences and rule ids.

A model refuses bad values with a :class:`pydantic.ValidationError`; nothing outside the models sees one.
:func:`refusal_of` turns it into the library's own :class:`~picexchange.errors.SchemaError` (a value of the
wrong form, a missing or unknown element) or :class:`~picexchange.errors.BusinessRuleError` (only cross-field
rules broken), each problem an :class:`~picexchange.errors.Issue` with the element path
(``/Notification/LastDeparture``) and, where the values came from a document, its line
(:mod:`picexchange.codec` passes them). Direct construction (``Notification(...)``,
``Notification.model_validate({...})``, ``Envelope.wrap(...)``), :func:`picexchange.codec.from_json` and
:func:`picexchange.codec.decode` all refuse through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from picexchange.errors import BusinessRuleError, Issue, SchemaError
from picexchange.models.base import Binding, Rule, binding

if TYPE_CHECKING:
    import pydantic

    from picexchange.models.base import XmlModel

__all__ = ["Loc", "issues_of", "line_of", "model_path", "refusal_of"]

#: A location in a model: field names and list indices, as pydantic reports it.
Loc = tuple[str | int, ...]


@cache
def _by_field(cls: type[XmlModel]) -> Mapping[str, Binding]:
    return {item.field: item for item in binding(cls)}


def model_path(cls: type[XmlModel], loc: Iterable[str | int], values: object = None) -> str:
    """Return the element path of a model location (field names and indices) below a root class.

    Like :func:`picexchange.codec.element_path`, a repeated element is numbered ``[n]`` only where it occurs more
    than once; ``values`` (the field values being validated) tells how often it occurs. Without them, every index
    is shown.
    """
    path = "/" + cls.__name__
    current: type[XmlModel] | None = cls
    node = values
    for key in loc:
        if isinstance(key, int):
            if not isinstance(node, list | tuple) or len(node) > 1:
                path += f"[{key + 1}]"
            node = node[key] if isinstance(node, list | tuple) and 0 <= key < len(node) else None
            continue
        node = node.get(key) if isinstance(node, dict) else None
        item = _by_field(current).get(key) if current is not None else None
        if item is None:
            path += f"/{key}"
            current = None
            continue
        if item.kind == "attribute":
            path += f"/@{item.local_name}"
        elif item.kind == "element":
            path += f"/{item.local_name}"
        current = item.model
    return path


def line_of(lines: Mapping[Loc, int], loc: Loc, default: int | None) -> int | None:
    """Return the line of ``loc`` or of its nearest ancestor that has one, else ``default``."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return default


def issues_of(
    error: pydantic.ValidationError,
    cls: type[XmlModel],
    lines: Mapping[Loc, int],
    root_line: int | None,
    values: object,
) -> tuple[list[Issue], bool]:
    """Translate pydantic's errors; the flag is True if every one is a cross-field rule."""
    issues: list[Issue] = []
    only_rules = True
    details = error.errors(include_url=False)
    # pydantic counts only the items that validated, so a list whose one item is bad is also "too short": that
    # second sentence ("at least 1 required, found 0") would blame the list for what its item's issue says.
    failed_items = {
        loc[:index]
        for loc in (tuple(detail["loc"]) for detail in details)
        for index, key in enumerate(loc)
        if isinstance(key, int)
    }
    for detail in details:
        loc: Loc = tuple(detail["loc"])
        kind = detail["type"]
        if kind == "too_short" and loc in failed_items:
            continue
        context = detail.get("ctx") or {}
        if kind == "business_rule":
            for rule in context.get("violations", ()):
                assert isinstance(rule, Rule)
                where = (*loc, *rule.field)
                issues.append(
                    Issue(
                        text=rule.text,
                        path=model_path(cls, where, values),
                        line=line_of(lines, where, root_line),
                        rule_id=rule.rule_id,
                    )
                )
            continue
        only_rules = False
        if kind == "missing":
            field = loc[-1] if loc else ""
            name = _by_field(_owner(cls, loc[:-1])).get(str(field)) if loc else None
            label = name.local_name if name is not None else str(field)
            what = "attribute" if name is not None and name.kind == "attribute" else "element"
            text = f"required {what} {label} is missing"
            line = line_of(lines, loc[:-1], root_line)
        elif kind == "extra_forbidden":
            text = f"unknown element {loc[-1]}"
            line = line_of(lines, loc[:-1], root_line)
        else:
            text = _sentence(detail)
            line = line_of(lines, loc, root_line)
        issues.append(Issue(text=text, path=model_path(cls, loc, values), line=line, rule_id="model"))
    return issues, only_rules


_KIND_WORDS: Mapping[str, str] = {
    "date_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "date_type": "a date (YYYY-MM-DD)",
    "datetime_parsing": "a date and time with time zone",
    "datetime_from_date_parsing": "a date and time with time zone",
    "timezone_aware": "a date and time with time zone",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "decimal_parsing": "a decimal number",
    "decimal_type": "a decimal number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "uuid_parsing": "a UUID",
    "uuid_type": "a UUID",
    "string_type": "text",
    "model_type": "a structure of elements",
    "model_attributes_type": "a structure of elements",
    "tuple_type": "a list",
}


def _sentence(detail: Any) -> str:
    """Return pydantic's error as a sentence in the words of the XML (no Python types, no reprs)."""
    kind = detail["type"]
    context = detail.get("ctx") or {}
    given = detail.get("input")
    shown = f"'{given}'" if isinstance(given, str | int | float) and not isinstance(given, bool) else "the value"
    if kind in _KIND_WORDS:
        return f"{shown} is not {_KIND_WORDS[kind]}"
    if kind == "enum":
        return f"{shown} is not one of {context.get('expected', '')}".replace("'", "")
    if kind == "too_short":
        return f"at least {context.get('min_length')} required, found {context.get('actual_length')}"
    return str(detail["msg"])


def _owner(cls: type[XmlModel], loc: Loc) -> type[XmlModel]:
    current = cls
    for key in loc:
        if isinstance(key, int):
            continue
        item = _by_field(current).get(key)
        if item is None or item.model is None:
            return current
        current = item.model
    return current


def refusal_of(
    error: pydantic.ValidationError,
    cls: type[XmlModel],
    values: object,
    *,
    lines: Mapping[Loc, int] | None = None,
    root_line: int | None = None,
) -> SchemaError | BusinessRuleError:
    """Return the library's error for pydantic's refusal of ``values`` as a ``cls``: every problem with its path.

    Args:
        error: what pydantic raised.
        cls: the model class that was validated; paths start at its element.
        values: the values given (they tell which repeated elements occur more than once).
        lines: the source line of each location, when the values were read from a document.
        root_line: the line of the root element, the fallback for a location without a line.

    Returns:
        A :class:`BusinessRuleError` when only cross-field rules are broken, else a :class:`SchemaError`.

    """
    found, only_rules = issues_of(error, cls, lines or {}, root_line, values)
    return BusinessRuleError(found) if only_rules else SchemaError(found)
