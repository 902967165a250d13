"""The conformance kit against real targets: our gateway passes every check; broken targets fail the right ones.

Our gateway is Malaysia's Single Window (MY:DOE and MY:RMCD, one store) on loopback; the kit sends as
Australia's (AU:DCCEEW and AU:ABF) from a registry on disk, and runs its own partner endpoint, which Malaysia's
registry names as AU:ABF's endpoint, to receive the automatic ClearanceResult "held".
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import uvicorn

from picexchange import codec, conformance, exchange
from picexchange.conformance import CHECKS, ConformanceReport, KitSetup, Verdict, junit_xml, run_checks
from picexchange.errors import ConfigurationError, MessageError
from picexchange.files.registry import load_trust
from picexchange.gateway.config import BackofficeConfig, GatewayConfig, OutboxConfig, PartnerConfig
from picexchange.gateway.server import build
from picexchange.models.envelope import Envelope, Error
from picexchange.testing import backoffice_credentials, free_port, serve_in_thread
from picexchange.testpki import TestPki, certificate_pem, make_test_pki, partners_toml, private_key_pem
from picexchange.trust import Hosted, Identity, TrustStore

CLI = Path(sys.executable).parent / "picexchange"
DCCEEW, ABF, DOE, RMCD = "AU:DCCEEW", "AU:ABF", "MY:DOE", "MY:RMCD"
CHECK_IDS = [check.check_id for check in CHECKS]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Malaysia's gateway and the kit's registry for it."""

    url: str
    partners: Path
    listen: str
    pki: TestPki


def _write_kit_registry(pki: TestPki, directory: Path, endpoints: dict[str, str]) -> Path:
    """Write Australia's registry for the kit: AU keys, every certificate, partners with ``endpoints``."""
    directory.mkdir(parents=True, exist_ok=True)
    for item in pki.participants:
        (directory / f"{item.id.replace(':', '_')}.cert.pem").write_bytes(certificate_pem(item.certificate))
    for participant in (DCCEEW, ABF):
        key = directory / f"{participant.replace(':', '_')}.key.pem"
        key.write_bytes(private_key_pem(pki[participant].private_key))
        key.chmod(0o600)
    moved = dataclasses.replace(
        pki,
        participants=tuple(
            dataclasses.replace(item, partner=dataclasses.replace(item.partner, endpoint=endpoints[item.id]))
            for item in pki.participants
        ),
    )
    registry = directory / "partners.toml"
    registry.write_text(partners_toml(moved, hosts=[DCCEEW, ABF]), encoding="utf-8")
    return registry


@contextlib.contextmanager
def malaysia(directory: Path) -> Iterator[Target]:
    """Start Malaysia's Single Window gateway; its registry names the kit's endpoint as AU:ABF's."""
    now = _now()
    pki = make_test_pki(
        [DCCEEW, ABF, DOE, RMCD], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30)
    )
    port, kit_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    kit = f"http://127.0.0.1:{kit_port}/ub/v1/messages"
    endpoints = {DCCEEW: "https://au-dcceew.sw.test/ub/v1/messages", ABF: kit, DOE: url + "/ub/v1/messages"}
    endpoints[RMCD] = endpoints[DOE]
    partners = [dataclasses.replace(item.partner, endpoint=endpoints[item.id]) for item in pki.participants]
    trust = TrustStore.of(partners, me=Hosted((pki[DOE].identity, pki[RMCD].identity)))
    config = GatewayConfig(
        partners=directory / "partners.toml",
        store=f"sqlite:///{directory / 'MY.db'}",
        partner=PartnerConfig(port=port),
        backoffice=BackofficeConfig(port=0),
        outbox=OutboxConfig(poll_seconds=0.05, lease_seconds=60),
    )
    _, credentials = backoffice_credentials([DOE, RMCD])
    running = build(config, trust=trust, credentials=credentials)
    registry = _write_kit_registry(pki, directory / "kit", endpoints)
    with serve_in_thread(running):
        yield Target(url=url, partners=registry, listen=f"127.0.0.1:{kit_port}", pki=pki)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    with malaysia(tmp_path) as started:
        yield started


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=240, check=False)  # noqa: S603


def _verdicts(report: ConformanceReport) -> dict[str, Verdict]:
    return {result.check_id: result.verdict for result in report.results}


# ---------------------------------------------------------------------------------------------- our gateway


def test_our_gateway_passes_every_check_from_the_command_line(target: Target, tmp_path: Path) -> None:
    """The CLI as a tester runs it: exit 0, every check passed, none skipped, JUnit XML with each check."""
    junit = tmp_path / "conformance.xml"
    done = _cli(
        "conformance",
        "--target",
        target.url,
        "--partners",
        target.partners,
        "--as",
        DCCEEW,
        "--listen",
        target.listen,
        "--junit",
        junit,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "13 passed, 0 failed, 0 skipped" in done.stdout
    for check_id in CHECK_IDS:
        assert check_id in done.stdout
    suite = ElementTree.fromstring(junit.read_bytes()).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("13", "0", "0")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == CHECK_IDS
    assert all(len(case) == 0 for case in cases)  # no <failure>, no <skipped>


def test_the_held_check_is_skipped_with_its_reason_without_listen(target: Target) -> None:
    """Without --listen the kit cannot receive the ClearanceResult: skipped, and a skip does not fail the run."""
    setup = KitSetup.from_registry(load_trust(target.partners), target=target.url, sender=DCCEEW)
    assert setup.receiver.id == DOE  # the one competent authority whose endpoint is the target
    assert setup.importing_customs is not None and setup.importing_customs.id == RMCD
    held = [check for check in CHECKS if check.check_id == "case.held-without-consent"]
    report = run_checks(setup, checks=held)
    (result,) = report.results
    assert result.verdict is Verdict.SKIPPED and "--listen" in result.found
    assert report.passed
    skipped = ElementTree.fromstring(junit_xml(report)).find("testsuite/testcase/skipped")
    assert skipped is not None and "--listen" in (skipped.get("message") or "")


# ---------------------------------------------------------------------------------------------- broken targets


@contextlib.contextmanager
def tiny_target(answer: Callable[[bytes], tuple[int, bytes]]) -> Iterator[str]:
    """Serve ``answer(body) -> (status, body)`` as a partner endpoint on loopback (uvicorn); yield its URL."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, content = answer(body)
        headers = [(b"content-type", b"application/xml"), (b"content-length", str(len(content)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the tiny target did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def _receipt_signed_by(identity: Identity, trust: TrustStore) -> Callable[[bytes], tuple[int, bytes]]:
    """A target that answers every message 200 with a Receipt signed by ``identity``, whatever came."""

    def answer(raw: bytes) -> tuple[int, bytes]:
        try:
            inbound = exchange.accept_for(raw, hosted={DOE, RMCD}, trust=trust, now=_now())
        except MessageError:
            # Not even readable: still a "receipt", for a made-up message.
            return 200, b"<ok/>"
        return 200, exchange.receipt_for(inbound, me=identity, now=_now()).raw

    return answer


def _kit_setup(target: Target, url: str) -> KitSetup:
    return KitSetup.from_registry(load_trust(target.partners), target=url, sender=DCCEEW, to=DOE)


def test_a_target_signing_receipts_with_a_wrong_key_fails_with_the_signer_named(target: Target) -> None:
    """Receipts signed by MY:RMCD for messages to MY:DOE: a genuine signature, but not the addressed participant's."""
    trust = TrustStore.of([item.partner for item in target.pki.participants])
    with tiny_target(_receipt_signed_by(target.pki[RMCD].identity, trust)) as url:
        report = run_checks(_kit_setup(target, url))
    verdicts = _verdicts(report)
    assert not report.passed
    # Everything expects a signed answer from MY:DOE: each check fails (none is skipped but the held one).
    assert {check for check, verdict in verdicts.items() if verdict is Verdict.FAILED} == set(CHECK_IDS) - {
        "case.held-without-consent"
    }
    (valid,) = [result for result in report.results if result.check_id == "receipt.valid"]
    assert valid.expected == f"a reply signed by {DOE}" and valid.found == f"a reply signed by {RMCD}"
    (bomb,) = [result for result in report.results if result.check_id == "refuse.xml-bomb"]
    assert bomb.expected == "HTTP 400 with a signed Error parse" and bomb.found.startswith("HTTP 200")


def test_a_target_signing_with_an_unregistered_key_or_not_at_all_fails_receipt_valid(target: Target) -> None:
    """A key of the right participant name but no registered certificate, then an unsigned envelope."""
    now = _now()
    impostor = make_test_pki([DOE], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30))
    trust = TrustStore.of([item.partner for item in target.pki.participants])
    valid = [check for check in CHECKS if check.check_id == "receipt.valid"]
    with tiny_target(_receipt_signed_by(impostor[DOE].identity, trust)) as url:
        (result,) = run_checks(_kit_setup(target, url), checks=valid).results
    assert result.verdict is Verdict.FAILED
    assert result.expected == "a reply signed with a registered certificate of the target"
    assert "does not verify (trust:" in result.found

    def unsigned(raw: bytes) -> tuple[int, bytes]:
        inbound = exchange.accept_for(raw, hosted={DOE}, trust=trust, now=_now())
        receipt = exchange.receipt_for(inbound, me=target.pki[DOE].identity, now=_now())
        return 200, codec.to_xml(receipt.envelope)  # the same receipt, without its signature

    with tiny_target(unsigned) as url:
        (result,) = run_checks(_kit_setup(target, url), checks=valid).results
    assert result.verdict is Verdict.FAILED and "does not verify (signature:" in result.found


def test_a_target_that_quotes_another_digest_or_receipts_twice_fails_those_checks(target: Target) -> None:
    """A receipt for other bytes; a fresh receipt for each redelivery (the message taken as new each time)."""
    trust = TrustStore.of([item.partner for item in target.pki.participants])
    me = target.pki[DOE].identity

    def other_digest(raw: bytes) -> tuple[int, bytes]:
        inbound = exchange.accept_for(raw, hosted={DOE}, trust=trust, now=_now())
        lying = dataclasses.replace(inbound, digest=exchange.digest_of(raw + b" "))
        return 200, exchange.receipt_for(lying, me=me, now=_now()).raw

    chosen = [check for check in CHECKS if check.check_id in ("receipt.valid", "redelivery.idempotent")]
    with tiny_target(other_digest) as url:
        report = run_checks(_kit_setup(target, url), checks=chosen)
    assert _verdicts(report) == {"receipt.valid": Verdict.FAILED, "redelivery.idempotent": Verdict.FAILED}
    assert report.results[0].expected.startswith("ReceivedDigest ")

    def fresh_each_time(raw: bytes) -> tuple[int, bytes]:
        inbound = exchange.accept_for(raw, hosted={DOE}, trust=trust, now=_now())
        return 200, exchange.receipt_for(inbound, me=me, now=_now()).raw

    with tiny_target(fresh_each_time) as url:
        report = run_checks(_kit_setup(target, url), checks=chosen)
    assert _verdicts(report) == {"receipt.valid": Verdict.PASSED, "redelivery.idempotent": Verdict.FAILED}
    assert "taken as new" in report.results[1].found


def test_a_broken_target_fails_the_command_with_exit_1_and_junit_failures(target: Target, tmp_path: Path) -> None:
    """A target answering 200 with no XML at all: exit 1, the table says what came, JUnit lists the failures."""
    junit = tmp_path / "broken.xml"
    with tiny_target(lambda raw: (200, b"OK")) as url:
        done = _cli(
            "conformance", "--target", url, "--partners", target.partners, "--as", DCCEEW, "--to", DOE, "--junit", junit
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0 passed, 12 failed, 1 skipped" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    suite = ElementTree.fromstring(junit.read_bytes()).find("testsuite")
    assert suite is not None and (suite.get("failures"), suite.get("skipped")) == ("12", "1")
    failure = suite.find("testcase[@name='receipt.valid']/failure")
    assert failure is not None
    assert "expected a reply signed with a registered certificate of the target" in (failure.get("message") or "")
    assert "'OK'" in (failure.get("message") or "")


# ---------------------------------------------------------------------------------------------- usage errors


@pytest.fixture
def kit_registry(tmp_path: Path) -> Path:
    """The kit's registry on disk, with no gateway behind it (usage errors need none)."""
    now = _now()
    pki = make_test_pki(
        [DCCEEW, ABF, DOE, RMCD], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30)
    )
    url = "http://127.0.0.1:9/ub/v1/messages"
    return _write_kit_registry(pki, tmp_path / "kit", {DCCEEW: url, ABF: url, DOE: url, RMCD: url})


def test_usage_and_configuration_errors_exit_2_without_a_traceback(kit_registry: Path, tmp_path: Path) -> None:
    base = ["conformance", "--target", "http://127.0.0.1:9"]
    cases = {
        "is not a [[me]] entry": [*base, "--partners", kit_registry, "--as", DOE],
        "cannot read": [*base, "--partners", tmp_path / "none.toml", "--as", DCCEEW],
    }
    for expected, args in cases.items():
        done = _cli(*args)
        assert done.returncode == 2, (expected, done.stdout, done.stderr)
        assert expected in done.stderr, (expected, done.stderr)
        assert "Traceback" not in done.stderr
    trust = load_trust(kit_registry)
    refused = {
        "not a [[partner]] of the registry": {"target": "http://127.0.0.1:9", "to": "NZ:MFE"},
        "is not HOST:PORT": {"target": "http://127.0.0.1:9", "listen": "nowhere"},
        "is not an http(s) URL": {"target": "ftp://x"},
    }
    for expected, options in refused.items():
        with pytest.raises(ConfigurationError, match=re.escape(expected)):
            KitSetup.from_registry(trust, sender=DCCEEW, **options)


def test_the_target_participant_must_be_named_when_the_registry_cannot_tell(target: Target) -> None:
    """A registry where no competent authority's endpoint is the target and there are several to choose from."""
    trust = load_trust(target.partners)
    now = _now()
    extra = make_test_pki(["JP:MOE"], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=3))
    wider = TrustStore.of([*trust, extra["JP:MOE"].partner], me=trust.hosted)
    with pytest.raises(ConfigurationError, match=r"--to: name the target participant.*JP:MOE, MY:DOE"):
        KitSetup.from_registry(wider, target="http://127.0.0.1:1", sender=DCCEEW)
    with pytest.raises(ConfigurationError, match="our own country"):
        KitSetup.from_registry(trust, target=target.url, sender=DCCEEW, to=ABF)
    assert conformance.partner_endpoint("http://h:1") == "http://h:1/ub/v1/messages"
    assert conformance.partner_endpoint("https://h/gw/in") == "https://h/gw/in"


def test_the_kit_listener_verifies_what_it_receives(target: Target) -> None:
    """The kit's own endpoint receipts a genuine message and refuses a forged one with a signed Error."""
    setup = KitSetup.from_registry(load_trust(target.partners), target=target.url, sender=DCCEEW, listen="127.0.0.1:0")
    with conformance.KitEndpoint(setup, _now).running() as listener:
        session = conformance.Session(setup, None, _now, listener)  # type: ignore[arg-type]
        notification = session.new_notification()
        genuine = exchange.seal(notification, me=target.pki[DOE].identity, to=DCCEEW, now=_now())
        status, body = listener.receive(genuine.raw)
        assert status == 200
        assert codec.from_xml(body, Envelope).header.sender == DCCEEW
        forged = exchange.seal(notification, me=target.pki[RMCD].identity, to=DCCEEW, now=_now())
        status, body = listener.receive(forged.raw.replace(b"RMCD", b"DOE"))
        assert status == 403
        error = codec.from_xml(body, Envelope).document
        assert isinstance(error, Error) and error.code.value in ("signature", "trust")
        assert listener.wait_for(lambda envelope: envelope.header.sender == DOE, 0) is not None
        assert listener.wait_for(lambda envelope: envelope.header.sender == RMCD, 0) is None


def test_the_docs_list_every_check_with_its_description_in_order() -> None:
    """docs/integration-testing.md's table of checks is CHECKS: same ids, same order, same descriptions."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "integration-testing.md").read_text(encoding="utf-8")
    table = text[text.index("<!-- conformance checks") :].split("\n\n")[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in table.splitlines()[3:]
        if line.startswith("|")
    ]
    assert [(row[0].strip("`"), row[1]) for row in rows] == [(c.check_id, c.description) for c in CHECKS]


@pytest.mark.parametrize(
    ("packaged", "sample"),
    [
        ("notification", "plastic-au-my-01-notification"),
        ("acknowledgement", "plastic-au-my-03-acknowledgement"),
        ("export-data", "plastic-au-my-08-export-data"),
    ],
)
def test_the_kit_sends_the_sample_corpus_s_documents(packaged: str, sample: str) -> None:
    """The kit's packaged documents are copies of the samples: a change to the corpus reaches the kit."""
    from picexchange import resources

    root = Path(__file__).resolve().parent.parent
    expected = (root / "samples" / "messages" / f"{sample}.xml").read_bytes()
    assert resources.conformance_document_bytes(packaged) == expected, f"copy samples/messages/{sample}.xml"
