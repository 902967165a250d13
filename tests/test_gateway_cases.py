"""PIC cases in real gateways: the plastic AU -> MY flow between two Single Windows over HTTP on loopback.

Each country runs two gateway processes on one store, as one Single Window: AU:DCCEEW and AU:ABF on the
Australian store, MY:DOE and MY:RMCD on the Malaysian one (one gateway hosting both participants of a country,
``[[me]]``, is tested in test_single_window.py and by every flow of test_flows.py). Every message goes through the
real partner listener, outbox worker and back office; the replies are checked as the partner checks them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from picexchange import codec, exchange, signing
from picexchange.cases import Agency, CaseEvent, Direction
from picexchange.gateway import BackofficeConfig, Gateway, GatewayConfig, OutboxConfig, PartnerConfig, build
from picexchange.models.envelope import Envelope, Error
from picexchange.models.export import ClearanceResult, ClearanceStatus, ExportData
from picexchange.models.pic import Acknowledgement, ConsentDecision, Notification
from picexchange.store import OutboundState, open_store
from picexchange.store.sqlite import MIGRATIONS
from picexchange.testing import GatewayNode, backoffice_credentials, free_port, serve_in_thread
from picexchange.testpki import TestPki, certificate_pem, make_test_pki, partners_toml, private_key_pem
from picexchange.trust import TrustStore
from postgres_server import PG_SERVER, postgres_schema, require_postgres

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"
CLI = Path(sys.executable).parent / "picexchange"
DCCEEW, ABF, DOE, RMCD = "AU:DCCEEW", "AU:ABF", "MY:DOE", "MY:RMCD"
CASE = "AU2026-0042"


# The gateways' clock and the tests' run on a simulated day inside the sample's consent and departures (the case
# rows' blocked is read on the day), moving on with the wall clock.
_SHIFT = dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC) - dt.datetime.now(dt.UTC)
TODAY = "2026-03-20"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC) + _SHIFT


def _document(name: str) -> Any:
    return codec.from_xml((SAMPLES / name).read_bytes(), Envelope).document


NOTIFICATION: Notification = _document("plastic-au-my-01-notification.xml")
ACKNOWLEDGEMENT: Acknowledgement = _document("plastic-au-my-03-acknowledgement.xml")
CONSENT: ConsentDecision = _document("plastic-au-my-06-consent-decision.xml")
EXPORT: ExportData = _document("plastic-au-my-08-export-data.xml")


@dataclass(frozen=True, slots=True, kw_only=True)
class SingleWindows:
    """Four gateways of two Single Windows, and the PKI they trust."""

    pki: TestPki
    nodes: dict[str, GatewayNode]
    stores: dict[str, str]

    def __getitem__(self, participant: str) -> GatewayNode:
        return self.nodes[participant]

    def post(self, raw: bytes, to: str) -> httpx.Response:
        """POST signed bytes to a participant's partner listener, as a partner would."""
        return httpx.post(
            f"{self.nodes[to].url}/ub/v1/messages", content=raw, headers={"Content-Type": "application/xml"}, timeout=30
        )


@contextlib.contextmanager
def single_windows(directory: Path) -> Iterator[SingleWindows]:
    """Start the four gateways (two per country, each pair on one SQLite store); stop them on exit."""
    now = _now()
    participants = [DCCEEW, ABF, DOE, RMCD]
    pki = make_test_pki(participants, not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30))
    ports = {participant: free_port() for participant in participants}
    partners = [
        dataclasses.replace(item.partner, endpoint=f"http://127.0.0.1:{ports[item.id]}/ub/v1/messages")
        for item in pki.participants
    ]
    stores = {country: f"sqlite:///{directory / f'{country}.db'}" for country in ("AU", "MY")}
    # Each worker polls rarely and is woken by its own gateway's submissions: a gateway's worker delivers what
    # it queued (a worker signs and checks receipts as its own participant only; hosting several is not here).
    outbox = OutboxConfig(poll_seconds=3600, lease_seconds=60)
    with contextlib.ExitStack() as stack:
        nodes = {}
        for participant in participants:
            config = GatewayConfig(
                partners=directory / "partners.toml",
                store=stores[participant[:2]],
                partner=PartnerConfig(port=ports[participant]),
                backoffice=BackofficeConfig(port=0),
                outbox=outbox,
            )
            token, credentials = backoffice_credentials([participant])
            trust = TrustStore.of(partners, me=pki[participant].identity)
            running = build(config, trust=trust, credentials=credentials, clock=_now)
            server = stack.enter_context(serve_in_thread(running))
            http = stack.enter_context(
                httpx.Client(base_url=server.backoffice_url, timeout=30, headers={"Authorization": f"Bearer {token}"})
            )
            nodes[participant] = GatewayNode(
                participant=participant,
                url=server.partner_url,
                backoffice_url=server.backoffice_url,
                running=running,
                http=http,
                token=token,
            )
        yield SingleWindows(pki=pki, nodes=nodes, stores=stores)


@pytest.fixture
def windows(tmp_path: Path) -> Iterator[SingleWindows]:
    with single_windows(tmp_path) as started:
        yield started


def _submit(node: GatewayNode, document: Any, *, to: str, **extra: Any) -> httpx.Response:
    body = {"receiver": to, "document": json.loads(codec.to_json(document)), **extra}
    return node.http.post("/api/v1/outbox", json=body)


def _queued(node: GatewayNode, document: Any, *, to: str) -> dict[str, Any]:
    response = _submit(node, document, to=to)
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    node.wait_for(result["message_id"])
    return result


def _outbound_count(url: str) -> int:
    with sqlite3.connect(url.removeprefix("sqlite://")) as db:
        return int(db.execute("SELECT count(*) FROM outbound").fetchone()[0])


def _inbox(node: GatewayNode, message_type: str) -> list[dict[str, Any]]:
    return [m for m in node.inbox()["messages"] if m["message_type"] == message_type]


def _wait_for_inbox(node: GatewayNode, message_type: str, *, timeout: float = 30.0) -> dict[str, Any]:
    deadline = _now() + dt.timedelta(seconds=timeout)
    while _now() < deadline:
        found = _inbox(node, message_type)
        if found:
            return found[0]
        threading.Event().wait(0.05)
    raise AssertionError(f"no {message_type} arrived at {node.participant}")


# ------------------------------------------------------------------------------------------ the flows


def test_export_data_without_consent_is_stored_receipted_and_held_automatically(windows: SingleWindows) -> None:
    """No consent yet: import Customs receipts the ExportData (the transport worked) and holds the shipment.

    The automatic ClearanceResult is signed by MY:RMCD, refers to the ExportData, carries the findings with
    rule id, field, expected and found, and arrives at AU:ABF's gateway, which verifies it like any message.
    """
    _queued(windows[DCCEEW], NOTIFICATION, to=DOE)
    export = exchange.seal(EXPORT, me=windows.pki[ABF].identity, to=RMCD, now=_now())
    response = windows.post(export.raw, RMCD)
    assert response.status_code == 200, response.text
    trust = windows[ABF].running.gateway.trust
    receipt = exchange.read_reply(response.content, sent=export, me=windows.pki[ABF].identity, trust=trust, now=_now())
    assert receipt.receipt.received_digest.value == export.digest

    arrived = _wait_for_inbox(windows[ABF], "ClearanceResult")
    raw = arrived["xml"].encode("utf-8")
    verified = signing.verify(raw, trust=windows[ABF].running.gateway.trust, now=_now(), hosted={ABF})
    assert verified.signer.id == RMCD
    envelope = codec.from_xml(raw, Envelope)
    result = envelope.document
    assert isinstance(result, ClearanceResult)
    assert envelope.header.sender == RMCD and envelope.header.ref_to_message_id == export.envelope.header.message_id
    assert result.status is ClearanceStatus.HELD and result.shipment_serial == 1
    assert result.customs_office == "MYPKG"  # the notification's office of entry
    rules = {item.rule_id: item for item in result.finding}
    assert "pic.consent.missing" in rules
    missing = rules["pic.consent.missing"]
    assert missing.field == "/ExportData/NotificationNumber" and missing.found == "no decision"
    assert missing.expected == "consent of MY (import) by 2026-03-04"

    # The Malaysian case lists the Notification, the ExportData and the hold, and is blocked.
    shown = windows[DOE].http.get(f"/api/v1/cases/{CASE}").json()
    assert [(m["message_type"], m["direction"]) for m in shown["messages"]] == [
        ("Notification", "in"),
        ("ExportData", "in"),
        ("ClearanceResult", "out"),
    ]
    assert shown["summary"]["blocked"] is True and shown["summary"]["violations"] >= 1
    assert shown["case"]["shipments"][0]["state"] == "held"


def test_export_data_under_consent_is_released_and_nothing_is_answered_automatically(windows: SingleWindows) -> None:
    """Consent given: AU:ABF's declaration passes both Single Windows' checks; no ClearanceResult is made."""
    _queued(windows[DCCEEW], NOTIFICATION, to=DOE)
    _queued(windows[DOE], CONSENT, to=DCCEEW)
    my_store = windows.stores["MY"]
    before = _outbound_count(my_store)
    queued = _queued(windows[ABF], EXPORT, to=RMCD)
    assert queued["warnings"] == []
    assert _outbound_count(my_store) == before  # released is never automatic: an officer decides
    shown = windows[RMCD].http.get(f"/api/v1/cases/{CASE}").json()
    assert [m["message_type"] for m in shown["messages"]] == ["Notification", "ConsentDecision", "ExportData"]
    assert shown["summary"]["blocked"] is False and shown["summary"]["shipments_used"] == 1
    assert shown["case"]["shipments"][0]["state"] == "exported"
    (my_state,) = [state for state in shown["case"]["states"] if state["country"] == "MY"]
    assert my_state["decision"] == "consented" and my_state["valid_until"] == "2027-02-19"


def test_a_second_export_declaration_for_one_serial_is_refused_at_submission(windows: SingleWindows) -> None:
    """Australian Customs sees the finding before the declaration leaves: 422 with the findings, nothing queued."""
    _queued(windows[DCCEEW], NOTIFICATION, to=DOE)
    _queued(windows[DOE], CONSENT, to=DCCEEW)
    _queued(windows[ABF], EXPORT, to=RMCD)
    au_store = windows.stores["AU"]
    before = _outbound_count(au_store)
    again = EXPORT.model_copy(
        update={"export_declaration": EXPORT.export_declaration.model_copy(update={"declaration_id": "AUEX26999"})}
    )
    response = _submit(windows[ABF], again, to=RMCD)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "case-violation"
    (repeated,) = [issue for issue in problem["issues"] if issue["rule_id"] == "export.serial.repeated"]
    assert repeated["path"] == "/ExportData/ShipmentSerial" and repeated["found"] and repeated["expected"]
    assert _outbound_count(au_store) == before
    # And before any consent, a first declaration is refused for the consent (Art. 6(3)).
    fresh = EXPORT.model_copy(update={"notification_number": "AU2026-0043"})
    no_case = _submit(windows[ABF], fresh, to=RMCD).json()
    assert no_case["code"] == "case-violation"
    assert {issue["rule_id"] for issue in no_case["issues"]} == {"export.case.unknown"}


def test_an_exporting_authority_may_not_send_an_acknowledgement(windows: SingleWindows) -> None:
    """Only an authority of import or transit acknowledges a notification: the signed Error says who may."""
    _queued(windows[DCCEEW], NOTIFICATION, to=DOE)
    wrong = ACKNOWLEDGEMENT.model_copy(update={"country": "AU"})
    sealed = exchange.seal(wrong, me=windows.pki[DCCEEW].identity, to=DOE, now=_now())
    response = windows.post(sealed.raw, DOE)
    assert response.status_code == 403
    # A signed Error, from the participant the message was for, verified as AU:DCCEEW's gateway verifies it.
    au_trust = windows[DCCEEW].running.gateway.trust
    verified = signing.verify(response.content, trust=au_trust, now=_now(), hosted={DCCEEW})
    assert verified.signer.id == DOE
    error = verified.envelope.document
    assert isinstance(error, Error)
    assert error.code.value == "sender-not-allowed"
    assert [issue.rule_id for issue in error.issue] == ["case.sender.role"]
    assert windows[DOE].running.store.inbound_status(DCCEEW, str(sealed.envelope.header.message_id)) is None
    case = windows[DOE].running.store.case_summary(CASE)
    assert case is not None and case.message_count == 1
    # An authority may not send export data either, even before the notification is known here.
    authority = exchange.seal(
        EXPORT.model_copy(update={"notification_number": "AU2026-0077"}),
        me=windows.pki[DCCEEW].identity,
        to=DOE,
        now=_now(),
    )
    refused = codec.from_xml(windows.post(authority.raw, DOE).content, Envelope).document
    assert isinstance(refused, Error) and refused.code.value == "sender-not-allowed"


def test_the_case_list_filters_and_an_unknown_case_is_404(windows: SingleWindows) -> None:
    _queued(windows[DCCEEW], NOTIFICATION, to=DOE)
    other = NOTIFICATION.model_copy(update={"notification_number": "AU2026-0050"})
    _queued(windows[DCCEEW], other, to=DOE)
    _queued(windows[DOE], CONSENT, to=DCCEEW)
    http = windows[DOE].http

    def numbers(**params: Any) -> list[str]:
        response = http.get("/api/v1/cases", params=params)
        assert response.status_code == 200, response.text
        return [case["notification_number"] for case in response.json()["cases"]]

    assert numbers() == [CASE, "AU2026-0050"]
    assert numbers(blocked="false") == [CASE]
    assert numbers(blocked="true") == ["AU2026-0050"]
    assert numbers(country="MY", state="notified") == [CASE, "AU2026-0050"]
    assert numbers(country="JP") == []
    assert numbers(updated_since=(_now() + dt.timedelta(hours=1)).isoformat()) == []
    page = http.get("/api/v1/cases", params={"limit": 1}).json()
    assert page["has_more"] and [c["notification_number"] for c in page["cases"]] == [CASE]
    assert numbers(since=page["next"]) == ["AU2026-0050"]
    missing = http.get("/api/v1/cases/AU2026-9999")
    assert missing.status_code == 404 and missing.json()["code"] == "not-found"
    assert http.get("/api/v1/cases", params={"country": "xx"}).status_code == 422
    assert http.get("/api/v1/cases", params={"updated_since": "2026-03-01T00:00:00"}).status_code == 422
    listed = {path for path in http.get("/openapi.json").json()["paths"]}
    assert {"/api/v1/cases", "/api/v1/cases/{notification_number}"} <= listed


def test_the_case_change_feed_pages_by_change_and_moves_a_case_written_again(windows: SingleWindows) -> None:
    """?changed_after= lists each case once at its latest write, in commit order; it pages alone."""
    other = NOTIFICATION.model_copy(update={"notification_number": "AU2026-0050"})
    _queued(windows[DCCEEW], NOTIFICATION, to=DOE)
    _queued(windows[DCCEEW], other, to=DOE)
    http = windows[DOE].http

    def feed(after: int, **params: Any) -> dict[str, Any]:
        response = http.get("/api/v1/cases", params={"changed_after": after, **params})
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        assert [case["change"] for case in page["cases"]] == sorted(case["change"] for case in page["cases"])
        return page

    def numbers(page: dict[str, Any]) -> list[str]:
        return [case["notification_number"] for case in page["cases"]]

    first = feed(0, limit=1)
    assert numbers(first) == [CASE] and first["has_more"] and first["next"] == first["cases"][0]["change"]
    rest = feed(first["next"])
    assert numbers(rest) == ["AU2026-0050"] and not rest["has_more"]
    assert feed(rest["next"]) == {"cases": [], "next": rest["next"], "has_more": False}
    _queued(windows[DOE], CONSENT, to=DCCEEW)  # CASE is written again: it moves behind AU2026-0050
    moved = feed(rest["next"])
    assert numbers(moved) == [CASE] and moved["cases"][0]["change"] > rest["next"]
    assert numbers(feed(0)) == ["AU2026-0050", CASE]
    assert numbers(feed(0, blocked="false")) == [CASE]
    for clash in ({"since": 1}, {"updated_since": "2026-03-01T00:00:00Z"}):
        refused = http.get("/api/v1/cases", params={"changed_after": 0, **clash})
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "invalid-request" and "leave out since and updated_since" in refused.text
    assert http.get("/api/v1/cases", params={"changed_after": -1}).status_code == 422


def test_a_store_failure_after_the_message_insert_leaves_neither_message_nor_case(windows: SingleWindows) -> None:
    """A database failure injected in the case write (a trigger): 503, nothing of the message is kept, and the
    same bytes are accepted once the failure is gone (the cached fold was dropped)."""
    _queued(windows[DCCEEW], NOTIFICATION, to=DOE)
    path = windows.stores["MY"].removeprefix("sqlite://")
    with sqlite3.connect(path) as db:
        db.execute("CREATE TRIGGER injected BEFORE INSERT ON case_message BEGIN SELECT RAISE(ABORT, 'injected'); END")
    export = exchange.seal(EXPORT, me=windows.pki[ABF].identity, to=RMCD, now=_now())
    response = windows.post(export.raw, RMCD)
    assert response.status_code == 503
    store = windows[RMCD].running.store
    assert store.inbound_status(ABF, str(export.envelope.header.message_id)) is None
    case = store.case_summary(CASE)
    assert case is not None and case.message_count == 1
    assert _outbound_count(windows.stores["MY"]) == 0
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER injected")
    assert windows.post(export.raw, RMCD).status_code == 200
    case = store.case_summary(CASE)
    assert case is not None and case.message_count == 3  # the ExportData and its automatic hold


# ------------------------------------------------------------------------------------------------ the CLI


def _gateway_toml(windows: SingleWindows, directory: Path, participant: str) -> Path:
    """Write the gateway.toml (and partners.toml, key and certificates) of a participant's running gateway."""
    item = windows.pki[participant]
    for each in windows.pki.participants:
        stem = each.id.replace(":", "_")
        (directory / f"{stem}.cert.pem").write_bytes(certificate_pem(each.certificate))
    key = directory / f"{participant.replace(':', '_')}.key.pem"
    key.write_bytes(private_key_pem(item.private_key))
    key.chmod(0o600)
    (directory / "partners.toml").write_text(partners_toml(windows.pki, me=participant))
    config = directory / "gateway.toml"
    store = "/" + windows.stores[participant[:2]].removeprefix("sqlite:///").lstrip("/")
    (directory / "tokens.toml").write_text("")
    config.write_text(
        f'[gateway]\npartners = "partners.toml"\nstore = "sqlite:{store}"\n[backoffice]\ntokens = "tokens.toml"\n'
    )
    return config


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603


def test_case_list_and_show_read_the_gateways_store(windows: SingleWindows, tmp_path: Path) -> None:
    _queued(windows[DCCEEW], NOTIFICATION, to=DOE)
    _queued(windows[DOE], CONSENT, to=DCCEEW)
    _queued(windows[ABF], EXPORT, to=RMCD)
    config = _gateway_toml(windows, tmp_path, RMCD)
    listed = _cli("case", "list", "--config", config, "--at", TODAY)
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    assert line.startswith(f"{CASE}  notified  AU->MY open") and "shipments 1/8" in line and "messages 3" in line
    assert _cli("case", "list", "--config", config, "--at", TODAY, "--blocked").stdout == ""
    assert _cli("case", "list", "--config", config, "--country", "JP").stdout == ""
    rows = json.loads(_cli("case", "list", "--config", config, "--state", "notified", "--json").stdout)
    assert [row["notification_number"] for row in rows] == [CASE] and rows[0]["version"] == 3
    api_keys = set(windows[RMCD].http.get("/api/v1/cases").json()["cases"][0])
    assert set(rows[0]) == api_keys  # the CLI's rows have the back office's keys
    assert _cli("case", "list", "--config", config, "--state", "sleeping").returncode == 2

    shown = _cli("case", "show", CASE, "--config", config, "--at", "2026-03-05")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert f"{CASE} as of 2026-03-05: notified; nothing blocks a new shipment" in text
    assert "shipment 1: exported" in text
    assert f"in  ExportData               {ABF} -> {RMCD}" in text
    assert f"out ConsentDecision          {DOE} -> {DCCEEW}" in text  # sent by this Single Window
    report = json.loads(_cli("case", "show", CASE, "--config", config, "--json").stdout)
    assert [m["message_type"] for m in report["messages"]] == ["Notification", "ConsentDecision", "ExportData"]
    assert report["case"]["shipments_used"] == 1 and report["summary"]["message_count"] == 3
    missing = _cli("case", "show", "AU2026-9999", "--config", config)
    assert missing.returncode == 1 and "no case AU2026-9999" in missing.stderr
    assert _cli("case", "show", CASE, "--config", tmp_path / "absent.toml").returncode == 2


def test_case_list_and_show_never_create_a_store_the_gateway_has_not_made(
    windows: SingleWindows, tmp_path: Path
) -> None:
    """Before the gateway first started there is no store: reading says so (exit 1) and writes no empty file."""
    config = _gateway_toml(windows, tmp_path, RMCD)
    config.write_text(
        '[gateway]\npartners = "partners.toml"\nstore = "sqlite:data/not-yet.db"\n'
        '[backoffice]\ntokens = "tokens.toml"\n'
    )
    missing = tmp_path / "data" / "not-yet.db"
    for command in (("case", "list"), ("case", "show", CASE)):
        done = _cli(*command, "--config", config)
        assert done.returncode == 1, done.stderr
        assert done.stdout == ""
        assert done.stderr.strip() == (
            f"error: no store at {missing} (gateway.store of {config}): the gateway creates it when it first starts"
        )
        assert not missing.exists() and not missing.parent.exists()


def test_backup_copies_the_running_gateways_store_and_the_copy_is_a_store(
    windows: SingleWindows, tmp_path: Path
) -> None:
    """picexchange backup: a copy of the live store that case show reads like the original; never overwrites."""
    _queued(windows[DCCEEW], NOTIFICATION, to=DOE)
    _queued(windows[DOE], CONSENT, to=DCCEEW)
    _queued(windows[ABF], EXPORT, to=RMCD)
    config = _gateway_toml(windows, tmp_path, RMCD)
    target = tmp_path / "backups" / "my.db"
    target.parent.mkdir()
    done = _cli("backup", target, "--config", config)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(windows.stores["MY"].removeprefix("sqlite://")) as db:
        received, sent = (
            db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("inbound", "outbound")
        )
    assert done.stdout.startswith(f"{target}: ") and done.stdout.strip().endswith(
        f"bytes, schema {len(MIGRATIONS)}; received {received}, sent {sent}, PIC cases 1; integrity ok"
    ), done.stdout
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(path.name for path in target.parent.iterdir()) == ["my.db"]  # no partial file, no journal left

    restored = tmp_path / "restored"
    restored.mkdir()
    copy_config = _gateway_toml(windows, restored, RMCD)
    copy_config.write_text(
        copy_config.read_text().replace(
            windows.stores["MY"].removeprefix("sqlite://").lstrip("/"), str(target).lstrip("/")
        )
    )
    original = json.loads(_cli("case", "show", CASE, "--config", config, "--json").stdout)
    copied = _cli("case", "show", CASE, "--config", copy_config, "--json")
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout) == original

    before = target.read_bytes()
    again = _cli("backup", target, "--config", config)
    assert again.returncode == 2 and "exists: a backup never replaces a file" in again.stderr
    assert target.read_bytes() == before
    absent = _cli("backup", tmp_path / "x.db", "--config", restored / "nowhere.toml")
    assert absent.returncode == 2
    copy_config.write_text(
        copy_config.read_text().replace(str(target).lstrip("/"), str(tmp_path / "none.db").lstrip("/"))
    )
    missing = _cli("backup", tmp_path / "y.db", "--config", copy_config)
    assert missing.returncode == 1 and "no store at" in missing.stderr and not (tmp_path / "none.db").exists()
    copy_config.write_text(
        '[gateway]\npartners = "partners.toml"\nstore = "postgresql://127.0.0.1:5432/test"\n'
        '[backoffice]\ntokens = "tokens.toml"\n'
    )
    postgres = _cli("backup", tmp_path / "z.db", "--config", copy_config)
    assert postgres.returncode == 2 and "pg_dump" in postgres.stderr and not (tmp_path / "z.db").exists()


# -------------------------------------------------------------------------- two gateways, one PostgreSQL


def test_two_gateways_on_one_postgres_store_lose_no_message_of_one_case(tmp_path: Path) -> None:
    """Two Gateway instances of MY:RMCD (two processes' worth) share one PostgreSQL store and take, at once,
    sixteen ExportData of one case from eight threads: every message and every automatic hold is in the case,
    in contiguous positions, whatever the interleaving (each conflict is folded again and retried)."""
    require_postgres()
    now = _now()
    pki = make_test_pki([ABF, RMCD], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30))
    trust = TrustStore.of([item.partner for item in pki.participants], me=pki[RMCD].identity)
    with postgres_schema(PG_SERVER) as url:
        stores = [open_store(url) for _ in range(2)]
        stores[0].migrate()
        gateways = [Gateway(me=pki[RMCD].identity, trust=trust, store=store) for store in stores]
        messages = [
            exchange.seal(
                EXPORT.model_copy(update={"shipment_serial": serial, "total_shipments": 16}),
                me=pki[ABF].identity,
                to=RMCD,
                now=now,
            ).raw
            for serial in range(1, 17)
        ]
        statuses: list[int] = []
        lock = threading.Lock()

        def send(gateway: Gateway, raws: list[bytes]) -> None:
            for raw in raws:
                while True:  # a sender retries a 503 with the same bytes, as the outbox does
                    status, _, _ = gateway.handle(raw, _now())
                    if status != 503:
                        break
                with lock:
                    statuses.append(status)

        threads = [threading.Thread(target=send, args=(gateways[i % 2], messages[i::8])) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert statuses == [200] * 16
        case = stores[0].case_summary(CASE)
        assert case is not None and case.message_count == 32  # sixteen ExportData, sixteen holds
        listed = stores[1].case_messages(CASE)
        assert [item.position for item in listed] == list(range(1, 33))
        assert sorted(item.message.message_type for item in listed) == ["ClearanceResult"] * 16 + ["ExportData"] * 16
        # Folding the stored case again gives every shipment once, each held (no notification is known).
        events = [
            CaseEvent.from_envelope(
                codec.from_xml(item.data, Envelope),
                direction=Direction.INBOUND,
                sender_agency=Agency.CUSTOMS,
            )
            for item in listed
        ]
        assert len({event.message_id for event in events}) == 32
        replies = [s for s in (stores[0].outbound_status(item.message.message_id) for item in listed) if s]
        assert len(replies) == 16 and {s.state for s in replies} == {OutboundState.QUEUED}
        for store in stores:
            store.close()


def test_a_cached_case_catches_up_with_what_another_gateway_stored(tmp_path: Path) -> None:
    """A case another process wrote since is read from where the cached fold stopped, not folded from the start."""
    now = _now()
    pki = make_test_pki([ABF, RMCD], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30))
    trust = TrustStore.of([item.partner for item in pki.participants], me=pki[RMCD].identity)
    url = f"sqlite:///{tmp_path / 'MY.db'}"
    first, second = open_store(url), open_store(url)
    first.migrate()
    gateways = [Gateway(me=pki[RMCD].identity, trust=trust, store=store) for store in (first, second)]
    reads: list[int] = []
    real = first.case_messages

    def counted(number: str, *, after: int = 0) -> Any:
        reads.append(after)
        return real(number, after=after)

    first.case_messages = counted  # type: ignore[method-assign]

    def export(serial: int) -> bytes:
        document = EXPORT.model_copy(update={"shipment_serial": serial})
        return exchange.seal(document, me=pki[ABF].identity, to=RMCD, now=_now()).raw

    assert gateways[0].handle(export(1), _now())[0] == 200  # a new case: nothing to read
    assert gateways[1].handle(export(2), _now())[0] == 200  # the other process: ExportData 2 and its hold
    assert gateways[0].handle(export(3), _now())[0] == 200
    assert reads == [2]  # caught up after the two messages it held, never from position 0
    case = first.case_summary(CASE)
    assert case is not None and case.message_count == 6
    shown = gateways[0].case_detail(CASE, _now())
    assert shown is not None and [s.serial for s in shown[1].shipments] == [1, 2, 3]
    for store in (first, second):
        store.close()


# ------------------------------------------------------------------- a failed case write, on both stores


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_failed_case_write_keeps_nothing_on_either_store_and_the_same_bytes_go_through_after(
    backend: str, tmp_path: Path
) -> None:
    """A failure injected in the case write (a trigger on case_message) makes the gateway answer 503 and keep
    neither the message, nor its automatic hold, nor the case row; once the failure is gone the same bytes are
    accepted, held and listed once (the gateway dropped the fold that held the failed message)."""
    now = _now()
    pki = make_test_pki([ABF, RMCD], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30))
    trust = TrustStore.of([item.partner for item in pki.participants], me=pki[RMCD].identity)
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'MY.db'}"
            inject = ("CREATE TRIGGER injected BEFORE INSERT ON case_message BEGIN SELECT RAISE(ABORT, 'x'); END",)
        else:
            require_postgres()
            url = stack.enter_context(postgres_schema(PG_SERVER))
            inject = (
                "CREATE FUNCTION injected() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'x'; END $$",
                "CREATE TRIGGER injected BEFORE INSERT ON case_message FOR EACH ROW EXECUTE FUNCTION injected()",
            )
        store = stack.enter_context(open_store(url))
        store.migrate()
        gateway = Gateway(me=pki[RMCD].identity, trust=trust, store=store)

        def execute(*statements: str) -> list[tuple[Any, ...]]:
            if backend == "sqlite":
                with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite://"))) as db, db:
                    return [row for sql in statements for row in db.execute(sql).fetchall()]
            with psycopg.connect(url, autocommit=True) as conn:
                found: list[tuple[Any, ...]] = []
                for sql in statements:
                    cursor = conn.execute(sql.encode())
                    found += cursor.fetchall() if cursor.description else []
                return found

        def export(serial: int) -> bytes:
            document = EXPORT.model_copy(update={"shipment_serial": serial})
            return exchange.seal(document, me=pki[ABF].identity, to=RMCD, now=_now()).raw

        assert gateway.handle(export(1), _now())[0] == 200  # the case exists and its fold is cached
        execute(*inject)
        failing = export(2)
        status, body, headers = gateway.handle(failing, _now())
        assert status == 503 and "Retry-After" in headers
        refused = codec.from_xml(body, Envelope).document
        assert isinstance(refused, Error) and refused.code.value == "unavailable"
        tables = ("inbound", "outbound", "case_message")
        counts = "SELECT " + ", ".join(f"(SELECT count(*) FROM {table})" for table in tables)  # noqa: S608
        assert execute(counts) == [(1, 1, 2)]  # ExportData 1 and its hold only
        case = store.case_summary(CASE)
        assert case is not None and (case.version, case.message_count) == (1, 2)

        execute("DROP TRIGGER injected" if backend == "sqlite" else "DROP TRIGGER injected ON case_message")
        assert gateway.handle(failing, _now())[0] == 200
        assert execute(counts) == [(2, 2, 4)]
        listed = store.case_messages(CASE)
        assert [(m.position, m.message.message_type) for m in listed] == [
            (1, "ExportData"),
            (2, "ClearanceResult"),
            (3, "ExportData"),
            (4, "ClearanceResult"),
        ]
        shown = gateway.case_detail(CASE, _now())
        assert shown is not None and [s.serial for s in shown[1].shipments] == [1, 2]


def test_a_case_awaiting_its_notification_is_listed_as_blocked(tmp_path: Path) -> None:
    """An ExportData before its Notification: no shipment may start, so the row says blocked, as the view does."""
    now = _now()
    pki = make_test_pki([ABF, RMCD], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30))
    trust = TrustStore.of([item.partner for item in pki.participants], me=pki[RMCD].identity)
    with open_store(f"sqlite:///{tmp_path / 'MY.db'}") as store:
        store.migrate()
        gateway = Gateway(me=pki[RMCD].identity, trust=trust, store=store)
        raw = exchange.seal(EXPORT, me=pki[ABF].identity, to=RMCD, now=now).raw
        assert gateway.handle(raw, now)[0] == 200
        (row,) = store.cases(since=0, limit=10, blocked=True).cases
        assert (row.notification_number, row.state, row.blocked) == (CASE, "awaited", True)
        assert store.cases(since=0, limit=10, blocked=False).cases == ()
        shown = gateway.case_detail(CASE, now)
        assert shown is not None and shown[1].blocked
