"""The operator console in a real browser: Debian's Chromium driven by Playwright, against a running gateway.

The quantity-exceeded flow is replayed between two Single Window gateways (AU and MY); then MY's store is
served again by a gateway with its console, its clock stopped on the flow's last day. On it: MY:DOE's desk
signs in, finds the held shipment of case AU2026-0188 on the overview, opens the case and sees the finding's
rule id; retries a failed outbox message; is refused (403) the export data addressed to MY:RMCD; and a form
posted without the session's CSRF token (or from another site) is refused.

Set ``PICEXCHANGE_CONSOLE_SCREENSHOTS=DIR`` to write a screenshot of each page (laptop and phone widths) to
DIR: ``python scripts/console_screenshots.py`` does that for docs/console.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from picexchange import codec, exchange, resources
from picexchange.flows import replay
from picexchange.flowspec import load_flow
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
from picexchange.gateway.server import GatewayServer
from picexchange.models.envelope import Envelope
from picexchange.store import OutboundMessage, OutboundState
from picexchange.testing import free_port, serve_in_thread
from picexchange.testpki import make_test_pki
from picexchange.trust import Hosted, TrustStore
from system_tools import require

FLOW = "quantity-exceeded"
CASE = "AU2026-0188"
DOE, RMCD, DCCEEW, ABF = "MY:DOE", "MY:RMCD", "AU:DCCEEW", "AU:ABF"
SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclasses.dataclass(frozen=True)
class Console:
    """MY's gateway serving the replayed store, its tokens, and the failed message put in its outbox."""

    url: str
    server: GatewayServer
    tokens: dict[str, str]
    failed: str


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """Replay the flow, then serve MY's store with its console (clock on the flow's last day)."""
    directory = tmp_path_factory.mktemp("console")
    flow = load_flow(resources.flow_folder(FLOW))
    result = replay(flow, directory / "replay")
    assert result.ok, [step.happened for step in result.steps if not step.ok]
    manifest = flow.manifest
    last = max(step.day for step in manifest.step)
    now = dt.datetime.combine(manifest.start, dt.time(9), tzinfo=dt.UTC) + dt.timedelta(days=last)
    pki = make_test_pki(
        [DCCEEW, ABF, DOE, RMCD], not_before=now - dt.timedelta(days=400), not_after=now + dt.timedelta(days=21)
    )
    # AU's gateway is gone: its endpoint is a closed loopback port (a retry fails to connect, no DNS, no internet).
    closed = f"http://127.0.0.1:{free_port()}/ub/v1/messages"
    partners = [
        dataclasses.replace(item.partner, endpoint=closed) if item.id.startswith("AU:") else item.partner
        for item in pki.participants
    ]
    trust = TrustStore.of(partners, me=Hosted((pki[DOE].identity, pki[RMCD].identity)))
    tokens = {name: new_token() for name in ("doe", "rmcd")}
    credentials = Credentials(
        tokens=(
            Grant(client="doe-desk", participants=frozenset({DOE}), sha256=token_sha256(tokens["doe"])),
            Grant(client="rmcd-desk", participants=frozenset({RMCD}), sha256=token_sha256(tokens["rmcd"])),
        )
    )
    config = GatewayConfig(
        partners=directory / "partners.toml",
        store=f"sqlite:///{directory / 'replay' / 'MY_DOE.db'}",
        partner=PartnerConfig(port=free_port()),
        backoffice=BackofficeConfig(port=0),
    )
    running = build(config, trust=trust, credentials=credentials, clock=lambda: now)
    # A message MY:DOE's partner refused: sealed and queued like a submission, then failed by a worker.
    document = codec.from_xml((SAMPLES / "plastic-au-my-04-information-request.xml").read_bytes(), Envelope).document
    sealed = exchange.seal(document, me=pki[DOE].identity, to=DCCEEW, now=now, test=True)  # type: ignore[arg-type]
    header = sealed.envelope.header
    failed = str(header.message_id)
    store = running.store
    store.enqueue(
        OutboundMessage(
            message_id=failed,
            receiver=DCCEEW,
            endpoint=DCCEEW,
            conversation_id=header.conversation_id,
            message_type=header.message_type.value,
            created=header.created,
            data=sealed.raw,
        ),
        at=now,
    )
    store.claim_due(now=now, lease=dt.timedelta(seconds=60), limit=10, worker="earlier")
    store.mark_failed(failed, worker="earlier", error="signature: the partner refused the signature", at=now)
    with serve_in_thread(running) as server:
        yield Console(url=server.backoffice_url, server=server, tokens=tokens, failed=failed)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = require("chromium")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        yield context.new_page()
    finally:
        context.close()


def _shoot(page: Any, name: str) -> None:
    """Write a screenshot of the page at laptop and phone widths, if PICEXCHANGE_CONSOLE_SCREENSHOTS names a folder."""
    folder = os.environ.get("PICEXCHANGE_CONSOLE_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
    size = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(Path(folder) / f"{name}-phone.png"), full_page=False)
    page.set_viewport_size(size)


def _sign_in(page: Any, console: Console, token: str, *, start: str = "/console") -> None:
    page.goto(console.url + start)
    page.get_by_label("Back-office token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_find_the_held_shipment_and_see_the_finding_of_its_case(page: Any, console: Console) -> None:
    """From the overview's held shipments to the case's timeline and its export.quantity.exceeded finding."""
    page.goto(console.url + "/console")
    assert page.url.endswith("/console/sign-in?next=/console")
    _shoot(page, "sign-in")
    _sign_in(page, console, console.tokens["doe"])
    assert page.get_by_role("heading", level=1).inner_text() == "Overview"
    held = page.get_by_role("region", name="Held shipments")
    assert held.get_by_role("link", name=CASE).count() >= 1
    _shoot(page, "overview")
    held.get_by_role("link", name=CASE).first.click()
    assert page.get_by_role("heading", level=1).inner_text() == f"Case {CASE}"
    findings = page.locator("table.findings")
    assert "export.quantity.exceeded" in findings.locator("code.rule-id").all_inner_texts()
    timeline = page.get_by_role("img", name=f"Timeline of case {CASE}")
    assert timeline.count() == 1
    assert page.locator("table").filter(has_text="held").count() >= 1
    parties = page.get_by_role("region", name="Waste and parties")
    roles = parties.get_by_role("rowheader").all_inner_texts()
    assert roles[:2] == ["Exporter", "Importer"] and roles.count("Facility") == 1
    exporter = parties.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Exporter", exact=True))
    assert exporter.get_by_role("cell").first.inner_text().endswith("Pty Ltd")
    _shoot(page, "case")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Cases").click()
    page.get_by_label("Waste code").fill("Y48")
    page.get_by_role("button", name="Filter").click()
    assert page.get_by_role("link", name=CASE).count() == 1
    _shoot(page, "cases")


def test_the_console_is_keyboard_navigable(page: Any, console: Console) -> None:
    """Tab reaches the skip link first, then the navigation; Enter on a focused link follows it."""
    _sign_in(page, console, console.tokens["doe"])
    page.goto(console.url + "/console")
    focused = "document.activeElement.textContent.trim()"
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "Skip to content"
    for _ in range(8):
        page.keyboard.press("Tab")
        if page.evaluate(focused) == "Outbox":
            break
    assert page.evaluate(focused) == "Outbox"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/console/outbox$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Outbox"


def test_retry_a_failed_outbox_message(page: Any, console: Console) -> None:
    """Retry on the failed tab sends the message again and the action is audited."""
    _sign_in(page, console, console.tokens["doe"], start="/console/outbox?state=failed")
    assert page.url.endswith("/console/outbox?state=failed")
    _shoot(page, "outbox")
    page.get_by_role("button", name=re.compile(f"Retry .*{console.failed}")).click()
    notice = page.get_by_role("status")
    assert "queued to be sent again" in notice.inner_text()
    assert console.failed in notice.inner_text()
    store = console.server.running.store
    entries = store.actions(since=0, limit=1000).entries
    assert any(
        e.action.action == "outbox.retry"
        and e.action.target == console.failed
        and e.action.outcome == "ok"
        and e.action.client == "doe-desk"
        for e in entries
    )
    # Queued again: the worker may be trying it (AU's gateway is gone, so it fails to connect and waits), but
    # a passing failure never gives it up before max_attempts.
    status = store.outbound_status(console.failed)
    assert status is not None and status.state is not OutboundState.FAILED


def test_a_client_for_one_participant_cannot_open_anothers_message(page: Any, console: Console) -> None:
    """MY:DOE's desk sees MY:DOE's messages; the export data addressed to MY:RMCD answers 403."""
    _sign_in(page, console, console.tokens["rmcd"], start="/console/messages?direction=in")
    link = page.get_by_role("link", name="ExportData").first
    target = link.get_attribute("href")
    link.click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("ExportData")
    _shoot(page, "message")
    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, console, console.tokens["doe"], start="/console/messages?direction=in")
    _shoot(page, "messages")
    assert page.get_by_role("link", name="ExportData").count() == 0
    response = page.goto(console.url + target)
    assert response.status == 403
    assert "Not allowed" in page.get_by_role("heading", level=1).inner_text()


def test_form_posts_without_the_csrf_token_are_refused(page: Any, console: Console) -> None:
    """With the session cookie but no CSRF token: 403. From another origin, the cookie is not even sent."""
    _sign_in(page, console, console.tokens["doe"])
    refused = page.request.post(f"{console.url}/console/outbox/{console.failed}/give-up", form={"reason": "x"})
    assert refused.status == 403
    forged = page.request.post(
        f"{console.url}/console/outbox/{console.failed}/retry", form={"csrf": "not-the-session-token"}
    )
    assert forged.status == 403
    # A page of another site (localhost is not 127.0.0.1) posting a form to the console: SameSite=Strict keeps
    # the session cookie home, so the post arrives without a session.
    other_site = console.url.replace("127.0.0.1", "localhost")
    page.goto(other_site + "/elsewhere")  # any page of that origin (a 401 problem without the console's CSP)
    page.set_content(
        f'<form method="post" action="{console.url}/console/outbox/{console.failed}/give-up">'
        '<input type="hidden" name="reason" value="forged"><button type="submit">go</button></form>'
    )
    with page.expect_response(re.compile(r".*/give-up$")) as answer:
        page.get_by_role("button", name="go").click()
    assert answer.value.status == 401
    assert "forged" not in (console.server.running.store.outbound_status(console.failed).last_error or "")  # type: ignore[union-attr]


def test_the_partners_page_shows_certificates_ending_soon_in_red(page: Any, console: Console) -> None:
    """Every test certificate ends within 21 days: each partner's row is marked."""
    _sign_in(page, console, console.tokens["doe"], start="/console/partners")
    assert page.get_by_role("heading", level=1).inner_text() == "Partners"
    for participant in (DCCEEW, ABF):
        article = page.locator("article.partner").filter(has_text=participant)
        assert article.locator("tr.danger").count() >= 1
    color = page.locator("tr.danger td").first.evaluate("element => getComputedStyle(element).backgroundColor")
    assert color != "rgba(0, 0, 0, 0)"
    _shoot(page, "partners")


def test_the_pages_fit_a_phone_width(browser: Any, console: Console) -> None:
    """At 390 px no page scrolls sideways: wide tables scroll inside their own region."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        _sign_in(page, console, console.tokens["doe"])
        for path in ("/console", "/console/cases", f"/console/cases/{CASE}", "/console/outbox", "/console/partners"):
            page.goto(console.url + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
    finally:
        context.close()
