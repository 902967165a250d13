"""The error tree: every refusal answered to its causer is a CodedError carrying its problems as ``issues``."""

from __future__ import annotations

import pytest

from picexchange import errors
from picexchange.errors import (
    BusinessRuleError,
    CodedError,
    InvalidRequest,
    Issue,
    MessageError,
    NotFound,
    RequestError,
    SchemaError,
    SignatureError,
    TrustError,
)


def _subclasses(root: type[Exception]) -> set[type[Exception]]:
    found: set[type[Exception]] = set()
    for cls in root.__subclasses__():
        found |= {cls} | _subclasses(cls)
    return found


def test_every_message_and_request_error_shares_the_coded_base() -> None:
    coded = _subclasses(CodedError)
    assert {MessageError, RequestError} <= coded
    assert _subclasses(MessageError) | _subclasses(RequestError) <= coded
    # Nothing outside the coded base carries a code and a status the gateway would answer with.
    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type) and "http_status" in dir(cls):
            assert issubclass(cls, CodedError), name


@pytest.mark.parametrize(
    "error",
    [
        SignatureError("the signature does not verify", path="/Envelope/Signature", line=3),
        NotFound("no such message", path="path.message_id"),
        InvalidRequest("the cursor is not a number"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_error_without_a_list_is_its_own_single_issue(error: CodedError) -> None:
    assert error.listed == ()
    assert error.issues == (Issue(text=error.text, path=error.path, line=error.line),)


def test_a_trust_refusal_names_its_rule_as_the_issue_rule_id() -> None:
    error = TrustError("unknown sender MY:DOE", reason="unknown-sender", message_id="m-1")
    assert error.issues == (Issue(text="unknown sender MY:DOE", rule_id="unknown-sender"),)
    assert (error.reason, error.rule_id, error.message_id) == ("unknown-sender", "unknown-sender", "m-1")


def test_listed_issues_are_the_issues_and_the_first_gives_text_path_line() -> None:
    found = (Issue(text="'Y99' is not a code", path="/a/b", line=7, rule_id="xsd"), Issue(text="missing c"))
    for error in (SchemaError(found), BusinessRuleError(list(found)), InvalidRequest("bad", issues=found)):
        assert error.issues == error.listed == found, type(error).__name__
    schema = SchemaError(found, message_id="m-2")
    assert (schema.text, schema.path, schema.line, schema.message_id) == (
        "'Y99' is not a code (and 1 more)",
        "/a/b",
        7,
        "m-2",
    )
    assert BusinessRuleError(found).violations == found  # the Basel word for the same tuple


def test_an_empty_list_still_gives_one_issue() -> None:
    assert SchemaError([]).issues == (Issue(text="document is not valid"),)
    assert BusinessRuleError(()).issues == (Issue(text="business rule violated"),)
