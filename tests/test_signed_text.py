"""What is shown and acted on is what was signed: comments and PIs inside a message are refused, texts are read whole.

Exclusive C14N without comments signs ``<IntendedQuantity>1<!---->60</IntendedQuantity>`` as 160, so a reader
that stops at the comment acts on a value nobody signed. One rule (``picexchange.codec`` module docstring):
``codec.parse`` refuses comments and processing instructions inside the root element, and every text read
takes the element's whole text. Tested on every text field of every maximal sample, genuinely signed with the
TEST ONLY keys of ``samples/keys`` and fed to ``exchange.accept``; and, as if the first rule were relaxed,
decoding and the header readers on trees that do hold comments give exactly the C14N text.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree
from signxml.verifier import SignatureConfiguration, XMLVerifier

from picexchange import codec, exchange, signing
from picexchange.errors import ParseError, SchemaError
from picexchange.models.envelope import Envelope
from test_parsing import hostile_script

ROOT = Path(__file__).resolve().parent.parent
MAX_SAMPLES = sorted((ROOT / "samples" / "messages").glob("max-*.xml"))
ENV = "urn:picexchange:envelope:1"
HEADER_FIELDS = ("MessageId", "ConversationId", "Sender", "Receiver", "UtilityBlock", "MessageType", "Created")

Insert = Callable[[etree._Element, int], None]


# The TEST ONLY sample identities and registry, loaded once by the script that signs the hostile samples.
identity = hostile_script().identity
registry = hostile_script().trust


def insert_comment(element: etree._Element, at: int) -> None:
    """Split the element's text at ``at`` with an empty comment (what ``1<!---->60`` is)."""
    text = element.text or ""
    element.text = text[:at]
    comment = etree.Comment("")
    comment.tail = text[at:]
    element.insert(0, comment)


def insert_pi(element: etree._Element, at: int) -> None:
    """Split the element's text at ``at`` with a processing instruction."""
    text = element.text or ""
    element.text = text[:at]
    instruction = etree.ProcessingInstruction("render", "hide")
    instruction.tail = text[at:]
    element.insert(0, instruction)


INSERTS: dict[str, Insert] = {"comment": insert_comment, "pi": insert_pi}


def leaves(root: etree._Element) -> Iterator[etree._Element]:
    """Yield every element with text and no child element: every simple field of the message."""
    for element in root.iter():
        if isinstance(element.tag, str) and len(element) == 0 and element.text and element.text.strip():
            yield element


def c14n_text(element: etree._Element) -> str:
    """Return the character data exclusive C14N without comments signs for a leaf element.

    C14N leaves comments out and keeps processing instructions as markup (``MY:<?p x?>DOE``): the signed
    characters are the content between the tags, less any PI markup, unescaped.
    """
    canonical = etree.tostring(element, method="c14n", exclusive=True, with_comments=False).decode()
    match = re.fullmatch(r"<[^>]*>(?P<content>.*)</[^>]*>", canonical, re.DOTALL)
    assert match is not None, canonical
    assert "<!--" not in match["content"]
    characters = re.sub(r"<\?.*?\?>", "", match["content"], flags=re.DOTALL)
    return html.unescape(characters.replace("&#xD;", "\r"))


def created(root: etree._Element) -> dt.datetime:
    value = codec.header_text(root, "Created")
    assert value is not None
    return dt.datetime.fromisoformat(value)


# ------------------------------------------------------------------------------------------------ the rule on the wire


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", sorted(INSERTS))
@pytest.mark.parametrize("sample", MAX_SAMPLES, ids=lambda path: path.name)
def test_a_comment_or_pi_in_any_text_field_is_refused_by_accept_though_the_signature_is_valid(
    sample: Path, kind: str
) -> None:
    """For every simple field: split its text, sign genuinely; accept refuses it at that path and line."""
    original = codec.parse(sample.read_bytes())
    sender = codec.header_text(original, "Sender")
    receiver = codec.header_text(original, "Receiver")
    assert sender and receiver
    now = created(original) + dt.timedelta(minutes=1)
    certificate = identity(sender).certificate
    config = SignatureConfiguration(location="./", expect_references=1, verification_time=now)
    plain_parser = etree.XMLParser(resolve_entities=False, no_network=True)
    checked = 0
    for position, leaf in enumerate(leaves(original)):
        root = codec.parse(sample.read_bytes())
        target = next(element for n, element in enumerate(leaves(root)) if n == position)
        path, line = codec.element_path(target), target.sourceline
        text = target.text or ""
        INSERTS[kind](target, max(1, len(text) // 2))
        raw = signing.sign(root, identity(sender))
        if checked % 10 == 0:  # genuinely signed: signxml alone verifies it (every tenth, for time)
            XMLVerifier().verify(etree.fromstring(raw, plain_parser), x509_cert=certificate, expect_config=config)
        with pytest.raises(ParseError) as caught:
            exchange.accept(raw, me=identity(receiver), trust=registry(), now=now)
        error = caught.value
        name = etree.QName(leaf).localname
        what = "comment" if kind == "comment" else "processing instruction"
        assert error.text.startswith(f"a {what} inside the document is not allowed (in {name})"), error.text
        assert (error.path, error.line) == (path, line)
        assert error.code == "parse" and error.http_status == 400
        checked += 1
    assert checked >= 10  # a maximal sample has every optional field (Acknowledgement: 17, Notification: 92)


def test_the_unsplit_maximal_samples_are_accepted() -> None:
    """The same signing and accepting, without the split, accepts every maximal sample: the split refuses.

    Receipt and Error are replies (``exchange.read_reply`` reads them), never accepted as messages.
    """
    for sample in MAX_SAMPLES:
        root = codec.parse(sample.read_bytes())
        if codec.header_text(root, "MessageType") in ("Receipt", "Error"):
            continue
        sender, receiver = codec.header_text(root, "Sender"), codec.header_text(root, "Receiver")
        assert sender and receiver
        raw = signing.sign(root, identity(sender))
        inbound = exchange.accept(
            raw, me=identity(receiver), trust=registry(), now=created(root) + dt.timedelta(minutes=1)
        )
        assert inbound.envelope == codec.decode(root)


# ------------------------------------------------------------------------------------------------ reading whole texts


@pytest.mark.parametrize("kind", sorted(INSERTS))
@pytest.mark.parametrize("sample", MAX_SAMPLES, ids=lambda path: path.name)
def test_decoded_values_are_the_c14n_text_even_with_comments_and_pis_in_the_tree(sample: Path, kind: str) -> None:
    """Decoding a tree whose every text is split gives the model of the unsplit message, i.e. what C14N signs.

    ``parse`` refuses such trees; this holds the readers to the signed text should that rule ever be relaxed.
    """
    expected = codec.decode(codec.parse(sample.read_bytes()))
    root = codec.parse(sample.read_bytes())
    texts = []
    for leaf in list(leaves(root)):
        text = leaf.text or ""
        INSERTS[kind](leaf, max(1, len(text) // 2))
        texts.append(text)
    for leaf, text in zip(leaves_with_split_text(root), texts, strict=True):
        assert codec.text_of(leaf) == c14n_text(leaf) == text
    assert codec.decode(root) == expected


def leaves_with_split_text(root: etree._Element) -> Iterator[etree._Element]:
    """Yield the elements whose text was split: those holding a comment or PI and no element."""
    for element in root.iter():
        if isinstance(element.tag, str) and len(element) and all(not isinstance(child.tag, str) for child in element):
            yield element


def test_the_issue_7_quantity_reads_as_the_160_that_was_signed() -> None:
    """``1<!---->60`` decodes as 160 (C14N's text), not 1 (the text before the comment)."""
    root = codec.parse((ROOT / "samples" / "messages" / "plastic-au-my-01-notification.xml").read_bytes())
    quantity = root.find(".//{urn:picexchange:ub:pic:1}IntendedQuantity/{urn:picexchange:common:1}Tonnes")
    assert quantity is not None and quantity.text == "160"
    insert_comment(quantity, 1)
    assert quantity.text == "1"
    envelope = codec.decode(root, Envelope)
    assert str(envelope.document.intended_quantity.tonnes) == "160"  # type: ignore[union-attr]


@pytest.mark.parametrize("field", HEADER_FIELDS)
@pytest.mark.parametrize("kind", sorted(INSERTS))
def test_every_header_reader_reads_the_whole_text(field: str, kind: str) -> None:
    """exchange's and signing's header readers and decoding agree on a header value split by a comment or PI."""
    root = codec.parse((ROOT / "samples" / "messages" / "plastic-au-my-01-notification.xml").read_bytes())
    element = root.find(f"{{{ENV}}}Header/{{{ENV}}}{field}")
    assert element is not None and element.text
    whole = element.text
    INSERTS[kind](element, 3)
    assert element.text == whole[:3]
    # The one reader the routing checks use, before the signature and after it:
    read = signing.read_header(root)
    assert {
        "MessageId": read.message_id,
        "ConversationId": read.conversation_id,
        "Sender": read.sender,
        "Receiver": read.receiver,
        "UtilityBlock": read.utility_block and read.utility_block.value,
        "MessageType": read.message_type,
        "Created": read.created and read.created.isoformat(),
    }[field] == whole
    assert codec.header_text(root, field) == whole == c14n_text(element)
    header = codec.decode(root, Envelope).header
    decoded = {
        "MessageId": str(header.message_id),
        "ConversationId": header.conversation_id,
        "Sender": header.sender,
        "Receiver": header.receiver,
        "UtilityBlock": header.utility_block.value,
        "MessageType": header.message_type.value,
        "Created": header.created.isoformat(),
    }[field]
    assert decoded == whole


def test_text_of_is_the_xpath_string_value() -> None:
    """Every text node inside the element, in order; comments and PIs left out, the element's own tail too."""
    element = etree.fromstring(b"<a>1<!--x-->6<?p y?>0</a>")
    assert codec.text_of(element) == "160" == element.xpath("string()")
    assert codec.text_of(etree.fromstring(b"<a/>")) == ""
    wrapper = etree.fromstring(b"<w><a>x</a>tail</w>")
    assert codec.text_of(wrapper[0]) == "x"


def test_an_element_inside_a_simple_field_is_an_unexpected_element() -> None:
    """A simple field holding an element is a schema problem when decoding, not a silently shortened value."""
    root = codec.parse((ROOT / "samples" / "messages" / "plastic-au-my-01-notification.xml").read_bytes())
    name = root.find(".//{urn:picexchange:common:1}Name")
    assert name is not None and name.text
    name.text = "Southern "
    etree.SubElement(name, "{urn:picexchange:common:1}Inner").tail = "Cross"
    with pytest.raises(SchemaError) as caught:
        codec.decode(root)
    assert [(issue.text, issue.path) for issue in caught.value.issues] == [
        ("unexpected element Inner", "/Envelope/Body/Notification/Exporter/Name/Inner")
    ]
