"""The sample corpus: valid storylines and maximal messages, invalid documents with their expected reports.

``samples/`` is written by ``scripts/make_samples.py``; vendors test against these files, so they must be
valid (or invalid) exactly as stated, with both validation engines, and round-trip without loss.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lxml import etree

from picexchange import codec, schemas
from picexchange.errors import Issue
from picexchange.models.base import XmlModel, binding
from picexchange.models.envelope import Envelope, Error, Header, MessageType, Receipt

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = ROOT / "samples" / "messages"
INVALID = ROOT / "samples" / "invalid"
EXPECTED: dict[str, dict[str, Any]] = json.loads((INVALID / "expected.json").read_text("utf-8"))

VALID_FILES = sorted(MESSAGES.glob("*.xml"))
MAX_FILES = sorted(MESSAGES.glob("max-*.xml"))
STORY_FILES = [path for path in VALID_FILES if not path.name.startswith("max-")]


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def envelope(path: Path) -> Envelope:
    return codec.from_xml(path.read_bytes(), Envelope)


def canonical(raw: bytes) -> bytes:
    """Return the C14N form of ``raw`` with insignificant white space removed."""
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True, load_dtd=False)
    text: bytes = etree.tostring(etree.fromstring(raw, parser), method="c14n")
    return text


# ------------------------------------------------------------------------------------------ valid samples


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda path: path.name)
@pytest.mark.parametrize("engine", ["lxml", "xmlschema"])
def test_sample_message_is_valid(path: Path, engine: schemas.Engine) -> None:
    """Every file in samples/messages passes the schema and the rules with either engine."""
    report = schemas.validate(path.read_bytes(), engine=engine)
    assert report.ok, "\n".join(report.lines(path.name))
    assert report.stage == "ok"
    assert isinstance(report.document, Envelope)


@pytest.mark.parametrize("files", [STORY_FILES, MAX_FILES], ids=["storylines", "maximal"])
def test_every_message_type_has_a_sample(files: list[Path]) -> None:
    """The storylines hold at least one message of every type, and there is a maximal sample of each."""
    types = {envelope(path).header.message_type for path in files}
    assert types == set(MessageType)


def test_sample_names_say_their_message_type() -> None:
    """A file is named after the message it holds: <storyline>-<nn>-<type>.xml or max-<type>.xml."""
    for path in VALID_FILES:
        message_type = envelope(path).header.message_type.value
        assert re.fullmatch(rf"(max|[a-z]+(-[a-z]+)+-[0-9]{{2}})-{kebab(message_type)}\.xml", path.name), path.name


def test_storylines_are_numbered_without_gaps() -> None:
    """Each storyline's files are numbered 01, 02, ... in the order of the flow, one conversation each."""
    stories: dict[str, list[int]] = {}
    for path in STORY_FILES:
        match = re.match(r"(?P<story>.+?)-(?P<number>[0-9]{2})-", path.name)
        assert match is not None
        stories.setdefault(match["story"], []).append(int(match["number"]))
    assert len(stories) >= 2
    for story, numbers in stories.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), story
        conversations = {envelope(path).header.conversation_id for path in MESSAGES.glob(f"{story}-*.xml")}
        assert len(conversations) == 1, story


def test_message_ids_are_unique() -> None:
    """No two samples share a message id (a gateway would refuse the second as a conflict)."""
    ids = [envelope(path).header.message_id for path in VALID_FILES]
    assert len(ids) == len(set(ids))


def test_replies_answer_a_message_of_their_conversation() -> None:
    """A storyline message with a RefToMessageId answers an earlier message of the same conversation."""
    seen: dict[Any, Header] = {}
    for path in STORY_FILES:
        header = envelope(path).header
        if header.ref_to_message_id is not None:
            answered = seen.get(header.ref_to_message_id)
            assert answered is not None, f"{path.name} answers a message not in the storyline before it"
            assert answered.conversation_id == header.conversation_id
            assert answered.created <= header.created
            assert {header.sender, header.receiver} == {answered.sender, answered.receiver}
        seen[header.message_id] = header


def test_receipts_and_errors_reply_to_a_sample() -> None:
    """Every Receipt and Error of a storyline answers a sample file; a Receipt carries its SHA-256."""
    by_id = {envelope(path).header.message_id: path for path in STORY_FILES}
    replies = 0
    for path in STORY_FILES:
        message = envelope(path)
        document = message.document
        if not isinstance(document, Receipt | Error):
            continue
        replies += 1
        assert document.ref_to_message_id is not None
        assert document.ref_to_message_id == message.header.ref_to_message_id
        answered = by_id[document.ref_to_message_id]
        assert envelope(answered).header.utility_block is message.header.utility_block
        if isinstance(document, Receipt):
            digest = base64.b64encode(hashlib.sha256(answered.read_bytes()).digest()).decode("ascii")
            assert document.received_digest.value == digest, f"{path.name} is not the receipt of {answered.name}"
    assert replies >= 2


# ------------------------------------------------------------------------------------------ maximal samples


@pytest.mark.parametrize("message_type", list(MessageType), ids=str)
def test_maximal_sample_round_trips_through_xml(message_type: MessageType) -> None:
    """XML -> model -> XML -> model loses nothing: equal models and the same canonical XML tree."""
    raw = (MESSAGES / f"max-{kebab(message_type.value)}.xml").read_bytes()
    model = codec.from_xml(raw, Envelope)
    again = codec.to_xml(model)
    assert codec.from_xml(again) == model
    assert canonical(again) == canonical(raw)


@pytest.mark.parametrize("message_type", list(MessageType), ids=str)
def test_maximal_sample_round_trips_through_json(message_type: MessageType) -> None:
    """XML -> model -> JSON -> model gives the same model, and that model writes the same XML tree."""
    raw = (MESSAGES / f"max-{kebab(message_type.value)}.xml").read_bytes()
    model = codec.from_xml(raw, Envelope)
    back = codec.from_json(codec.to_json(model))
    assert back == model
    assert canonical(codec.to_xml(back)) == canonical(raw)


def _reachable(cls: type[XmlModel]) -> Iterator[type[XmlModel]]:
    seen: list[type[XmlModel]] = []
    todo = [cls]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        todo.extend(item.model for item in binding(current) if item.model is not None)
    yield from seen


def _occurrences(model: XmlModel, found: dict[tuple[type[XmlModel], str], int]) -> None:
    """Record, per (class, field), the most values the field holds in any one instance."""
    for item in binding(type(model)):
        value = getattr(model, item.field)
        values = value if item.repeated else (() if value is None else (value,))
        key = (type(model), item.field)
        found[key] = max(found.get(key, 0), len(values))
        for one in values:
            if isinstance(one, XmlModel):
                _occurrences(one, found)


@pytest.mark.parametrize("message_type", list(MessageType), ids=str)
def test_maximal_sample_fills_every_field(message_type: MessageType) -> None:
    """Every optional element of the header and the document is present, every repeated one twice."""
    message = envelope(MESSAGES / f"max-{kebab(message_type.value)}.xml")
    found: dict[tuple[type[XmlModel], str], int] = {}
    _occurrences(message.header, found)
    _occurrences(message.document, found)
    missing = []
    classes: list[type[XmlModel]] = [Header, *_reachable(type(message.document))]
    for cls in classes:
        for item in binding(cls):
            wanted = 2 if item.repeated else 1 if item.min_occurs == 0 else 0
            if found.get((cls, item.field), 0) < wanted:
                missing.append(f"{cls.__name__}.{item.field} (wanted {wanted})")
    assert not missing, f"not filled in max-{kebab(message_type.value)}.xml: {', '.join(missing)}"


@pytest.mark.parametrize("path", MAX_FILES, ids=lambda path: path.name)
@pytest.mark.parametrize("engine", ["lxml", "xmlschema"])
def test_sample_without_prefixes_is_the_same_message(path: Path, engine: schemas.Engine) -> None:
    """Written with default namespaces instead of prefixes, a sample is as valid and decodes to the same model."""
    plain: bytes = _make_samples().default_namespaces(path.read_bytes())
    assert b"<Envelope xmlns=" in plain
    report = schemas.validate(plain, engine=engine)
    assert report.ok, "\n".join(report.lines(path.name))
    assert report.document == codec.from_xml(path.read_bytes())


# ------------------------------------------------------------------------------------------ invalid samples


def test_every_invalid_sample_has_an_expected_report() -> None:
    """expected.json describes exactly the invalid files, at least 15 of them, each from a valid sample."""
    assert set(EXPECTED) == {path.name for path in INVALID.glob("*.xml")}
    assert len(EXPECTED) >= 15
    for name, expected in EXPECTED.items():
        assert (MESSAGES / expected["source"]).is_file(), name
        assert expected["stage"] in {"parse", "schema", "rules"}
        assert expected["issues"], name


def _report(name: str, engine: schemas.Engine) -> schemas.Report:
    return schemas.validate((INVALID / name).read_bytes(), engine=engine)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_sample_gives_its_expected_report(name: str) -> None:
    """validate() reports the expected stage and exactly the expected issues: line, path and text."""
    expected = EXPECTED[name]
    report = _report(name, "lxml")
    assert not report.ok and report.document is None
    assert report.stage == expected["stage"], "\n".join(report.lines(name))
    assert len(report.issues) == len(expected["issues"]), "\n".join(report.lines(name))
    for issue, wanted in zip(report.issues, expected["issues"], strict=True):
        assert (issue.line, issue.path) == (wanted["line"], wanted["path"]), "\n".join(report.lines(name))
        assert wanted["text"] in issue.text


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_both_engines_agree_on_invalid_sample(name: str) -> None:
    """The xmlschema engine rejects the same document at the same stage, at the same lines and paths."""
    by_lxml = _report(name, "lxml")
    by_xmlschema = _report(name, "xmlschema")
    assert by_xmlschema.stage == by_lxml.stage
    assert {(i.line, i.path) for i in by_xmlschema.issues} == {(i.line, i.path) for i in by_lxml.issues}, "\n".join(
        [*by_lxml.lines("lxml"), *by_xmlschema.lines("xmlschema")]
    )


# ------------------------------------------------------------------------------------------ what people read

_NOT_A_SENTENCE = re.compile(r"[{}]|Decimal\(|Input should be|object at 0x|Xsd[A-Z]\w*\(|\[facet '|\bNone\b")


def _people_read() -> Iterator[tuple[str, Issue]]:
    for name in sorted(EXPECTED):
        for engine in ("lxml", "xmlschema"):
            for issue in _report(name, engine).issues:
                yield f"{name} ({engine})", issue
    for path in VALID_FILES:
        document = envelope(path).document
        if isinstance(document, Error):
            yield path.name, Issue(text=document.text)
            for item in document.issue:
                yield path.name, Issue(text=item.text, path=item.path)


def test_messages_people_read_are_sentences() -> None:
    """Issue texts carry no braces, Python reprs or pydantic boilerplate, and name where they are."""
    for where, issue in _people_read():
        assert issue.text.strip() == issue.text and issue.text, where
        assert not _NOT_A_SENTENCE.search(issue.text), f"{where}: {issue.text}"
    for name in EXPECTED:
        for issue in _report(name, "lxml").issues:
            assert issue.line is not None, f"{name}: an issue without a line: {issue}"


# ------------------------------------------------------------------------------------------ the generator


@cache
def _make_samples() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_samples", ROOT / "scripts" / "make_samples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Its dataclasses look their module up in sys.modules while the class bodies run.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_samples_are_what_the_script_writes() -> None:
    """The committed samples are exactly what scripts/make_samples.py builds from the current models."""
    files: dict[Path, bytes] = _make_samples().build()
    on_disk = {*MESSAGES.glob("*.xml"), *INVALID.glob("*")}
    assert set(files) == on_disk, "re-run scripts/make_samples.py"
    stale = sorted(path.name for path, data in files.items() if path.read_bytes() != data)
    assert not stale, f"re-run scripts/make_samples.py; out of date: {', '.join(stale)}"
