"""A gateway is a national Single Window: ``[[me]]`` hosts several participants of one country (issue 10).

The registry's ``[[me]]`` entries (and the older single ``[me]`` table) with every refusal named at its key; the
case policy the registry sets (``[cases]``, ``deemed_consent_days``); and two real Single Windows on loopback —
Australia hosting AU:DCCEEW and AU:ABF, Malaysia hosting MY:DOE and MY:RMCD, configured from TOML files with
the TEST keys of ``samples/keys`` — where each receipt, Error and outbound message is signed by the participant
it concerns, and verifies with that participant's certificate and no other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner

from picexchange import codec, exchange, signing
from picexchange.cases import CasePolicy, case_view
from picexchange.cli import app
from picexchange.errors import ConfigurationError, RemoteError, TrustError
from picexchange.files.registry import load_case_policy, load_identity, load_registry, load_trust
from picexchange.gateway import Submission, build
from picexchange.gateway.auth import Credentials
from picexchange.gateway.config import BackofficeConfig, GatewayConfig, OutboxConfig, PartnerConfig
from picexchange.gateway.server import GatewayServer, Running
from picexchange.models.common import Role, StateConcerned
from picexchange.models.envelope import Envelope, Error, Receipt
from picexchange.models.export import ClearanceResult, ClearanceStatus
from picexchange.testing import backoffice_credentials, free_port, gateway_pair, serve_in_thread
from picexchange.testpki import make_test_pki
from picexchange.trust import Hosted, Identity, TrustStore

ROOT = Path(__file__).resolve().parent.parent
KEYS = ROOT / "samples" / "keys"
MESSAGES = ROOT / "samples" / "messages"
AU = ("AU:DCCEEW", "AU:ABF")
MY = ("MY:DOE", "MY:RMCD")

PARTNERS = {
    "AU:DCCEEW": ("Department of Climate Change, Energy, the Environment and Water", "competent-authority"),
    "AU:ABF": ("Australian Border Force", "customs"),
    "MY:DOE": ("Department of Environment Malaysia", "competent-authority"),
    "MY:RMCD": ("Royal Malaysian Customs Department", "customs"),
    "SG:NEA": ("National Environment Agency Singapore", "competent-authority"),
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stem(participant: str) -> str:
    return participant.replace(":", "_")


def _certificate(participant: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((KEYS / f"{_stem(participant)}.cert.pem").read_bytes())


@pytest.fixture(scope="module")
def identities(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Identity]:
    """The signing identities of the sample participants, loaded from samples/keys as a user loads them."""
    folder = tmp_path_factory.mktemp("sample-keys")
    loaded = {}
    for participant in PARTNERS:
        key = _key_copy(folder, participant)
        loaded[participant] = load_identity(key=key, certificate=KEYS / f"{_stem(participant)}.cert.pem")
    return loaded


def _key_copy(folder: Path, participant: str) -> Path:
    # Git keeps no file modes: a copy made 0600, as the registry loader requires of a private key.
    key = folder / f"{_stem(participant)}.key.pem"
    if not key.exists():
        key.write_bytes((KEYS / key.name).read_bytes())
        key.chmod(0o600)
    return key


def _me(
    folder: Path, participant: str, *, table: str = "[[me]]", key: str | None = None, cert: str | None = None
) -> str:
    key_path = _key_copy(folder, key or participant)
    certificate = cert or str(KEYS / f"{_stem(participant)}.cert.pem")
    return f'{table}\nid = "{participant}"\nkey = "{key_path}"\ncertificate = "{certificate}"\n\n'


def _partner(participant: str, *, endpoint: str | None = None, extra: str = "", cert: str | None = None) -> str:
    name, role = PARTNERS[participant]
    blocks = '["export"]' if role == "customs" else '["pic", "export"]'
    lines = [
        "[[partner]]",
        f'id = "{participant}"',
        f'name = "{name}"',
        f'country = "{participant[:2]}"',
        f'role = "{role}"',
        f"utility_blocks = {blocks}",
    ]
    if endpoint is not None:
        lines.append(f'endpoint = "{endpoint}"')
    if extra:
        lines.append(extra)
    lines += ["", "[[partner.certificate]]", f'path = "{cert or KEYS / f"{_stem(participant)}.cert.pem"}"', ""]
    return "\n".join(lines) + "\n"


def _write(folder: Path, text: str) -> Path:
    path = folder / "partners.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _refused(folder: Path, text: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        load_trust(_write(folder, text))
    return caught.value


def _all_partners(**extra: str) -> str:
    return "".join(
        _partner(participant, extra=extra.get(participant.replace(":", "_"), "")) for participant in PARTNERS
    )


# ------------------------------------------------------------------------------------------------ the registry


def test_me_lists_the_participants_a_single_window_hosts_each_with_its_own_key(tmp_path: Path) -> None:
    trust = load_trust(_write(tmp_path, _me(tmp_path, "AU:DCCEEW") + _me(tmp_path, "AU:ABF") + _all_partners()))
    assert trust.hosted is not None
    assert [identity.participant for identity in trust.hosted] == list(AU)
    assert trust.hosted.participants == frozenset(AU) and trust.hosted.country == "AU"
    abf = trust.hosted.identity("AU:ABF")
    assert abf is not None and abf.certificate == _certificate("AU:ABF")
    assert trust.me is not None and trust.me.participant == "AU:DCCEEW"  # the first entry
    assert trust.hosted.identity("MY:DOE") is None


def test_the_older_single_me_table_is_a_single_window_hosting_one(tmp_path: Path) -> None:
    trust = load_trust(_write(tmp_path, _me(tmp_path, "MY:DOE", table="[me]") + _all_partners()))
    assert trust.hosted is not None and [identity.participant for identity in trust.hosted] == ["MY:DOE"]
    # Its errors keep naming the table as written: me.key, not me[1].key.
    error = _refused(tmp_path, _me(tmp_path, "MY:DOE", table="[me]", key="MY:RMCD") + _all_partners())
    assert (error.field, "does not belong to its certificate" in error.text) == ("me.key", True)


@pytest.mark.parametrize(
    ("hosts", "field", "text"),
    [
        (
            [("AU:DCCEEW", {}), ("MY:DOE", {})],
            "me[2].id",
            "MY:DOE is not of the country of AU:DCCEEW (me[1]): a Single Window hosts the participants of one country",
        ),
        ([("AU:ABF", {}), ("AU:ABF", {})], "me[2].id", "AU:ABF is already hosted at me[1]"),
        ([("AU:DCCEEW", {}), ("AU:ABF", {"key": "AU:DCCEEW"})], "me[2].key", "does not belong to its certificate"),
    ],
    ids=["mixed-countries", "duplicate", "key-of-another-certificate"],
)
def test_hosted_participants_are_refused_at_their_key(
    tmp_path: Path, hosts: list[tuple[str, dict[str, str]]], field: str, text: str
) -> None:
    entries = "".join(_me(tmp_path, participant, **options) for participant, options in hosts)
    error = _refused(tmp_path, entries + _all_partners())
    assert error.field == field
    assert text in error.text
    assert error.source == str(tmp_path / "partners.toml")


def test_a_hosted_participant_must_be_a_partner_of_the_registry(tmp_path: Path) -> None:
    partners = "".join(_partner(participant) for participant in PARTNERS if participant != "AU:ABF")
    error = _refused(tmp_path, _me(tmp_path, "AU:DCCEEW") + _me(tmp_path, "AU:ABF") + partners)
    assert error.field == "me[2].id"
    assert error.text == "AU:ABF is hosted but not listed as a [[partner]]; add it with the certificate it signs with"


def test_a_hosted_participant_signs_with_the_certificate_registered_for_it(tmp_path: Path) -> None:
    """A key and certificate that match each other, but the partner entry registers another certificate."""
    now = _now()
    other = make_test_pki(["AU:ABF"], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30))
    elsewhere = tmp_path / "other-AU_ABF.cert.pem"
    elsewhere.write_bytes(other["AU:ABF"].certificate.public_bytes(Encoding.PEM))
    partners = "".join(
        _partner(participant, cert=str(elsewhere) if participant == "AU:ABF" else None) for participant in PARTNERS
    )
    error = _refused(tmp_path, _me(tmp_path, "AU:DCCEEW") + _me(tmp_path, "AU:ABF") + partners)
    assert error.field == "me[2].certificate"
    assert "is not a certificate registered for AU:ABF in its [[partner.certificate]]" in error.text


def test_no_me_is_a_registry_that_hosts_no_one(tmp_path: Path) -> None:
    registry = load_registry(_write(tmp_path, _all_partners()))
    assert registry.trust.hosted is None and registry.trust.me is None
    assert registry.case_policy == CasePolicy()


def test_cases_and_deemed_consent_days_make_the_case_policy(tmp_path: Path) -> None:
    cases = "[cases]\nmax_consent_months = 12\nmax_preconsented_consent_months = 36\nexpected_transit_days = 45\n"
    cases += "receipt_days = 5\ndisposal_days = 180\n\n"
    path = _write(tmp_path, _me(tmp_path, "MY:DOE") + cases + _all_partners(SG_NEA="deemed_consent_days = 30"))
    policy = load_registry(path).case_policy
    assert policy == CasePolicy(
        waived_written_consent={"SG:NEA": 30},
        max_consent_months=12,
        max_preconsented_consent_months=36,
        expected_transit_days=45,
        receipt_days=5,
        disposal_days=180,
    )
    assert policy.waived_written_consent == {"SG:NEA": 30}
    assert load_case_policy(path) == policy  # the TOML alone, without reading the keys


@pytest.mark.parametrize(
    ("cases", "partner_extra", "field", "text"),
    [
        ("max_consent_months = 24", "", "cases.max_consent_months", "must be at most 12, not 24"),
        ("max_consent_months = 0", "", "cases.max_consent_months", "must be at least 1, not 0"),
        ("max_preconsented_consent_months = 48", "", "cases.max_preconsented_consent_months", "must be at most 36"),
        (
            "max_consent_months = 12\nmax_preconsented_consent_months = 6",
            "",
            "cases.max_preconsented_consent_months",
            "must be at least max_consent_months (12): a pre-consented facility gets longer",
        ),
        ("expected_transit_days = 400", "", "cases.expected_transit_days", "must be at most 365, not 400"),
        ("receipt_days = 31", "", "cases.receipt_days", "must be at most 30, not 31"),
        ("disposal_days = 366", "", "cases.disposal_days", "must be at most 365, not 366"),
        ('disposal_days = "365"', "", "cases.disposal_days", "must be a whole number, not the string '365'"),
        ("dispoal_days = 300", "", "cases.dispoal_days", "did you mean disposal_days?"),
        ("", "deemed_consent_days = 90", "partner[5].deemed_consent_days", "must be at most 60, not 90"),
        ("", "deemed_consent_days = 0", "partner[5].deemed_consent_days", "must be at least 1, not 0"),
    ],
    ids=[
        "general-too-long",
        "general-zero",
        "preconsented-too-long",
        "preconsented-shorter",
        "transit-too-long",
        "receipt-too-long",
        "disposal-beyond-a-year",
        "a-string",
        "misspelt",
        "deemed-too-long",
        "deemed-zero",
    ],
)
def test_case_policy_values_are_bounded(tmp_path: Path, cases: str, partner_extra: str, field: str, text: str) -> None:
    table = f"[cases]\n{cases}\n\n" if cases else ""
    error = _refused(tmp_path, table + _all_partners(SG_NEA=partner_extra))
    assert error.field == field
    assert text in error.text
    with pytest.raises(ConfigurationError) as caught:
        load_case_policy(tmp_path / "partners.toml")
    assert caught.value.field == field


def test_customs_never_waives_written_consent(tmp_path: Path) -> None:
    error = _refused(tmp_path, _all_partners(MY_RMCD="deemed_consent_days = 60"))
    assert error.field == "partner[4].deemed_consent_days"
    assert error.text == "only a competent authority waives written consent; Customs never consents"


def test_the_hosted_value_refuses_mixed_countries_and_duplicates(identities: dict[str, Identity]) -> None:
    with pytest.raises(ConfigurationError, match="one country"):
        Hosted((identities["AU:DCCEEW"], identities["MY:DOE"]))
    with pytest.raises(ConfigurationError, match="hosted twice"):
        Hosted.of(identities["AU:ABF"], identities["AU:ABF"])
    with pytest.raises(ConfigurationError, match="at least one"):
        Hosted(())


def test_keys_init_writes_me_entries_for_the_hosted_agencies(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    args = ["keys", "init", str(folder)]
    for participant in (*AU, *MY):
        args += ["--participant", participant]
    result = CliRunner().invoke(app, [*args, "--host", "AU:DCCEEW", "--host", "AU:ABF"])
    assert result.exit_code == 0, result.output
    trust = load_trust(folder / "partners.toml")
    assert trust.hosted is not None and [identity.participant for identity in trust.hosted] == list(AU)
    refused = CliRunner().invoke(app, [*args, "--force", "--host", "AU:DCCEEW", "--host", "MY:DOE"])
    assert refused.exit_code == 2 and "one country" in refused.stderr
    unknown = CliRunner().invoke(app, [*args, "--force", "--host", "SG:NEA"])
    assert unknown.exit_code == 2 and "--host SG:NEA is not one of the --participant ids" in unknown.stderr


# ------------------------------------------------------------------------------------------------ two Single Windows


@dataclasses.dataclass(frozen=True)
class SingleWindow:
    """A running Single Window configured from TOML files, and a token for each of its participants."""

    server: GatewayServer
    running: Running
    trust: TrustStore
    tokens: dict[str, str]  # "both", or a participant id: bound to that one alone

    def backoffice(self, token: str = "both") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[token]}"}
        return httpx.Client(base_url=self.server.backoffice_url, headers=headers, timeout=30)

    @property
    def messages(self) -> str:
        return f"{self.server.partner_url}/ub/v1/messages"


@contextlib.contextmanager
def _single_window(
    folder: Path, hosts: tuple[str, ...], ports: dict[str, int], *, table: str = "[[me]]", cases: str = ""
) -> Iterator[SingleWindow]:
    folder.mkdir(parents=True, exist_ok=True)
    entries = "".join(_me(folder, participant, table=table) for participant in hosts)
    partners = "".join(
        _partner(participant, endpoint=f"http://127.0.0.1:{ports[participant[:2]]}/ub/v1/messages")
        for participant in (*AU, *MY)
    )
    registry = _write(folder, entries + cases + partners)
    config = GatewayConfig(
        partners=registry,
        store=f"sqlite:///{folder / 'store.db'}",
        partner=PartnerConfig(port=ports[hosts[0][:2]]),
        backoffice=BackofficeConfig(port=0),
        outbox=OutboxConfig(poll_seconds=0.05, lease_seconds=60),
    )
    grants = {"both": hosts, **{participant: (participant,) for participant in hosts}}
    tokens, accepted = {}, []
    for name, participants in grants.items():
        token, credentials = backoffice_credentials(participants, client=f"erp-{name}")
        tokens[name] = token
        accepted += list(credentials.tokens)
    running = build(config, credentials=Credentials(tokens=tuple(accepted)))
    with serve_in_thread(running) as server:
        yield SingleWindow(server=server, running=running, trust=load_trust(registry), tokens=tokens)


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SingleWindow]]:
    """Australia's Single Window (AU:DCCEEW, AU:ABF) and Malaysia's (MY:DOE, MY:RMCD), knowing each other."""
    folder = tmp_path_factory.mktemp("single-windows")
    ports = {"AU": free_port(), "MY": free_port()}
    cases = "[cases]\nmax_preconsented_consent_months = 36\n\n"
    with (
        _single_window(folder / "au", AU, ports, cases=cases) as australia,
        _single_window(folder / "my", MY, ports) as malaysia,
    ):
        yield {"AU": australia, "MY": malaysia}


def _document(name: str) -> Any:
    return codec.from_xml((MESSAGES / name).read_bytes(), Envelope).document


def _post(window: SingleWindow, raw: bytes) -> httpx.Response:
    return httpx.post(window.messages, content=raw, headers={"Content-Type": "application/xml"}, timeout=30)


def test_the_registry_sets_the_gateway_s_hosted_participants_and_case_policy(windows: dict[str, SingleWindow]) -> None:
    gateway = windows["AU"].running.gateway
    assert gateway.hosted == frozenset(AU)
    assert [identity.participant for identity in gateway.identities] == list(AU)
    assert gateway.case_policy.max_preconsented_consent_months == 36
    assert windows["MY"].running.gateway.case_policy == CasePolicy()


@pytest.mark.parametrize(
    ("sample", "sender", "receiver"),
    [
        ("plastic-au-my-03-acknowledgement.xml", "MY:DOE", "AU:DCCEEW"),
        ("plastic-au-my-09-clearance-result.xml", "MY:RMCD", "AU:ABF"),
    ],
    ids=["to-the-competent-authority", "to-customs"],
)
def test_a_message_to_each_hosted_participant_is_receipted_by_that_participant(
    windows: dict[str, SingleWindow], identities: dict[str, Identity], sample: str, sender: str, receiver: str
) -> None:
    australia = windows["AU"]
    sealed = exchange.seal(_document(sample), me=identities[sender], to=receiver, now=_now())
    response = _post(australia, sealed.raw)
    assert response.status_code == 200, response.text
    # The sender's view: a genuine receipt of exactly these bytes, addressed to it, from whom it wrote to.
    partner_trust = windows["MY"].trust
    receipted = exchange.read_reply(
        response.content, sent=sealed, me=identities[sender], trust=partner_trust, now=_now()
    )
    assert (receipted.envelope.header.sender, receipted.envelope.header.receiver) == (receiver, sender)
    verified = signing.verify(response.content, trust=partner_trust, now=_now())
    assert verified.signer.id == receiver
    assert verified.certificate == _certificate(receiver)
    other = next(participant for participant in AU if participant != receiver)
    assert verified.certificate != _certificate(other)
    status = australia.running.store.inbound_status(sender, str(sealed.message_id))
    assert status is not None and status.digest == sealed.digest


def test_a_receipt_signed_by_the_other_hosted_participant_does_not_verify(
    windows: dict[str, SingleWindow], identities: dict[str, Identity]
) -> None:
    """What the outbox relies on: a receipt from AU:DCCEEW is no receipt of a message sent to AU:ABF."""
    sealed = exchange.seal(
        _document("plastic-au-my-09-clearance-result.xml"), me=identities["MY:RMCD"], to="AU:ABF", now=_now()
    )
    receipt = exchange.receipt_for(
        exchange.accept_for(sealed.raw, hosted=frozenset({"AU:ABF"}), trust=windows["AU"].trust, now=_now()),
        me=identities["AU:DCCEEW"],
        now=_now(),
    )
    with pytest.raises(TrustError) as caught:
        exchange.read_reply(receipt.raw, sent=sealed, me=identities["MY:RMCD"], trust=windows["MY"].trust, now=_now())
    assert "AU:DCCEEW" in caught.value.text


def test_a_message_to_an_agency_of_the_country_the_window_does_not_host_is_refused(
    tmp_path: Path, identities: dict[str, Identity]
) -> None:
    """A Single Window of AU:DCCEEW alone (the older [me] table) refuses a message to AU:ABF; its Error is its own."""
    ports = {"AU": free_port(), "MY": free_port()}
    with _single_window(tmp_path, ("AU:DCCEEW",), ports, table="[me]") as australia:
        sealed = exchange.seal(
            _document("plastic-au-my-09-clearance-result.xml"), me=identities["MY:RMCD"], to="AU:ABF", now=_now()
        )
        response = _post(australia, sealed.raw)
        assert response.status_code == 403
        verified = signing.verify(response.content, trust=australia.trust, now=_now())
        error = verified.envelope.document
        assert isinstance(error, Error) and error.code.value == "trust" and "AU:ABF" in error.text
        assert (verified.signer.id, verified.envelope.header.receiver) == ("AU:DCCEEW", "MY:RMCD")
        assert australia.running.store.inbound_status("MY:RMCD", str(sealed.message_id)) is None


def test_an_error_is_signed_by_the_hosted_participant_the_message_was_for(
    windows: dict[str, SingleWindow], identities: dict[str, Identity]
) -> None:
    sealed = exchange.seal(
        _document("plastic-au-my-09-clearance-result.xml"), me=identities["MY:RMCD"], to="AU:ABF", now=_now()
    )
    tampered = sealed.raw.replace(b"<env:ConversationId>AU2026-0042<", b"<env:ConversationId>AU2026-0043<", 1)
    assert tampered != sealed.raw
    response = _post(windows["AU"], tampered)
    assert response.status_code == 403
    with pytest.raises(RemoteError) as caught:
        exchange.read_reply(
            response.content, sent=sealed, me=identities["MY:RMCD"], trust=windows["MY"].trust, now=_now()
        )
    assert caught.value.code == "signature"
    verified = signing.verify(response.content, trust=windows["MY"].trust, now=_now())
    assert verified.signer.id == "AU:ABF" and verified.certificate == _certificate("AU:ABF")


def _inbox_xml(window: SingleWindow, message_id: str) -> bytes:
    with window.backoffice() as http:
        for _ in range(500):
            page = http.get("/api/v1/inbox", params={"since": 0, "limit": 500}).json()
            for entry in page["messages"]:
                if entry["message_id"] == message_id:
                    return str(entry["xml"]).encode("utf-8")
            time.sleep(0.02)
    raise AssertionError(f"{message_id} never reached the inbox")


def _wait_receipted(http: httpx.Client, message_id: str) -> dict[str, Any]:
    for _ in range(1500):
        status: dict[str, Any] = http.get(f"/api/v1/outbox/{message_id}").json()
        if status["final"]:
            assert status["state"] == "receipted", status["last_error"]
            return status
        time.sleep(0.02)
    raise AssertionError(f"{message_id} still not final")


def test_only_a_client_of_the_sending_participant_reads_an_outbound_status(
    windows: dict[str, SingleWindow],
) -> None:
    """AU:ABF's message: its client and the client of both read its status; AU:DCCEEW's client gets 403."""
    document = json.loads(codec.to_json(_document("plastic-au-my-08-export-data.xml")))
    body = {"receiver": "MY:RMCD", "sender": "AU:ABF", "document": document, "test": True}
    with windows["AU"].backoffice("AU:ABF") as http:
        queued = http.post("/api/v1/outbox", json=body)
        assert queued.status_code == 202, queued.text
        message_id = queued.json()["message_id"]
        assert http.get(f"/api/v1/outbox/{message_id}").status_code == 200
    with windows["AU"].backoffice("both") as http:
        assert http.get(f"/api/v1/outbox/{message_id}").status_code == 200
    with windows["AU"].backoffice("AU:DCCEEW") as http:
        refused = http.get(f"/api/v1/outbox/{message_id}")
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden" and "AU:ABF" in refused.json()["detail"]


def test_customs_sends_as_itself_and_its_receipt_comes_from_the_customs_it_wrote_to(
    windows: dict[str, SingleWindow],
) -> None:
    australia, malaysia = windows["AU"], windows["MY"]
    document = json.loads(codec.to_json(_document("plastic-au-my-08-export-data.xml")))
    # An integration-test message (TestIndicator): it belongs to no PIC case, so no notified case is needed here.
    body = {"receiver": "MY:RMCD", "sender": "AU:ABF", "document": document, "test": True}
    with australia.backoffice() as http:
        queued = http.post("/api/v1/outbox", json=body)
        assert queued.status_code == 202, queued.text
        message_id = queued.json()["message_id"]
        status = _wait_receipted(http, message_id)
    # What MY received is signed by AU:ABF, as MY's registry (the partner's trust) verifies it.
    received = signing.verify(_inbox_xml(malaysia, message_id), trust=malaysia.trust, now=_now(), receiver="MY:RMCD")
    assert received.signer.id == "AU:ABF" and received.certificate == _certificate("AU:ABF")
    assert received.envelope.header.sender == "AU:ABF"
    # The receipt the outbox accepted comes from MY:RMCD, addressed to AU:ABF, for exactly those bytes.
    receipt = signing.verify(
        status["receipt_xml"].encode("utf-8"), trust=australia.trust, now=_now(), receiver="AU:ABF"
    )
    assert receipt.signer.id == "MY:RMCD" and receipt.certificate == _certificate("MY:RMCD")
    assert isinstance(receipt.envelope.document, Receipt)
    assert receipt.envelope.document.received_digest.value == queued.json()["digest"]


def test_the_hosted_authority_and_customs_share_one_case_and_the_hold_is_signed_by_customs(
    windows: dict[str, SingleWindow], identities: dict[str, Identity]
) -> None:
    """One gateway hosting MY:DOE and MY:RMCD keeps one case: the Notification to MY:DOE and the ExportData to
    MY:RMCD meet in it, so Customs holds a shipment no consent covers, signed as MY:RMCD, listed in that case."""
    number = "AU2026-0911"  # a case of its own: the module's windows are shared by its tests
    notification = _document("plastic-au-my-01-notification.xml").model_copy(update={"notification_number": number})
    with windows["AU"].backoffice("AU:DCCEEW") as http:
        queued = http.post(
            "/api/v1/outbox", json={"receiver": "MY:DOE", "document": json.loads(codec.to_json(notification))}
        )
        assert queued.status_code == 202, queued.text
        _wait_receipted(http, queued.json()["message_id"])
    export = _document("plastic-au-my-08-export-data.xml").model_copy(update={"notification_number": number})
    sealed = exchange.seal(export, me=identities["AU:ABF"], to="MY:RMCD", now=_now())
    response = _post(windows["MY"], sealed.raw)
    assert response.status_code == 200, response.text  # receipted: the transport worked
    with windows["MY"].backoffice() as http:
        shown = http.get(f"/api/v1/cases/{number}").json()
    assert [(m["message_type"], m["direction"], m["sender"], m["receiver"]) for m in shown["messages"]] == [
        ("Notification", "in", "AU:DCCEEW", "MY:DOE"),
        ("ExportData", "in", "AU:ABF", "MY:RMCD"),
        ("ClearanceResult", "out", "MY:RMCD", "AU:ABF"),
    ]
    held = shown["messages"][2]["message_id"]
    verified = signing.verify(_inbox_xml(windows["AU"], held), trust=windows["AU"].trust, now=_now(), receiver="AU:ABF")
    assert verified.signer.id == "MY:RMCD" and verified.certificate == _certificate("MY:RMCD")
    result = verified.envelope.document
    assert isinstance(result, ClearanceResult) and result.status is ClearanceStatus.HELD
    assert "pic.consent.missing" in [item.rule_id for item in result.finding]


def test_a_message_that_overtakes_its_notification_is_kept_and_applied_when_the_notification_arrives(
    windows: dict[str, SingleWindow], identities: dict[str, Identity]
) -> None:
    """A MovementAnnouncement delivered before its Notification is receipted and waits in the case; the
    Notification, delivered later, takes its place before it and nothing waits any more."""
    number = "AU2026-0912"
    announcement = _document("plastic-au-my-07-movement-announcement.xml").model_copy(
        update={"notification_number": number}
    )
    notification = _document("plastic-au-my-01-notification.xml").model_copy(update={"notification_number": number})
    sealed = [
        exchange.seal(doc, me=identities["AU:DCCEEW"], to="MY:DOE", now=_now()) for doc in (announcement, notification)
    ]

    def case() -> dict[str, Any]:
        with windows["MY"].backoffice("MY:DOE") as http:
            response = http.get(f"/api/v1/cases/{number}")
            assert response.status_code == 200, response.text
            shown: dict[str, Any] = response.json()
            return shown

    assert _post(windows["MY"], sealed[0].raw).status_code == 200
    early = case()
    assert [(item["message_type"], item["waiting_for"]) for item in early["case"]["pending"]] == [
        ("MovementAnnouncement", "the Notification")
    ]
    assert _post(windows["MY"], sealed[1].raw).status_code == 200
    later = case()
    assert later["case"]["pending"] == [] and later["case"]["state"] == "notified"
    assert later["case"]["message_ids"] == [str(item.message_id) for item in reversed(sealed)]


def test_a_client_bound_to_one_participant_sends_as_it_by_default(windows: dict[str, SingleWindow]) -> None:
    australia, malaysia = windows["AU"], windows["MY"]
    document = json.loads(codec.to_json(_document("plastic-au-my-01-notification.xml")))
    with australia.backoffice("AU:DCCEEW") as http:
        queued = http.post("/api/v1/outbox", json={"receiver": "MY:DOE", "document": document})
        assert queued.status_code == 202, queued.text
        _wait_receipted(http, queued.json()["message_id"])
    received = signing.verify(_inbox_xml(malaysia, queued.json()["message_id"]), trust=malaysia.trust, now=_now())
    assert received.signer.id == "AU:DCCEEW"


@pytest.mark.parametrize(
    ("token", "sender", "status", "code"),
    [
        ("both", "MY:DOE", 422, "invalid-request"),  # another country's participant
        ("both", "AU:EPA", 422, "invalid-request"),  # an agency of the country this window does not host
        ("both", None, 422, "invalid-request"),  # the client acts for two: it must say which
        ("AU:ABF", "AU:DCCEEW", 403, "forbidden"),  # hosted, but not this client's
    ],
    ids=["other-country", "not-hosted", "unnamed", "not-the-client-s"],
)
def test_a_sender_the_window_does_not_host_or_the_client_may_not_act_for_is_refused(
    windows: dict[str, SingleWindow], token: str, sender: str | None, status: int, code: str
) -> None:
    document = json.loads(codec.to_json(_document("plastic-au-my-01-notification.xml")))
    body: dict[str, Any] = {"receiver": "MY:DOE", "document": document}
    if sender is not None:
        body["sender"] = sender
    before = windows["AU"].running.store.counts().outbound
    with windows["AU"].backoffice(token) as http:
        response = http.post("/api/v1/outbox", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["code"] == code
    if status == 422:
        assert [issue["path"] for issue in problem["issues"]] == ["body.sender"]
        assert (sender or "sender") in problem["detail"]
    assert windows["AU"].running.store.counts().outbound == before  # nothing queued


def test_gateway_pair_starts_single_windows_hosting_several_participants(tmp_path: Path) -> None:
    """The public test kit: AU {DCCEEW, ABF} and MY {DOE, RMCD}; ExportData from AU:ABF to MY:RMCD."""
    with gateway_pair(tmp_path, exporter=AU, importer=MY) as pair:
        assert pair.exporting.participants == AU and pair.importing.participant == "MY:DOE"
        export_data = _document("plastic-au-my-08-export-data.xml")
        # A test message (no case behind it needed); a live ExportData needs its consented case, as in the demo.
        queued = pair.exporting.submit(export_data, to="MY:RMCD", sender="AU:ABF", test=True)
        status = pair.exporting.wait_for(queued["message_id"])
        receipt = codec.from_xml(status["receipt_xml"].encode("utf-8"), Envelope).header
        assert (receipt.sender, receipt.receiver) == ("MY:RMCD", "AU:ABF")
        with pytest.raises(AssertionError, match="body.sender|name one as sender"):
            pair.exporting.submit(export_data, to="MY:RMCD")  # the token acts for both: say which


def test_send_signs_as_the_hosted_participant_named_with_as(windows: dict[str, SingleWindow], tmp_path: Path) -> None:
    """``picexchange send --as AU:ABF`` with the registry of a Single Window hosting two; required there."""
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[gateway]\npartners = "{windows["AU"].running.config.partners}"\nstore = "sqlite:au.db"\n'
        '[backoffice]\ntokens = "tokens.toml"\n'
    )
    export_data = tmp_path / "export-data.xml"  # its sealed copy is kept beside it, never in the samples
    export_data.write_bytes((MESSAGES / "plastic-au-my-08-export-data.xml").read_bytes())
    bare = tmp_path / "export-data.json"  # a bare document names no Sender
    bare.write_bytes(codec.to_json(codec.from_xml(export_data.read_bytes(), Envelope).document))

    def send(*extra: str, path: Path = export_data) -> Any:
        return CliRunner().invoke(app, ["send", str(path), "--to", "MY:RMCD", "--config", str(config), *extra])

    unnamed = send(path=bare)
    assert (
        unnamed.exit_code == 2
        and "the registry hosts AU:DCCEEW, AU:ABF: say which one sends with --as" in unnamed.stderr
    )
    stranger = send("--as", "MY:DOE")
    assert stranger.exit_code == 2 and "--as MY:DOE is not hosted" in stranger.stderr
    sent = send("--as", "AU:ABF")
    assert sent.exit_code == 0, sent.stderr
    assert "receipted by MY:RMCD" in sent.stdout
    message_id = sent.stdout.split("message ", 1)[1].split()[0]
    received = signing.verify(_inbox_xml(windows["MY"], message_id), trust=windows["MY"].trust, now=_now())
    assert received.signer.id == "AU:ABF"


def test_a_transit_authority_s_deemed_consent_days_in_the_registry_make_it_deemed_to_consent_at_the_gateway(
    tmp_path: Path, identities: dict[str, Identity]
) -> None:
    """End to end from the partner registry: `deemed_consent_days = 60` on SG:NEA's entry, a gateway built from
    that file alone, SG's complete acknowledgement received on day 0, and the case at MY shows SG undecided (and
    the shipment blocked) on day 59, deemed to consent on day 60."""
    registry = _write(
        tmp_path,
        _me(tmp_path, "MY:DOE") + _me(tmp_path, "MY:RMCD") + _all_partners(SG_NEA="deemed_consent_days = 60"),
    )
    config = GatewayConfig(
        partners=registry,
        store=f"sqlite:///{tmp_path / 'store.db'}",
        partner=PartnerConfig(port=0),
        backoffice=BackofficeConfig(port=0),
    )
    gateway = build(config, credentials=Credentials(tokens=())).gateway
    assert gateway.case_policy.waived_written_consent == {"SG:NEA": 60}
    now = _now()
    number = "AU2026-0913"
    notified = _document("plastic-au-my-01-notification.xml")
    route = (
        notified.state_concerned[0],
        StateConcerned(role=Role.TRANSIT, country="SG", competent_authority="SG:NEA"),
        notified.state_concerned[1],
    )
    notification = notified.model_copy(update={"notification_number": number, "state_concerned": route})
    acknowledgement = _document("plastic-au-my-03-acknowledgement.xml").model_copy(
        update={
            "notification_number": number,
            "country": "SG",
            "competent_authority": "SG:NEA",
            "acknowledged_on": now.date(),
            "complete": True,
        }
    )
    consent = _document("plastic-au-my-06-consent-decision.xml").model_copy(update={"notification_number": number})
    for document, sender in ((notification, "AU:DCCEEW"), (acknowledgement, "SG:NEA")):
        raw = exchange.seal(document, me=identities[sender], to="MY:DOE", now=now).raw
        status, reply = gateway.receive(raw, now)
        assert status == 200, reply
    decision = json.loads(codec.to_json(consent))
    gateway.submit(Submission(receiver="AU:DCCEEW", sender="MY:DOE", document=decision), now)

    def sg_on(days: int) -> tuple[str, bool]:
        shown = gateway.case_detail(number, now + dt.timedelta(days=days))
        assert shown is not None
        view = case_view(shown[1])
        decision = next(state["decision"] for state in view["states"] if state["country"] == "SG")
        return decision, any(item["rule_id"] == "pic.transit.missing" for item in view["findings"])

    assert sg_on(59) == ("undecided", True)
    assert sg_on(60) == ("deemed-consented", False)
