"""A case row's ``blocked`` is the case's today, not as of its last message (issue 10), through real gateways.

Two (or three) Single Windows on loopback share a simulated clock that the test moves on by days; no message is
sent when it does. A consent withdrawn with effect in ten days, a transit State deemed to consent on day 60 and a
cancellation effective later each flip the case list (back office API, console, ``picexchange case list``) on
their day: the gateway reviews the rows due before it answers a list, and the CLI computes them without writing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from picexchange import codec, exchange
from picexchange.cases import CasePolicy
from picexchange.gateway import Gateway
from picexchange.gateway.casework import CaseKeeper
from picexchange.models.common import Role, StateConcerned
from picexchange.models.envelope import Envelope
from picexchange.models.pic import Acknowledgement, ConsentDecision, ConsentWithdrawal, NotificationCancellation
from picexchange.store import open_store
from picexchange.testing import GatewayNetwork, GatewayNode, gateway_network
from picexchange.testpki import certificate_pem, file_stem, make_test_pki, partners_toml, private_key_pem
from picexchange.trust import TrustStore
from postgres_server import PG_SERVER, postgres_schema, require_postgres

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"
CLI = Path(sys.executable).parent / "picexchange"
DCCEEW, ABF, DOE, RMCD, NEA = "AU:DCCEEW", "AU:ABF", "MY:DOE", "MY:RMCD", "SG:NEA"
CASE = "AU2026-0042"
START = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)  # inside the sample's consent (from 2026-02-20) and departures


def _document(name: str) -> Any:
    return codec.from_xml((SAMPLES / name).read_bytes(), Envelope).document


NOTIFICATION = _document("plastic-au-my-01-notification.xml")
ACKNOWLEDGEMENT: Acknowledgement = _document("plastic-au-my-03-acknowledgement.xml")
CONSENT: ConsentDecision = _document("plastic-au-my-06-consent-decision.xml")
WITHDRAWAL: ConsentWithdrawal = _document("plastic-au-my-16-consent-withdrawal.xml")
CANCELLATION: NotificationCancellation = _document("plastic-au-my-17-notification-cancellation.xml")


class Clock:
    """The simulated time every gateway, outbox and client of the test reads; the test moves it on."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def days_later(self, days: int) -> None:
        self.now += dt.timedelta(days=days)


@contextlib.contextmanager
def _network(
    directory: Path,
    clock: Clock,
    *,
    backend: str = "sqlite",
    policy: CasePolicy | None = None,
    transit: bool = False,
) -> Iterator[GatewayNetwork]:
    """Start AU (DCCEEW, ABF) and MY (DOE, RMCD), and SG (NEA) with ``transit``, on SQLite or PostgreSQL."""
    sides: list[Any] = [(DCCEEW, ABF), (DOE, RMCD)] + ([NEA] if transit else [])
    with contextlib.ExitStack() as stack:
        stores = None
        if backend == "postgres":
            require_postgres()
            stores = [stack.enter_context(postgres_schema(PG_SERVER)) for _ in sides]
        yield stack.enter_context(
            gateway_network(
                directory,
                sides,
                clock=clock,
                stores=stores,
                valid_until=START + dt.timedelta(days=400),
                case_policy=policy,
            )
        )


def _send(node: GatewayNode, document: Any, *, to: str, sender: str) -> None:
    """Submit through the sender's back office and wait until the partner's gateway receipted it."""
    node.wait_for(node.submit(document, to=to, sender=sender)["message_id"])


def _rows(node: GatewayNode, **params: Any) -> dict[str, dict[str, Any]]:
    response = node.http.get("/api/v1/cases", params=params)
    assert response.status_code == 200, response.text
    return {row["notification_number"]: row for row in response.json()["cases"]}


def _row(node: GatewayNode) -> dict[str, Any]:
    return _rows(node)[CASE]


def _blocked_lists(node: GatewayNode) -> tuple[list[str], list[str]]:
    """Return the cases the blocked=true and blocked=false filters list."""
    return sorted(_rows(node, blocked="true")), sorted(_rows(node, blocked="false"))


def _withdrawal(effective: dt.date) -> ConsentWithdrawal:
    """MY:DOE's withdrawal of its consent, made on the first day, in force from ``effective``."""
    return WITHDRAWAL.model_copy(update={"withdrawn_on": START.date(), "effective_from": effective})


def _consented(network: GatewayNetwork) -> None:
    """AU:DCCEEW notifies MY:DOE; MY:DOE consents (valid 2026-02-20 to 2027-02-19)."""
    _send(network.of(DCCEEW), NOTIFICATION, to=DOE, sender=DCCEEW)
    _send(network.of(DOE), CONSENT, to=DCCEEW, sender=DOE)


# ---------------------------------------------------------------------------------------------- withdrawal


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_withdrawal_effective_in_ten_days_blocks_the_case_on_its_day_with_no_new_message(
    backend: str, tmp_path: Path
) -> None:
    """Withdrawn from day 11: the lists say not blocked on days 1-10 and blocked from day 11, at both Single Windows;
    the row is rewritten once (version + 1, no message added), and the case view agrees."""
    clock = Clock(START)
    with _network(tmp_path, clock, backend=backend) as network:
        australia, malaysia = network.of(DCCEEW), network.of(DOE)
        _consented(network)
        effective = START.date() + dt.timedelta(days=10)
        _send(malaysia, _withdrawal(effective), to=DCCEEW, sender=DOE)
        for node in (australia, malaysia):
            assert _row(node)["blocked"] is False
            assert _blocked_lists(node) == ([], [CASE])
        before = _row(malaysia)
        assert before["message_count"] == 3

        clock.days_later(9)  # day 10: the withdrawal is not in force yet
        assert _row(malaysia) == before
        assert malaysia.case(CASE)["summary"] == before

        clock.days_later(1)  # day 11: in force, and no message was sent
        for node in (australia, malaysia):
            assert _blocked_lists(node) == ([CASE], [])
        after = _row(malaysia)
        assert after["blocked"] is True and after["state"] == "notified"
        assert (after["version"], after["message_count"]) == (before["version"] + 1, 3)
        assert after["updated_at"] == clock.now.isoformat().replace("+00:00", "Z")
        shown = malaysia.case(CASE)
        assert shown["summary"] == after and shown["case"]["blocked"] is True
        assert [state["decision"] for state in shown["case"]["states"]] == ["consented", "withdrawn"]
        clock.days_later(30)  # nothing dated after: the row is not written again
        assert _row(malaysia) == after


def test_the_console_lists_the_case_as_blocked_from_the_withdrawal_s_day(tmp_path: Path) -> None:
    clock = Clock(START)
    with _network(tmp_path, clock) as network:
        malaysia = network.of(DOE)
        _consented(network)
        effective = START.date() + dt.timedelta(days=10)
        _send(malaysia, _withdrawal(effective), to=DCCEEW, sender=DOE)

        def listed(blocked: str) -> list[str]:
            # Signed in afresh each time: the clock moves on by days, past a console session's end.
            with httpx.Client(base_url=malaysia.backoffice_url, follow_redirects=False, timeout=30) as console:
                form = console.get("/console/sign-in")
                csrf = re.search(r'name="csrf" value="([^"]*)"', form.text)
                assert csrf is not None
                data = {"token": malaysia.token, "csrf": csrf.group(1), "next": ""}
                assert console.post("/console/sign-in", data=data).status_code == 303
                page = console.get("/console/cases", params={"blocked": blocked})
            assert page.status_code == 200
            return re.findall(r'href="/console/cases/([^"]+)"', page.text)

        assert (listed("blocked"), listed("open")) == ([], [CASE])
        clock.days_later(10)
        assert (listed("blocked"), listed("open")) == ([CASE], [])


def _gateway_toml(network: GatewayNetwork, directory: Path, participant: str, store: Path) -> Path:
    """Write a gateway.toml (registry, key, certificates) naming the store of ``participant``'s Single Window."""
    for each in network.pki.participants:
        (directory / f"{file_stem(each.id)}.cert.pem").write_bytes(certificate_pem(each.certificate))
    key = directory / f"{file_stem(participant)}.key.pem"
    key.write_bytes(private_key_pem(network.pki[participant].private_key))
    key.chmod(0o600)
    (directory / "partners.toml").write_text(partners_toml(network.pki, me=participant))
    (directory / "tokens.toml").write_text("")
    config = directory / "gateway.toml"
    config.write_text(
        f'[gateway]\npartners = "partners.toml"\nstore = "sqlite:{store}"\n[backoffice]\ntokens = "tokens.toml"\n'
    )
    return config


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603


def test_case_list_computes_blocked_on_its_date_and_writes_nothing(tmp_path: Path) -> None:
    """``picexchange case list --at``: the stored row until the withdrawal's day, the case's answer from then on;
    the store is read, never written (the row's version stays)."""
    clock = Clock(START)
    with _network(tmp_path, clock) as network:
        malaysia = network.of(DOE)
        _consented(network)
        effective = START.date() + dt.timedelta(days=10)
        _send(malaysia, _withdrawal(effective), to=DCCEEW, sender=DOE)
        version = malaysia.running.store.case_summary(CASE).version  # type: ignore[union-attr]
        folder = tmp_path / "cli"
        folder.mkdir()
        config = _gateway_toml(network, folder, RMCD, tmp_path / "MY_DOE.db")

        def listing(day: dt.date, *flags: str) -> str:
            done = _cli("case", "list", "--config", config, "--at", day.isoformat(), *flags)
            assert done.returncode == 0, done.stderr
            return done.stdout

        day_10 = effective - dt.timedelta(days=1)
        assert listing(day_10, "--blocked") == ""
        assert listing(day_10, "--not-blocked").startswith(f"{CASE}  notified  AU->MY open")
        assert listing(effective, "--not-blocked") == ""
        assert listing(effective, "--blocked").startswith(f"{CASE}  notified  AU->MY blocked")
        (row,) = json.loads(listing(effective, "--json"))
        assert (row["blocked"], row["version"]) == (True, version)
        show = _cli("case", "show", CASE, "--config", config, "--at", effective.isoformat(), "--json")
        shown = json.loads(show.stdout)
        assert shown["summary"]["blocked"] is True and shown["case"]["blocked"] is True
        # Before the consent was valid (and before the first departure) the case was blocked too.
        assert listing(dt.date(2026, 2, 19), "--blocked").startswith(CASE)
        assert malaysia.running.store.case_summary(CASE).version == version  # type: ignore[union-attr]
        bad = _cli("case", "list", "--config", config, "--at", "someday")
        assert bad.returncode == 2 and "--at must be a date" in bad.stderr


# ------------------------------------------------------------------------------------------ deemed transit


def test_a_transit_state_deemed_to_consent_on_day_60_unblocks_the_case_on_that_day(tmp_path: Path) -> None:
    """SG waived written consent (60 days, Art. 6(4)) and acknowledged the notification as complete on day 1: the
    case at AU, consented by MY, is blocked until SG is deemed to consent, and open from then, with no message."""
    clock = Clock(START)
    route = (
        NOTIFICATION.state_concerned[0],
        StateConcerned(role=Role.TRANSIT, country="SG", competent_authority=NEA),
        NOTIFICATION.state_concerned[1],
    )
    notification = NOTIFICATION.model_copy(update={"state_concerned": route})
    with _network(tmp_path, clock, policy=CasePolicy(waived_written_consent={NEA: 60}), transit=True) as network:
        australia = network.of(DCCEEW)
        _send(australia, notification, to=DOE, sender=DCCEEW)
        _send(australia, notification, to=NEA, sender=DCCEEW)
        _send(network.of(DOE), CONSENT, to=DCCEEW, sender=DOE)
        acknowledged = ACKNOWLEDGEMENT.model_copy(
            update={"country": "SG", "competent_authority": NEA, "acknowledged_on": START.date()}
        )
        _send(network.of(NEA), acknowledged, to=DCCEEW, sender=NEA)
        assert _blocked_lists(australia) == ([CASE], [])
        clock.days_later(59)
        assert _blocked_lists(australia) == ([CASE], [])
        clock.days_later(1)
        assert _blocked_lists(australia) == ([], [CASE])
        decisions = {s["country"]: s["decision"] for s in australia.case(CASE)["case"]["states"]}
        assert decisions == {"AU": "consented", "SG": "deemed-consented", "MY": "consented"}


# ---------------------------------------------------------------------------------------------- cancellation


def test_a_cancellation_effective_later_blocks_the_case_from_its_day(tmp_path: Path) -> None:
    """Cancelled with effect from day 6: the row is ``cancelled`` at once, and blocked from day 6 on."""
    clock = Clock(START)
    with _network(tmp_path, clock) as network:
        malaysia = network.of(DOE)
        _consented(network)
        cancelled_on = START.date() + dt.timedelta(days=5)
        _send(
            network.of(DCCEEW),
            CANCELLATION.model_copy(update={"cancelled_on": cancelled_on}),
            to=DOE,
            sender=DCCEEW,
        )
        row = _row(malaysia)
        assert (row["state"], row["blocked"]) == ("cancelled", False)
        clock.days_later(4)
        assert _blocked_lists(malaysia) == ([], [CASE])
        clock.days_later(1)
        assert _blocked_lists(malaysia) == ([CASE], [])
        assert _row(malaysia)["state"] == "cancelled"


# ------------------------------------------------------------------------------------------ the keeper


def _notified_at_my(path: Path, numbers: list[str]) -> TrustStore:
    """Make MY:DOE's SQLite store at ``path`` with one case per number, notified by AU:DCCEEW on START and not
    consented (so blocked, and due for review the day after the last departure); return MY:DOE's registry."""
    pki = make_test_pki(
        [DCCEEW, DOE], not_before=START - dt.timedelta(days=1), not_after=START + dt.timedelta(days=400)
    )
    trust = TrustStore.of([item.partner for item in pki.participants], me=pki[DOE].identity)
    with open_store(f"sqlite:///{path}") as store:
        store.migrate()
        gateway = Gateway(me=pki[DOE].identity, trust=trust, store=store, clock=lambda: START)
        for number in numbers:
            notified = NOTIFICATION.model_copy(update={"notification_number": number})
            raw = exchange.seal(notified, me=pki[DCCEEW].identity, to=DOE, now=START).raw
            assert gateway.handle(raw, START)[0] == 200
    return trust


def test_a_review_that_another_process_made_first_is_skipped_and_each_list_reviews_a_bounded_batch(
    tmp_path: Path,
) -> None:
    """Two keepers on one store (two gateway processes): the second review of one due row conflicts and is skipped
    (the row another process wrote is returned); review_due takes at most its limit, longest overdue first."""
    numbers = [CASE, "AU2026-0043", "AU2026-0044"]
    trust = _notified_at_my(tmp_path / "MY.db", numbers)
    with open_store(f"sqlite:///{tmp_path / 'MY.db'}") as store:
        row = store.case_summary(CASE)
        assert row is not None and (row.blocked, row.review_on) == (True, dt.date(2027, 2, 13))  # no consent yet
        later = dt.datetime(2027, 2, 13, 9, 0, tzinfo=dt.UTC)  # the day after the last departure
        first, second = CaseKeeper(store=store, trust=trust), CaseKeeper(store=store, trust=trust)
        loaded = first.load(CASE)
        written = second.review(CASE, now=later)
        assert written is not None and (written.version, written.blocked, written.review_on) == (2, True, None)
        assert written.updated_at == row.updated_at  # only the review day moved: ?updated_since= does not list it
        assert first.review_loaded(loaded, now=later) == written  # conflict: skipped, the stored row returned
        assert store.case_summary(CASE) == written
        assert first.review_due(now=later, limit=1) == 1
        assert store.cases_due(later.date(), limit=10) == (numbers[2],)
        assert first.review_due(now=later) == 1
        assert first.review_due(now=later) == 0


def test_a_case_that_cannot_be_reviewed_is_put_off_a_day_and_does_not_starve_the_others(tmp_path: Path) -> None:
    """A due case whose stored message no longer decodes is logged and its review moved to tomorrow (row otherwise
    as stored, updated_at kept): the next batch of one reviews the next due case instead of failing on it again."""
    numbers = [CASE, "AU2026-0043"]
    path = tmp_path / "MY.db"
    trust = _notified_at_my(path, numbers)
    with contextlib.closing(sqlite3.connect(path)) as db, db:  # the first case's message, damaged on disk
        db.execute("UPDATE inbound SET data = ? WHERE conversation_id = ?", (b"<not-xml", CASE))
    later = dt.datetime(2027, 2, 13, 9, 0, tzinfo=dt.UTC)  # both rows are due (the day after the last departure)
    with open_store(f"sqlite:///{path}") as store:
        keeper = CaseKeeper(store=store, trust=trust)
        broken = store.case_summary(CASE)
        assert broken is not None and store.cases_due(later.date(), limit=10) == tuple(numbers)
        assert keeper.review_due(now=later, limit=1) == 1
        put_off = store.case_summary(CASE)
        assert put_off is not None
        assert (put_off.review_on, put_off.blocked, put_off.updated_at) == (
            dt.date(2027, 2, 14),
            broken.blocked,
            broken.updated_at,
        )
        assert store.cases_due(later.date(), limit=10) == (numbers[1],)
        assert keeper.review_due(now=later, limit=1) == 1  # the other case, not the broken one again
        reviewed = store.case_summary(numbers[1])
        assert reviewed is not None and reviewed.review_on is None
        assert store.cases_due(later.date(), limit=10) == ()
