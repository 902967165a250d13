"""A TOML file read as frozen pydantic models: each kind of pydantic error becomes a sentence at its key path."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import Field, HttpUrl

from picexchange.errors import ConfigurationError
from picexchange.files.document import Moment, NonEmpty, Table, Text, read_toml


class _Outbox(Table):
    concurrency: Annotated[int, Field(gt=0, le=64)] = 4
    backoff: Annotated[float, Field(ge=0.5, lt=60.0)] = 1.0
    enabled: bool = True
    mode: Literal["push", "pull"] = "push"


class _Site(Table):
    name: Text
    home: HttpUrl | None = None
    since: Moment | None = None


class _File(Table):
    outbox: _Outbox = _Outbox()
    site: NonEmpty[_Site] = (_Site(name="default"),)


def _refused(text: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        read_toml(text, _File, source="gateway.toml")
    return caught.value


@pytest.mark.parametrize(
    ("text", "field", "sentence"),
    [
        ('[outbox]\nconcurrency = "4"', "outbox.concurrency", "must be a whole number, not the string '4'"),
        ("[outbox]\nconcurrency = 4.0", "outbox.concurrency", "must be a whole number, not 4.0"),
        ("[outbox]\nconcurrency = 0", "outbox.concurrency", "must be greater than 0, not 0"),
        ("[outbox]\nconcurrency = 65", "outbox.concurrency", "must be at most 64, not 65"),
        ("[outbox]\nbackoff = 0.1", "outbox.backoff", "must be at least 0.5, not 0.1"),
        ("[outbox]\nbackoff = 60.0", "outbox.backoff", "must be less than 60.0, not 60.0"),
        ("[outbox]\nbackoff = true", "outbox.backoff", "must be a number, not true"),
        ('[outbox]\nenabled = "yes"', "outbox.enabled", "must be true or false, not the string 'yes'"),
        ('[outbox]\nmode = "poll"', "outbox.mode", "must be 'push' or 'pull', not the string 'poll'"),
        ("outbox = [1]", "outbox", "must be a table, not a list"),
        (
            '[[site]]\nname = "a"\nsince = 10:00:00',
            "site[1].since",
            "must be a date-time with time zone (e.g. 2026-01-01T00:00:00Z), not a time",
        ),
        (
            '[[site]]\nname = "a"\n[[site]]\nname = "b"\nhome = "not a url"',
            "site[2].home",
            "is not valid here (url parsing)",
        ),
        (
            '[[site]]\nname = "a"\nnmae = "b"',
            "site[1].nmae",
            "unknown field (allowed here: home, name, since); did you mean name?",
        ),
        (
            "[[site]]\nlabel = 1",
            "site[1].name",
            "is required (and 1 more: site[1].label: unknown field (allowed here: home, name, since))",
        ),
    ],
    ids=[
        "int-from-string",
        "int-from-float",
        "greater-than",
        "less-than-equal",
        "greater-than-equal",
        "less-than",
        "float-from-bool",
        "bool-type",
        "literal",
        "table-type",
        "datetime-from-time",
        "unmapped-kind-names-the-rule",
        "unknown-key-with-a-close-match",
        "several-problems",
    ],
)
def test_each_error_kind_reads_as_a_sentence(text: str, field: str, sentence: str) -> None:
    """No pydantic wording: the key path, then what must hold and what the file holds instead."""
    error = _refused(text)
    assert (error.source, error.field, error.text) == ("gateway.toml", field, sentence)
    assert "Input should" not in error.text and "pydantic" not in error.text


def test_after_the_first_problem_five_more_are_listed() -> None:
    """A file wrong everywhere says how many problems it has and lists the next five, not all of them."""
    error = _refused("[[site]]\n" * 8)
    assert error.field == "site[1].name"
    assert error.text == (
        "is required (and 7 more: site[2].name: is required; site[3].name: is required; site[4].name: is required; "
        "site[5].name: is required; site[6].name: is required; ...)"
    )


def test_a_key_that_is_not_bare_is_quoted_in_the_path() -> None:
    """A dotted or spaced key reads as the file writes it, so the path stays unambiguous."""
    error = _refused('[outbox]\n"lease.seconds" = 3')
    assert error.field == 'outbox."lease.seconds"' and error.text.startswith("unknown field")


def test_a_file_that_is_not_toml_names_its_line() -> None:
    """tomllib's complaint keeps its line and column."""
    error = _refused("[outbox\n")
    assert error.field is None and error.text.startswith("not valid TOML: ") and "line 1" in error.text


def test_a_valid_file_is_frozen_values_with_defaults() -> None:
    """Absent keys take their defaults; date-times are UTC; tables cannot be changed afterwards."""
    document = read_toml('[[site]]\nname = " a "\nsince = 2026-01-01T09:00:00+09:00', _File, source="gateway.toml")
    assert document.outbox == _Outbox() and document.site[0].name == "a"
    assert document.site[0].since is not None and document.site[0].since.isoformat() == "2026-01-01T00:00:00+00:00"
    with pytest.raises(ValueError, match="frozen"):
        document.outbox.concurrency = 8  # type: ignore[misc]
