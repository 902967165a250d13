"""The whole job from picexchange's public names: now defaults to the clock, str input, the library's own errors."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest

import picexchange as px
from picexchange.testpki import TestPki, make_test_pki

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "messages" / "plastic-au-my-01-notification.xml"


@pytest.fixture(scope="module")
def pki() -> TestPki:
    now = dt.datetime.now(dt.UTC)
    return make_test_pki(
        ["AU:DCCEEW", "MY:DOE"], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=9)
    )


def _trust(pki: TestPki, me: str) -> px.TrustStore:
    return px.TrustStore.of([item.partner for item in pki.participants], me=pki[me].identity)


def _notification() -> Any:
    return px.from_xml(SAMPLE.read_bytes(), px.Envelope).document


# ------------------------------------------------------------------------------------------ now defaults


def test_seal_without_now_is_created_at_the_current_time(pki: TestPki) -> None:
    """px.seal's Created is the wall clock's UTC time when no now is given."""
    before = dt.datetime.now(dt.UTC)
    sealed = px.seal(_notification(), me=pki["AU:DCCEEW"].identity, to="MY:DOE")
    after = dt.datetime.now(dt.UTC)
    assert before <= sealed.envelope.header.created <= after
    assert sealed.envelope.header.created.utcoffset() == dt.timedelta(0)


def test_the_whole_exchange_runs_without_a_now(pki: TestPki) -> None:
    """seal -> accept (our [[me]] from the registry) -> receipt_for -> read_reply, and verify, with no now."""
    au, my = _trust(pki, "AU:DCCEEW"), _trust(pki, "MY:DOE")
    sealed = px.seal(_notification(), me=pki["AU:DCCEEW"].identity, to="MY:DOE")
    inbound = px.accept(sealed.raw, trust=my)
    assert inbound.digest == sealed.digest and inbound.signer.id == "AU:DCCEEW"
    assert px.verify(sealed.raw, trust=my, freshness=px.Freshness()).signer.id == "AU:DCCEEW"
    reply = px.receipt_for(inbound, me=my.hosted)  # type: ignore[arg-type]
    receipted = px.read_reply(reply.raw, sent=sealed, trust=au)
    assert receipted.receipt.received_digest.value == sealed.digest


def test_an_error_reply_without_a_now_reaches_the_sender_as_a_remote_error(pki: TestPki) -> None:
    """accept refuses a changed message; error_for signs the refusal; read_reply raises it as RemoteError."""
    au, my = _trust(pki, "AU:DCCEEW"), _trust(pki, "MY:DOE")
    sealed = px.seal(_notification(), me=pki["AU:DCCEEW"].identity, to="MY:DOE")
    tampered = sealed.raw.replace(b">160<", b">1600<")
    with pytest.raises(px.SignatureError) as refused:
        px.accept(tampered, trust=my)
    reply = px.error_for(refused.value, raw=tampered, me=my.hosted)  # type: ignore[arg-type]
    with pytest.raises(px.RemoteError) as remote:
        px.read_reply(reply.raw, sent=sealed, trust=au)
    assert remote.value.code == "signature"


def test_accept_needs_an_identity_when_the_registry_names_none(pki: TestPki) -> None:
    """A registry without [[me]] and no me=: a ConfigurationError that says what to give."""
    sealed = px.seal(_notification(), me=pki["AU:DCCEEW"].identity, to="MY:DOE")
    anonymous = px.TrustStore.of([item.partner for item in pki.participants])
    with pytest.raises(px.ConfigurationError, match=r"no \[\[me\]\]: give me="):
        px.accept(sealed.raw, trust=anonymous)
    assert px.accept(sealed.raw, trust=anonymous, me=pki["MY:DOE"].identity).digest == sealed.digest


def test_a_naive_now_is_refused(pki: TestPki) -> None:
    """A now without a time zone is a programming error, refused before anything is signed."""
    with pytest.raises(ValueError, match="timezone-aware"):
        px.seal(_notification(), me=pki["AU:DCCEEW"].identity, to="MY:DOE", now=dt.datetime(2026, 1, 1))  # noqa: DTZ001


# ------------------------------------------------------------------------------------------------ reopen


def test_reopen_returns_our_signed_bytes_unchanged_and_refuses_others(pki: TestPki) -> None:
    """Our sealed bytes read back: same digest and id; the partner's message: unexpected-sender."""
    au = _trust(pki, "AU:DCCEEW")
    sealed = px.seal(_notification(), me=pki["AU:DCCEEW"].identity, to="MY:DOE")
    again = px.reopen(sealed.raw, trust=au)
    assert (again.raw, again.digest, again.message_id) == (sealed.raw, sealed.digest, sealed.message_id)
    theirs = px.seal(_notification(), me=pki["MY:DOE"].identity, to="AU:DCCEEW")
    with pytest.raises(px.TrustError) as refused:
        px.reopen(theirs.raw, trust=au)
    assert refused.value.reason == "unexpected-sender"
    with pytest.raises(px.SignatureError):
        px.reopen(sealed.raw.replace(b">160<", b">1600<"), trust=au)


# ------------------------------------------------------------------------------------------------ str input


def test_validate_and_from_xml_take_a_str() -> None:
    """A str is encoded UTF-8: the same report and model as from the bytes."""
    text = SAMPLE.read_text(encoding="utf-8")
    assert px.validate(text).ok
    assert px.from_xml(text) == px.from_xml(SAMPLE.read_bytes())
    assert px.from_json(px.to_json(px.from_xml(text)).decode("utf-8")) == px.from_xml(text)


def test_accept_and_verify_take_a_str(pki: TestPki) -> None:
    """The signed bytes as text (UTF-8) verify and are accepted with the same digest."""
    my = _trust(pki, "MY:DOE")
    sealed = px.seal(_notification(), me=pki["AU:DCCEEW"].identity, to="MY:DOE")
    text = sealed.raw.decode("utf-8")
    assert px.accept(text, trust=my).digest == sealed.digest
    assert px.verify(text, trust=my).signer.id == "AU:DCCEEW"


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "UTF-16", "windows-1252"])
def test_a_str_declaring_another_encoding_is_refused_saying_why(encoding: str) -> None:
    """validate reports it at the parse stage, from_xml raises ParseError; both name the encoding."""
    text = SAMPLE.read_text(encoding="utf-8").replace("encoding='UTF-8'", f"encoding='{encoding}'", 1)
    assert f"encoding='{encoding}'" in text
    report = px.validate(text)
    assert report.stage == "parse"
    assert f"names the encoding '{encoding}'" in report.issues[0].text and "pass the bytes" in report.issues[0].text
    with pytest.raises(px.ParseError, match="given as text"):
        px.from_xml(text)


def test_a_str_declaring_utf8_in_any_spelling_is_taken() -> None:
    """utf-8, UTF8 and no declaration at all are what a str encoded UTF-8 is."""
    text = SAMPLE.read_text(encoding="utf-8")
    for declared in ("utf-8", "UTF8"):
        assert px.validate(text.replace("encoding='UTF-8'", f"encoding='{declared}'", 1)).ok
    assert px.validate(text.split("?>", 1)[1]).ok


def test_a_str_that_cannot_be_encoded_is_a_parse_error() -> None:
    """A lone surrogate has no UTF-8 form: a ParseError, not a UnicodeEncodeError."""
    with pytest.raises(px.ParseError, match="cannot be encoded UTF-8"):
        px.from_xml("<a>\ud800</a>")


# --------------------------------------------------------------------------- pydantic errors as our own


def test_building_a_model_with_a_bad_value_raises_a_schema_error_with_its_path() -> None:
    """Direct construction: SchemaError (a MessageError), the element path, never pydantic's ValidationError."""
    with pytest.raises(px.SchemaError) as caught:
        px.Receipt(ref_to_message_id="not-a-uuid", received_digest={"value": "x"}, received_at="2026-01-01T00:00:00Z")  # type: ignore[arg-type]
    paths = [issue.path for issue in caught.value.issues]
    assert "/Receipt/RefToMessageId" in paths


def test_a_bad_item_of_a_required_list_is_one_issue_and_an_empty_list_another() -> None:
    """A list holding one bad code is blamed on that code only (not also "at least 1 required, found 0", which is
    how pydantic counts it); a list left empty is the list's own issue."""
    values = _notification().model_dump()
    with pytest.raises(px.SchemaError) as caught:
        px.Notification.model_validate({**values, "operation": ["R99"], "packaging_type": []})
    found = [(issue.path, issue.text) for issue in caught.value.issues]
    assert found == [
        ("/Notification/PackagingType", "at least 1 required, found 0"),
        ("/Notification/Operation", "'R99' is not a Basel Annex IV disposal or recovery operation (D/R code)"),
    ]


def test_model_validate_with_a_broken_rule_raises_a_business_rule_error() -> None:
    """model_validate of a dict: a cross-field rule broken is a BusinessRuleError with the rule id and path."""
    values = _notification().model_dump()
    with pytest.raises(px.BusinessRuleError) as caught:
        px.Notification.model_validate({**values, "last_departure": dt.date(2020, 1, 1)})
    (issue,) = caught.value.violations
    assert (issue.path, issue.rule_id) == ("/Notification/LastDeparture", "V-A 6")


def test_wrap_with_a_bad_header_value_names_the_header_element() -> None:
    """Envelope.wrap validates the envelope in one go: the path starts at /Envelope/Header."""
    with pytest.raises(px.SchemaError) as caught:
        px.Envelope.wrap(
            _notification(),
            message_id=uuid.uuid4(),
            conversation_id="AU2026-0042",
            sender="AU:DCCEEW",
            receiver="Malaysia",
            created=dt.datetime.now(dt.UTC),
        )
    assert [issue.path for issue in caught.value.issues] == ["/Envelope/Header/Receiver"]


def test_seal_to_a_bad_participant_id_raises_a_schema_error(pki: TestPki) -> None:
    """px.seal builds the envelope: a receiver that is no participant id is refused at its header path."""
    with pytest.raises(px.SchemaError) as caught:
        px.seal(_notification(), me=pki["AU:DCCEEW"].identity, to="nobody")
    assert caught.value.issues[0].path == "/Envelope/Header/Receiver"


def test_from_json_with_a_bad_value_raises_a_schema_error_with_its_path() -> None:
    """from_json: the library's error with the element path, as before, now through the models themselves."""
    data = px.to_json(_notification()).replace(b'"shipment_mode": "multiple"', b'"shipment_mode": "sometimes"')
    with pytest.raises(px.SchemaError) as caught:
        px.from_json(data)
    assert caught.value.issues[0].path == "/Notification/ShipmentMode"
