"""The operator console's rules without a browser: its door, its cookie, CSRF, who sees what, and the outbox actions.

One gateway hosts the Malaysian competent authority and Customs (MY:DOE, MY:RMCD); its back office is driven
in-process through httpx's ASGI transport (no server, no outbox worker: states stay where the test puts them).
Tokens: one per participant, one for both, one for a participant the gateway does not host.
tests/test_console_browser.py drives the same console in Chromium against a running gateway.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from picexchange import codec, exchange
from picexchange.gateway import (
    BackofficeConfig,
    Credentials,
    GatewayConfig,
    Grant,
    PartnerConfig,
    build,
    new_token,
    token_sha256,
)
from picexchange.gateway.app import Submission
from picexchange.gateway.server import Running
from picexchange.models.envelope import Envelope
from picexchange.store import OutboundState
from picexchange.testpki import TestPki, make_test_pki
from picexchange.trust import Hosted, TrustStore

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"
DOE, RMCD, DCCEEW, ABF = "MY:DOE", "MY:RMCD", "AU:DCCEEW", "AU:ABF"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


class TestClient:
    """A synchronous client of an ASGI app in this process (httpx's ASGI transport), keeping cookies."""

    __test__ = False

    def __init__(
        self,
        app: ASGIApp,
        *,
        base_url: str = "http://testserver",
        headers: dict[str, str] | None = None,
        follow_redirects: bool = False,
    ) -> None:
        self.app = app
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=base_url,
            headers=headers,
            follow_redirects=follow_redirects,
        )

    @property
    def cookies(self) -> httpx.Cookies:
        return self._client.cookies

    def get(self, url: str, **options: Any) -> httpx.Response:
        return asyncio.run(self._client.get(url, **options))

    def post(self, url: str, **options: Any) -> httpx.Response:
        return asyncio.run(self._client.post(url, **options))


@dataclasses.dataclass(frozen=True)
class Site:
    """The gateway, its tokens, and the messages put in its store."""

    running: Running
    tokens: dict[str, str]
    credentials: Credentials
    received: dict[str, tuple[str, str]]  # receiver -> (sender, message id)
    failed: dict[str, str]  # sender -> message id of a failed outbound message
    queued: dict[str, str]  # sender -> message id of a queued outbound message

    def client(self, *, https: bool = False) -> TestClient:
        return TestClient(
            self.running.backoffice_app,
            base_url="https://testserver" if https else "http://testserver",
            follow_redirects=False,
        )


def _document(name: str) -> Any:
    return codec.from_xml((SAMPLES / name).read_bytes(), Envelope).document


def _tokens() -> tuple[dict[str, str], Credentials]:
    tokens = {name: new_token() for name in ("doe", "rmcd", "both", "stranger")}
    bound = {"doe": [DOE], "rmcd": [RMCD], "both": [DOE, RMCD], "stranger": ["SG:NEA"]}
    grants = tuple(
        Grant(client=f"{name}-desk", participants=frozenset(bound[name]), sha256=token_sha256(token))
        for name, token in tokens.items()
    )
    return tokens, Credentials(tokens=grants)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_test_pki(
        [DCCEEW, ABF, DOE, RMCD], not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=20)
    )


@pytest.fixture
def site(pki: TestPki, tmp_path: Path) -> Iterator[Site]:
    trust = TrustStore.of(
        [item.partner for item in pki.participants], me=Hosted((pki[DOE].identity, pki[RMCD].identity))
    )
    config = GatewayConfig(
        partners=tmp_path / "partners.toml",
        store=f"sqlite:///{tmp_path / 'my.db'}",
        partner=PartnerConfig(port=0),
        backoffice=BackofficeConfig(port=0),
    )
    tokens, credentials = _tokens()
    running = build(config, trust=trust, credentials=credentials, clock=lambda: NOW)
    gateway, store = running.gateway, running.store
    received = {}
    # Integration-test messages (no PIC case judges them): one to each hosted participant, one from each.
    inbound = {(DCCEEW, DOE): "plastic-au-my-01-notification.xml", (ABF, RMCD): "plastic-au-my-08-export-data.xml"}
    for (sender, receiver), name in inbound.items():
        sealed = exchange.seal(_document(name), me=pki[sender].identity, to=receiver, now=NOW, test=True)
        status, _ = gateway.receive(sealed.raw, NOW)
        assert status == 200
        received[receiver] = (sender, str(sealed.envelope.header.message_id))
    failed, queued = {}, {}
    outbound = {
        DOE: (DCCEEW, "plastic-au-my-06-consent-decision.xml"),
        RMCD: (ABF, "plastic-au-my-09-clearance-result.xml"),
    }
    for sender, (receiver, name) in outbound.items():
        payload = json.loads(codec.to_json(_document(name)))
        for bucket in (failed, queued):
            submission = Submission(receiver=receiver, document=payload, test=True)
            bucket[sender] = gateway.submit(submission, NOW, sender=sender).message_id
        claimed = store.claim_due(now=NOW, lease=dt.timedelta(seconds=30), limit=10, worker="w")
        for message in claimed:
            if message.message_id == failed[sender]:
                store.mark_failed(message.message_id, worker="w", error="trust: signature not accepted", at=NOW)
            else:
                store.mark_retry(message.message_id, worker="w", error="connect timeout", next_attempt_at=NOW, at=NOW)
    try:
        yield Site(
            running=running, tokens=tokens, credentials=credentials, received=received, failed=failed, queued=queued
        )
    finally:
        running.client.close()
        store.close()


def _sign_in(client: TestClient, token: str) -> None:
    form = client.get("/console/sign-in")
    assert form.status_code == 200
    csrf = _hidden(form.text, "csrf")
    response = client.post("/console/sign-in", data={"token": token, "csrf": csrf, "next": ""})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console"


def _hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no hidden {name} in the page"
    return found.group(1)


def _csrf(client: TestClient) -> str:
    return _hidden(client.get("/console/outbox").text, "csrf")


def _actions(site: Site) -> list[tuple[str, str, str | None, str]]:
    page = site.running.store.actions(since=0, limit=500)
    return [(e.action.action, e.action.outcome, e.action.target, e.action.client) for e in page.entries]


# ------------------------------------------------------------------------------------------------ the door


def test_the_partner_listener_does_not_serve_the_console(site: Site) -> None:
    """The console lives on the back-office listener only: the partner listener answers 404 for every page."""
    partner = TestClient(site.running.partner_app, follow_redirects=False)
    for path in ("/console", "/console/sign-in", "/console/static/console.css", "/console/outbox"):
        response = partner.get(path)
        assert (response.status_code, response.headers["content-type"]) == (404, "application/problem+json"), path
    response = partner.post("/console/sign-in", data={"token": site.tokens["doe"]})
    assert response.status_code in (404, 405) and "pxc_session" not in response.headers.get("set-cookie", "")


def test_a_page_without_a_session_sends_the_browser_to_sign_in(site: Site) -> None:
    """No session: a page answers 303 to the sign-in form, naming the page to come back to."""
    response = site.client().get("/console/outbox?state=failed")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?next=/console/outbox%3Fstate%3Dfailed"


def test_sign_in_sets_an_httponly_samesite_session_cookie_for_the_console_only(site: Site) -> None:
    """Over plain HTTP (loopback) the cookie is HttpOnly, SameSite=Strict, Path=/console, and not Secure."""
    client = site.client()
    _sign_in(client, site.tokens["doe"])
    cookie = next(value for name, value in client.cookies.items() if name == "pxc_session")
    assert len(cookie) >= 40
    header = [h for h in _set_cookies(client, site.tokens["doe"]) if h.startswith("pxc_session=")][0]
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "samesite=strict" in header.lower() and "path=/console" in header.lower()
    assert "secure" not in attributes
    assert client.get("/console").status_code == 200


def _set_cookies(client: TestClient, token: str, *, https: bool = False) -> list[str]:
    fresh = TestClient(
        client.app, base_url="https://testserver" if https else "http://testserver", follow_redirects=False
    )
    csrf = _hidden(fresh.get("/console/sign-in").text, "csrf")
    response = fresh.post("/console/sign-in", data={"token": token, "csrf": csrf})
    return response.headers.get_list("set-cookie")


def test_the_session_cookie_is_secure_when_the_back_office_is_served_over_tls(site: Site) -> None:
    """Served over https, the session cookie (and the sign-in form's token cookie) carry Secure."""
    headers = _set_cookies(site.client(), site.tokens["doe"], https=True)
    session = [h for h in headers if h.startswith("pxc_session=")][0]
    assert "secure" in [part.strip().lower() for part in session.split(";")]


def test_a_wrong_token_is_refused_with_401_and_audited(site: Site) -> None:
    """A token the gateway does not know opens no session; the refusal is in the audit log."""
    client = site.client()
    csrf = _hidden(client.get("/console/sign-in").text, "csrf")
    response = client.post("/console/sign-in", data={"token": "pxb_not-a-token", "csrf": csrf})
    assert response.status_code == 401
    assert "not known to this gateway" in response.text
    assert "pxc_session" not in client.cookies
    assert ("console.sign-in", "unauthorized", None, "anonymous") in _actions(site)


def test_a_token_for_no_hosted_participant_opens_no_session(site: Site) -> None:
    """A credential bound only to participants this gateway does not host is 403."""
    client = site.client()
    csrf = _hidden(client.get("/console/sign-in").text, "csrf")
    response = client.post("/console/sign-in", data={"token": site.tokens["stranger"], "csrf": csrf})
    assert response.status_code == 403
    assert "pxc_session" not in client.cookies


def test_sign_in_without_its_csrf_token_is_403(site: Site) -> None:
    """The sign-in form is double-submit: a post without the form's token (cross-site) opens no session."""
    client = site.client()
    client.get("/console/sign-in")
    response = client.post("/console/sign-in", data={"token": site.tokens["doe"]})
    assert response.status_code == 403
    assert "pxc_session" not in client.cookies


def test_sign_in_never_redirects_to_another_site(site: Site) -> None:
    """``next`` is followed only to a console page (no open redirect)."""
    for target in ("https://evil.example/", "//evil.example/console", "/api/v1/audit"):
        client = site.client()
        csrf = _hidden(client.get("/console/sign-in").text, "csrf")
        response = client.post("/console/sign-in", data={"token": site.tokens["doe"], "csrf": csrf, "next": target})
        assert response.headers["location"] == "/console", target


def test_sign_out_ends_the_session(site: Site) -> None:
    """After sign-out the same cookie opens nothing."""
    client = site.client()
    _sign_in(client, site.tokens["doe"])
    cookie = client.cookies.get("pxc_session")
    csrf = _csrf(client)
    assert client.post("/console/sign-out", data={"csrf": csrf}).status_code == 303
    again = site.client()
    again.cookies.set("pxc_session", str(cookie), path="/console")
    assert again.get("/console").status_code == 303


def _another_process(site: Site, pki: TestPki, credentials: Credentials) -> Running:
    """Build a second gateway on the site's store (a restart, or another process on the same database)."""
    trust = TrustStore.of(
        [item.partner for item in pki.participants], me=Hosted((pki[DOE].identity, pki[RMCD].identity))
    )
    return build(site.running.config, trust=trust, credentials=credentials, clock=lambda: NOW)


def test_a_session_outlives_a_restart_and_every_process_on_the_store_knows_it(site: Site, pki: TestPki) -> None:
    """Sessions live in the store, by the cookie's digest: another gateway process on it opens the same pages."""
    client = site.client()
    _sign_in(client, site.tokens["doe"])
    cookie = str(client.cookies.get("pxc_session"))
    csrf = _csrf(client)
    other = _another_process(site, pki, site.credentials)
    try:
        browser = TestClient(other.backoffice_app, follow_redirects=False)
        browser.cookies.set("pxc_session", cookie, path="/console")
        page = browser.get("/console/outbox")
        assert page.status_code == 200 and _hidden(page.text, "csrf") == csrf  # the same session, its CSRF token
        with sqlite3.connect(site.running.config.store.removeprefix("sqlite:///")) as db:
            kept = db.execute("SELECT digest, client FROM console_session").fetchall()
        assert kept == [(hashlib.sha256(cookie.encode()).hexdigest(), "doe-desk")]  # never the cookie itself
    finally:
        other.client.close()
        other.store.close()


def test_a_credential_no_longer_accepted_ends_its_sessions(site: Site, pki: TestPki) -> None:
    """A token removed from the credentials file, bound to other participants or expired opens nothing after a
    restart with that file; with the file unchanged the same session opens pages there."""
    grants = {grant.client: grant for grant in site.credentials.tokens}
    changed = {
        "removed": Credentials(tokens=tuple(grant for name, grant in grants.items() if name != "doe-desk")),
        "rebound": Credentials(tokens=(dataclasses.replace(grants["doe-desk"], participants=frozenset({DOE, RMCD})),)),
        "expired": Credentials(tokens=(dataclasses.replace(grants["doe-desk"], expires=NOW),)),
    }
    for what, credentials in changed.items():
        client = site.client()
        _sign_in(client, site.tokens["doe"])
        cookie = str(client.cookies.get("pxc_session"))
        for accepted, restarted_with in ((True, site.credentials), (False, credentials)):
            other = _another_process(site, pki, restarted_with)
            try:
                browser = TestClient(other.backoffice_app, follow_redirects=False)
                browser.cookies.set("pxc_session", cookie, path="/console")
                assert browser.get("/console").status_code == (200 if accepted else 303), what
            finally:
                other.client.close()
                other.store.close()
        # The session was forgotten: even the gateway that opened it no longer knows it.
        assert client.get("/console").status_code == 303, what


def test_a_bearer_token_does_not_open_console_pages(site: Site) -> None:
    """The console's door is its session: an Authorization header alone is sent to sign in."""
    response = site.client().get("/console", headers={"Authorization": f"Bearer {site.tokens['doe']}"})
    assert response.status_code == 303


def test_the_api_still_needs_its_bearer_token(site: Site) -> None:
    """A console session cookie opens no API route."""
    client = site.client()
    _sign_in(client, site.tokens["both"])
    assert client.get("/api/v1/audit").status_code == 401


# ------------------------------------------------------------------------------------------ who sees what


def test_a_client_sees_only_messages_to_its_participants(site: Site) -> None:
    """MY:DOE's desk lists the message to MY:DOE, never the one to MY:RMCD."""
    client = site.client()
    _sign_in(client, site.tokens["doe"])
    page = client.get("/console/messages?direction=in").text
    assert site.received[DOE][1] in page
    assert site.received[RMCD][1] not in page
    sent = client.get("/console/messages?direction=out").text
    assert site.failed[DOE] in sent and site.failed[RMCD] not in sent


def test_opening_another_participants_message_is_403(site: Site) -> None:
    """By its address, a message to (or signed by) a participant the client does not act for is 403."""
    client = site.client()
    _sign_in(client, site.tokens["doe"])
    sender, message_id = site.received[RMCD]
    for path in (
        f"/console/messages/in/{sender}/{message_id}",
        f"/console/messages/in/{sender}/{message_id}/xml",
        f"/console/messages/out/{site.failed[RMCD]}",
        f"/console/messages/out/{site.failed[RMCD]}/xml",
    ):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "may not" in response.text
    assert ("console.message", "forbidden", f"{sender}/{message_id}", "doe-desk") in _actions(site)


def test_a_message_page_shows_the_document_and_offers_the_signed_bytes(site: Site) -> None:
    """The readable form names the document's fields; the download is the exact stored XML."""
    client = site.client()
    _sign_in(client, site.tokens["doe"])
    sender, message_id = site.received[DOE]
    page = client.get(f"/console/messages/in/{sender}/{message_id}")
    assert page.status_code == 200
    assert "Waste designation" in page.text and "Notification" in page.text
    stored = site.running.store.received_message(sender, message_id)
    assert stored is not None
    assert stored.status.digest in page.text
    download = client.get(f"/console/messages/in/{sender}/{message_id}/xml")
    assert download.headers["content-type"] == "application/xml"
    assert download.content == stored.message.data
    receipt = client.get(f"/console/messages/in/{sender}/{message_id}/receipt.xml")
    assert receipt.content == stored.receipt
    # Reading is not taking: the message is still "received" for the back office's inbox.
    assert site.running.store.inbound_status(sender, message_id).state.value == "received"  # type: ignore[union-attr]


def test_a_failed_message_page_shows_why(site: Site) -> None:
    """The partner's refusal is on the message's page."""
    client = site.client()
    _sign_in(client, site.tokens["doe"])
    page = client.get(f"/console/messages/out/{site.failed[DOE]}").text
    assert "trust: signature not accepted" in page


# --------------------------------------------------------------------------------------------- CSRF, actions


def test_retry_sends_a_failed_message_again_and_audits_it(site: Site) -> None:
    """The outbox's Retry queues the failed message again (same id), with an audit row naming the client."""
    client = site.client()
    _sign_in(client, site.tokens["doe"])
    message_id = site.failed[DOE]
    response = client.post(f"/console/outbox/{message_id}/retry", data={"csrf": _csrf(client), "state": "failed"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/console/outbox?state=failed&done=retried&id={message_id}"
    status = site.running.store.outbound_status(message_id)
    assert status is not None and status.state is OutboundState.QUEUED
    assert ("outbox.retry", "ok", message_id, "doe-desk") in _actions(site)
    assert "queued to be sent again" in client.get(response.headers["location"]).text


def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(site: Site) -> None:
    """Retry and give-up without the session's CSRF token (or with another) are 403; the message stays as it was."""
    client = site.client()
    _sign_in(client, site.tokens["doe"])
    for data in ({}, {"csrf": "forged"}):
        assert client.post(f"/console/outbox/{site.failed[DOE]}/retry", data=data).status_code == 403
        assert client.post(f"/console/outbox/{site.queued[DOE]}/give-up", data=data).status_code == 403
    other = site.client()
    _sign_in(other, site.tokens["doe"])
    assert client.post(f"/console/outbox/{site.failed[DOE]}/retry", data={"csrf": _csrf(other)}).status_code == 403
    assert site.running.store.outbound_status(site.failed[DOE]).state is OutboundState.FAILED  # type: ignore[union-attr]
    assert site.running.store.outbound_status(site.queued[DOE]).state is OutboundState.QUEUED  # type: ignore[union-attr]
    assert ("outbox.retry", "forbidden", site.failed[DOE], "doe-desk") in _actions(site)


def test_a_json_or_cross_site_post_is_refused(site: Site) -> None:
    """Only the console's own urlencoded form is read: a JSON body is 403 even with a session."""
    client = site.client()
    _sign_in(client, site.tokens["doe"])
    response = client.post(f"/console/outbox/{site.failed[DOE]}/retry", json={"csrf": _csrf(client)})
    assert response.status_code == 403


def test_a_client_cannot_act_on_another_participants_message(site: Site) -> None:
    """MY:DOE's desk retrying MY:RMCD's failed message is 403, and it stays failed."""
    client = site.client()
    _sign_in(client, site.tokens["doe"])
    response = client.post(f"/console/outbox/{site.failed[RMCD]}/retry", data={"csrf": _csrf(client)})
    assert response.status_code == 403
    assert site.running.store.outbound_status(site.failed[RMCD]).state is OutboundState.FAILED  # type: ignore[union-attr]


def test_give_up_fails_a_queued_message_with_the_reason_and_a_second_time_is_409(site: Site) -> None:
    """Give up records who and why as the last error; giving up a failed message is refused."""
    client = site.client()
    _sign_in(client, site.tokens["both"])
    message_id = site.queued[RMCD]
    data = {"csrf": _csrf(client), "reason": "partner decommissioned"}
    assert client.post(f"/console/outbox/{message_id}/give-up", data=data).status_code == 303
    status = site.running.store.outbound_status(message_id)
    assert status is not None
    assert (status.state, status.last_error) == (OutboundState.FAILED, "given up by both-desk: partner decommissioned")
    again = client.post(f"/console/outbox/{message_id}/give-up", data=data)
    assert again.status_code == 409
    assert "only a queued message can be given up" in again.text
    assert ("outbox.give-up", "outbox-action-refused", message_id, "both-desk") in _actions(site)


# ---------------------------------------------------------------------------------------------------- API


def test_the_api_retries_and_gives_up_with_the_same_rules(site: Site) -> None:
    """POST /api/v1/outbox/{id}/retry and /give-up: 200 with the new state, 409 in the wrong state, 403 for others."""
    api = TestClient(site.running.backoffice_app, headers={"Authorization": f"Bearer {site.tokens['doe']}"})
    retried = api.post(f"/api/v1/outbox/{site.failed[DOE]}/retry", json={})
    assert retried.status_code == 200, retried.text
    assert (retried.json()["state"], retried.json()["final"]) == ("queued", False)
    refused = api.post(f"/api/v1/outbox/{site.failed[DOE]}/retry", json={})
    assert (refused.status_code, refused.json()["code"]) == (409, "outbox-action-refused")
    given_up = api.post(f"/api/v1/outbox/{site.queued[DOE]}/give-up", json={"reason": "duplicate"})
    assert given_up.status_code == 200
    assert (given_up.json()["state"], given_up.json()["last_error"]) == ("failed", "given up by doe-desk: duplicate")
    other = api.post(f"/api/v1/outbox/{site.failed[RMCD]}/retry", json={})
    assert (other.status_code, other.json()["code"]) == (403, "forbidden")
    missing = api.post(f"/api/v1/outbox/{uuid.uuid4()}/retry", json={})
    assert missing.status_code == 404
    actions = _actions(site)
    assert ("outbox.retry", "ok", site.failed[DOE], "doe-desk") in actions
    assert ("outbox.give-up", "ok", site.queued[DOE], "doe-desk") in actions


# ---------------------------------------------------------------------------------------------------- pages


def test_every_page_renders_with_headings_labels_and_times_with_their_zone(site: Site) -> None:
    """Each page has one h1 in <main>, every input a label, and shows times in UTC."""
    client = site.client()
    _sign_in(client, site.tokens["both"])
    sender, message_id = site.received[DOE]
    for path in (
        "/console",
        "/console/cases",
        "/console/messages?direction=in",
        "/console/messages?direction=out",
        f"/console/messages/in/{sender}/{message_id}",
        "/console/outbox",
        "/console/partners",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        page = response.text
        assert page.count("<h1") == 1 and "<main" in page, path
        assert "UTC" in page, path
        for field in re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', page):
            assert f'for="{field}"' in page, (path, field)
        assert not re.search(r'(?:src|href|action)="(?:https?:)?//', page), path  # nothing from another site
        assert response.headers["content-security-policy"].startswith("default-src 'none'")


def test_the_overview_counts_the_outbox_and_shows_certificates_ending_soon_in_red(site: Site) -> None:
    """Every test certificate ends within 20 days: each is listed among those ending within 30 days."""
    client = site.client()
    _sign_in(client, site.tokens["both"])
    page = client.get("/console").text
    assert "Certificates ending within 30 days" in page
    for participant in (DOE, RMCD, DCCEEW, ABF):
        assert re.search(rf'<tr class="danger"><td>{re.escape(participant)}', page), participant
    assert re.search(r'<span class="number">2</span> failed', page)


def test_long_lists_are_paged(site: Site, pki: TestPki) -> None:
    """30 more messages to MY:DOE: 25 on the first page with a link to the next, which holds the rest."""
    document = _document("plastic-au-my-01-notification.xml")
    for _ in range(30):
        sealed = exchange.seal(document, me=pki[DCCEEW].identity, to=DOE, now=NOW, test=True)
        assert site.running.gateway.receive(sealed.raw, NOW)[0] == 200
    client = site.client()
    _sign_in(client, site.tokens["doe"])
    first = client.get("/console/messages?direction=in").text
    assert first.count('<th scope="row"><a href="/console/messages/in/') == 25
    following = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', first)
    assert following is not None
    second = client.get(following.group(1).replace("&amp;", "&")).text
    assert second.count('<th scope="row"><a href="/console/messages/in/') == 6  # 5 more and the fixture's own
    assert 'rel="next"' not in second and "Newest page" in second


def test_an_unknown_case_is_a_404_page_and_a_bad_filter_a_422_page(site: Site) -> None:
    """Refusals are pages with the API's codes, not tracebacks or JSON."""
    client = site.client()
    _sign_in(client, site.tokens["doe"])
    missing = client.get("/console/cases/NO-SUCH-CASE")
    assert missing.status_code == 404 and "no case NO-SUCH-CASE" in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    bad = client.get("/console/cases?country=Malaysia")
    assert bad.status_code == 422 and "two-letter country code" in bad.text
    assert client.get("/console/messages?before=-1").status_code == 422
    assert client.get(f"/console/messages/out/{site.failed[DOE]}/secrets").status_code == 404


def test_the_static_files_are_served_by_the_gateway(site: Site) -> None:
    """The stylesheet and the one script come from the package, without a session."""
    client = site.client()
    css = client.get("/console/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/console/static/console.js").status_code == 200
    assert client.get("/console/static/missing.png").status_code == 404
