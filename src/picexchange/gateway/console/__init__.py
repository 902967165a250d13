"""The operator console: the Single Window's cases, messages, outbox and partners as server-rendered pages.

It is served under ``/console`` by the back-office listener only (never the partner listener) and loads
nothing from the network: its templates, stylesheet, script and pictures are package data served by the
gateway itself.

Sign-in takes a back-office credential (a token, or the TLS client certificate the connection presented) and
opens a session: a random id in a cookie that is ``HttpOnly``, ``SameSite=Strict``, limited to ``/console``,
and ``Secure`` whenever the back office is served over TLS. Sessions are kept in the gateway's store by the
cookie's digest (a restart keeps them, and every gateway process on one database knows them) and end at
sign-out, after :data:`SESSION_HOURS`, when the credential expires, or once the gateway no longer accepts the
credential (removed from the credentials file, or bound to other participants). Every form
that changes something carries the session's CSRF token (a synchronizer token, compared in constant time on
the server); the sign-in form a double-submit token. A POST without it is 403.

A client sees and acts only as the API lets it (:mod:`~picexchange.gateway.oversight`): received messages
addressed to its participants, messages signed by its participants, and the outbox actions on those. Every
page view and action is audited like an API request (action ``console.<page>``, ``outbox.retry``,
``outbox.give-up``, ``console.sign-in``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import importlib.resources
import re
import secrets
import ssl
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from picexchange import codec
from picexchange.cases import Case
from picexchange.cases.view import OVERDUE_RULES, case_view
from picexchange.errors import (
    CodedError,
    Forbidden,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PicExchangeError,
    StoreError,
    Unauthorized,
)
from picexchange.gateway.app import Gateway
from picexchange.gateway.auth import BackofficeClient, Credentials
from picexchange.gateway.oversight import (
    MAX_REASON,
    actable,
    give_up_outbound,
    outbound_for,
    received_for,
    retry_outbound,
    sender_of,
)
from picexchange.models.envelope import Envelope
from picexchange.store import ConsoleSessionRecord, OutboundState, OutboxEntry, ReceivedEntry, Store, digest_of
from picexchange.trust import describe_certificate

__all__ = ["PREFIX", "SESSION_HOURS", "create_console_app"]

PREFIX = "/console"
"""Where the console lives on the back-office listener."""
SESSION_HOURS = 8
"""A session's lifetime; the credential's own expiry ends it sooner."""
PAGE = 25
"""Rows per page of every list."""
EXPIRING_DAYS = 30
"""Certificates that end within this many days are shown in red."""
SCAN_CASES = 500
"""The overview and the waste-code filter look at this many cases at most (and say so when there are more)."""
MAX_FORM_BYTES = 16 * 1024
"""The largest form body read."""
MAX_SESSIONS = 1000
"""Sessions kept at most; past it, the oldest are dropped (their browsers sign in again)."""
MAX_COOKIE = 200
"""A session cookie longer than this is no cookie of ours: not looked up."""

_COOKIE = "pxc_session"
_PRE_COOKIE = "pxc_signin"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_PARTICIPANT = re.compile(r"^[A-Z]{2}:[A-Z0-9][A-Z0-9._-]{0,63}$")
_NOTIFICATION_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9./_-]{0,63}$")
_STATIC = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}
_SECURITY_HEADERS = {
    # Everything comes from the gateway itself; nothing inline runs, nothing frames the console.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleSession:
    """One signed-in browser.

    Attributes:
        client: who signed in, with the participants it acts for.
        csrf: the token every state-changing form of this session carries.
        expires: when the session ends (aware).

    """

    client: BackofficeClient
    csrf: str
    expires: dt.datetime


class _Sessions:
    """Sessions kept in the gateway's store by the SHA-256 of their cookie, so every process knows them.

    A restart keeps them; a store dump names no usable cookie. Each use checks the session's expiry and that
    the gateway still accepts the credential that opened it.
    """

    def __init__(self, store: Store, credentials: Credentials) -> None:
        self._store = store
        self._credentials = credentials

    @staticmethod
    def _key(cookie: str) -> str:
        return hashlib.sha256(cookie.encode("utf-8")).hexdigest()

    def open(self, client: BackofficeClient, now: dt.datetime, expires: dt.datetime) -> tuple[str, ConsoleSession]:
        cookie = secrets.token_urlsafe(32)
        session = ConsoleSession(client=client, csrf=secrets.token_urlsafe(32), expires=expires)
        self._store.open_console_session(
            ConsoleSessionRecord(
                digest=self._key(cookie),
                client=client.name,
                participants=client.participants,
                credential=client.credential,
                csrf=session.csrf,
                opened_at=now,
                expires=expires,
            ),
            most=MAX_SESSIONS,
        )
        return cookie, session

    def find(self, cookie: str | None, now: dt.datetime) -> ConsoleSession | None:
        if not cookie or len(cookie) > MAX_COOKIE:
            return None
        key = self._key(cookie)
        kept = self._store.console_session(key)
        if kept is None:
            return None
        client = BackofficeClient(
            name=kept.client,
            participants=kept.participants,
            expires=kept.expires,
            credential=kept.credential,
        )
        if now >= kept.expires or not self._credentials.still_accepts(client, now=now):
            self._store.close_console_session(key)
            return None
        return ConsoleSession(client=client, csrf=kept.csrf, expires=kept.expires)

    def close(self, cookie: str | None) -> None:
        if cookie and len(cookie) <= MAX_COOKIE:
            self._store.close_console_session(self._key(cookie))


# ------------------------------------------------------------------------------------------------ formatting


def when(value: dt.datetime | None) -> str:
    """Return a time as people read it, always with its zone: ``2026-03-02 01:00 UTC``."""
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(value: dt.datetime | dt.date | None) -> str:
    return "" if value is None else value.isoformat()


def _label(name: str) -> str:
    """Return a model field name as a label: ``waste_designation`` → ``Waste designation``."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _document_rows(value: Any) -> Any:
    """Return a decoded document as nested (label, value) rows for the readable form of a message."""
    if isinstance(value, Mapping):
        return [(_label(str(key)), _document_rows(item)) for key, item in value.items() if item not in (None, [], {})]
    if isinstance(value, list):
        return [(f"{index}", _document_rows(item)) for index, item in enumerate(value, start=1)]
    return str(value)


def _xml_text(data: bytes) -> str:
    """Return stored XML bytes as text in the document's own encoding (as the API's ``xml``)."""
    match = re.match(rb"<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']", data.lstrip(b"\xef\xbb\xbf"))
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode(match.group(1).decode("ascii") if match else "utf-8", errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


# ------------------------------------------------------------------------------------------ the case picture


@dataclass(frozen=True, slots=True)
class _Mark:
    x: float
    label: str
    kind: str


@dataclass(frozen=True, slots=True)
class _Band:
    x: float
    width: float
    label: str
    kind: str


@dataclass(frozen=True, slots=True)
class _Row:
    y: float
    title: str
    bands: tuple[_Band, ...]
    marks: tuple[_Mark, ...]


@dataclass(frozen=True, slots=True)
class CaseTimeline:
    """The geometry of a case's timeline picture (an inline SVG the template draws).

    Attributes:
        width: the drawing's width in user units (it scales to the page).
        height: its height.
        rows: one row for the messages, one per State (its consent's validity), one for the shipments.
        ticks: the axis's dates and positions.
        today: where the case's date (``as_of``) is.
        left: where the drawing area starts (the labels are left of it).

    """

    width: float
    height: float
    rows: tuple[_Row, ...]
    ticks: tuple[_Mark, ...]
    today: float
    left: float


_DECISION_KIND = {
    "consented": "ok",
    "consented-with-conditions": "ok",
    "deemed-consented": "ok",
    "objected": "bad",
    "withdrawn": "bad",
    "undecided": "wait",
}
_SHIPMENT_KIND = {"held": "bad", "refused": "bad", "rejected": "bad"}


def case_timeline(case: Case, messages: Iterable[tuple[dt.datetime, str, str]]) -> CaseTimeline:
    """Lay out a case's timeline: its messages, each State's consent validity, its shipments, and today.

    Args:
        case: the case as of a date.
        messages: (when, message type, direction) of each of its messages.

    """
    listed = [(at.date(), kind, direction) for at, kind, direction in messages]
    dates = [day for day, _, _ in listed] + [case.as_of]
    for standing in case.states:
        dates += [day for day in (standing.valid_from, standing.valid_until, standing.decided_on) if day]
    for shipment in case.shipments:
        dates += [day for day in (shipment.shipped_on, shipment.received_on) if day]
    start, end = min(dates), max(dates)
    span = max((end - start).days, 1)
    left, width, row_height = 150.0, 720.0, 36.0
    right = width - 20

    def x(day: dt.date) -> float:
        return round(left + (right - left) * (day - start).days / span, 1)

    rows = [
        _Row(
            y=30,
            title="Messages",
            bands=(),
            marks=tuple(
                _Mark(x(day), f"{day.isoformat()}: {kind} ({'received' if direction == 'in' else 'sent'})", direction)
                for day, kind, direction in listed
            ),
        )
    ]
    for standing in case.states:
        decision = standing.decision.value
        bands: tuple[_Band, ...] = ()
        if standing.valid_from and standing.valid_until:
            bands = (
                _Band(
                    x(standing.valid_from),
                    max(x(standing.valid_until) - x(standing.valid_from), 2.0),
                    f"{standing.country}: {decision}, valid {standing.valid_from} to {standing.valid_until}",
                    _DECISION_KIND.get(decision, "wait"),
                ),
            )
        marks: tuple[_Mark, ...] = ()
        if standing.decided_on:
            marks = (
                _Mark(x(standing.decided_on), f"{standing.country}: {decision} on {standing.decided_on}", "decision"),
            )
        rows.append(
            _Row(
                y=30 + row_height * len(rows),
                title=f"{standing.country} ({standing.role.value})",
                bands=bands,
                marks=marks,
            )
        )
    rows.append(
        _Row(
            y=30 + row_height * len(rows),
            title="Shipments",
            bands=(),
            marks=tuple(
                _Mark(
                    x(shipment.shipped_on),
                    f"shipment {shipment.serial}: {shipment.state.value}, shipped {shipment.shipped_on}",
                    _SHIPMENT_KIND.get(shipment.state.value, "ok"),
                )
                for shipment in case.shipments
                if shipment.shipped_on
            ),
        )
    )
    ticks = []
    month = dt.date(start.year, start.month, 1)
    step = max(1, span // 180)  # about six labels whatever the span
    while month <= end:
        if month >= start:
            ticks.append(_Mark(x(month), month.strftime("%b %Y"), "tick"))
        month = dt.date(month.year + (month.month + step - 1) // 12, (month.month + step - 1) % 12 + 1, 1)
    height = 30 + row_height * len(rows) + 20
    return CaseTimeline(
        width=width, height=height, rows=tuple(rows), ticks=tuple(ticks), today=x(case.as_of), left=left
    )


def _share(used: str | None, total: str | None) -> float:
    """Return used / total between 0 and 1 (a bar's fill), 1 when more than all was used."""
    try:
        used_value, total_value = Decimal(used or "0"), Decimal(total or "0")
    except InvalidOperation:
        return 0.0
    if total_value <= 0:
        return 0.0
    return float(min(used_value / total_value, Decimal(1)))


def waste_codes(case: Case) -> tuple[str, ...]:
    """Return the codes that identify a case's waste (Basel, OECD, EWC, Y, national codes), as written."""
    notification = case.notification
    if notification is None:
        return ()
    ident = notification.waste_identification
    single = (ident.basel_code, ident.oecd_code, ident.ewc_code, ident.national_export_code, ident.national_import_code)
    return tuple(str(code) for code in (*single, *ident.y_code) if code)


# ------------------------------------------------------------------------------------------------ the app


class _Console:
    """The console's pages, bound to one gateway and its credentials."""

    def __init__(self, gateway: Gateway, credentials: Credentials) -> None:
        self.gateway = gateway
        self.credentials = credentials
        self.sessions = _Sessions(gateway.store, credentials)
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("picexchange.gateway.console", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals.update(when=when, iso=_iso, prefix=PREFIX, share=_share)
        self.templates.filters["quote"] = lambda text: urllib.parse.quote(str(text), safe="")
        self.static = {
            name: (importlib.resources.files(__name__).joinpath("static", name).read_bytes(), media)
            for name, media in _STATIC.items()
        }

    # ------------------------------------------------------------------------------------ plumbing

    def page(
        self,
        request: Request,
        template: str,
        *,
        status: int = 200,
        session: ConsoleSession | None = None,
        **values: Any,
    ) -> HTMLResponse:
        body = self.templates.get_template(template).render(
            session=session,
            here=request.url.path,
            participants=sorted(session.client.participants & self.gateway.hosted) if session else [],
            gateway_name=", ".join(sorted(self.gateway.hosted)),
            **values,
        )
        response = HTMLResponse(body, status_code=status)
        response.headers.update(_SECURITY_HEADERS)
        response.headers["Cache-Control"] = "no-store"
        return response

    def session_of(self, request: Request) -> ConsoleSession | None:
        return self.sessions.find(request.cookies.get(_COOKIE), self.gateway.clock())

    def signed_in(self, request: Request, action: str) -> ConsoleSession:
        """Return the request's session and note the action for the audit; raise if there is none."""
        session = self.session_of(request)
        request.state.action = action
        if session is None:
            raise Unauthorized("sign in to use the console")
        request.state.client = session.client.name
        allowed = actable(self.gateway, session.client)
        if len(allowed) == 1:
            request.state.participant = next(iter(allowed))
        return session

    async def form(self, request: Request, session: ConsoleSession | None) -> dict[str, str]:
        """Read a urlencoded form (bounded) and check its CSRF token; raise Forbidden without a good one."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            raise Forbidden("a console form must be posted by the console's own page")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise InvalidRequest(f"a console form is at most {MAX_FORM_BYTES} bytes")
        try:
            fields = {
                key: values[0]
                for key, values in urllib.parse.parse_qs(
                    body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=20
                ).items()
            }
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidRequest("the form is not readable") from exc
        if session is not None:
            expected = session.csrf
        else:
            expected = request.cookies.get(_PRE_COOKIE, "")
        presented = fields.get("csrf", "")
        if not expected or not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
            raise Forbidden("the form's CSRF token is missing or wrong; reload the page and try again")
        return fields

    def redirect(self, location: str) -> RedirectResponse:
        response = RedirectResponse(location, status_code=303)
        response.headers.update(_SECURITY_HEADERS)
        return response

    def _cookie(self, request: Request, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=PREFIX,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )

    async def refusal(self, request: Request, exc: Exception) -> Response:
        """Answer an error as a page (and note its code for the audit); a missing session goes to sign-in."""
        if isinstance(exc, HTTPException):
            exc = (
                NotFound("no such page")
                if exc.status_code == 404
                else MethodNotAllowed(f"{request.method} is not allowed here")
            )
        if isinstance(exc, Unauthorized) and request.method == "GET":
            request.state.outcome = exc.code
            target = urllib.parse.quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
            return self.redirect(f"{PREFIX}/sign-in?next={target}")
        if isinstance(exc, StoreError):
            status, code, text = (
                (503, "unavailable", "The store cannot answer now; try again in a moment.")
                if (exc.retryable)
                else (422, "invalid-request", "The store refused a value of this request.")
            )
        elif isinstance(exc, CodedError):
            status, code, text = exc.http_status, exc.code, exc.text
        else:
            status, code, text = 500, "internal", "Internal error; it was logged."
        request.state.outcome = code
        return self.page(
            request,
            "error.html",
            status=status,
            session=self.session_of(request),
            code=code,
            text=text,
            status_code=status,
        )

    # --------------------------------------------------------------------------------------- sign-in

    async def sign_in_form(self, request: Request) -> Response:
        if self.session_of(request) is not None:
            return self.redirect(PREFIX)
        token = secrets.token_urlsafe(24)
        response = self.page(
            request,
            "sign_in.html",
            csrf=token,
            next_page=_local(request.query_params.get("next")),
            problem=None,
            certificate=_peer_certificate(request) is not None,
        )
        self._cookie(request, response, _PRE_COOKIE, token, 600)
        return response

    async def sign_in(self, request: Request) -> Response:
        request.state.action = "console.sign-in"
        fields = await self.form(request, None)
        token = fields.get("token", "").strip()
        now = self.gateway.clock()
        try:
            if token:
                client = self.credentials.authenticate(bearer=token, certificate=None, now=now)
            else:
                client = self.credentials.authenticate(bearer=None, certificate=_peer_certificate(request), now=now)
        except Unauthorized as exc:
            request.state.outcome = exc.code
            again = secrets.token_urlsafe(24)
            refused: Response = self.page(
                request,
                "sign_in.html",
                status=401,
                csrf=again,
                next_page=_local(fields.get("next")),
                problem=exc.text,
                certificate=_peer_certificate(request) is not None,
            )
            self._cookie(request, refused, _PRE_COOKIE, again, 600)
            return refused
        request.state.client = client.name
        actable(self.gateway, client)  # a credential for none of the hosted participants opens no session
        expires = now + dt.timedelta(hours=SESSION_HOURS)
        if client.expires is not None:
            expires = min(expires, client.expires)
        cookie, _ = self.sessions.open(client, now, expires)
        response: Response = self.redirect(_local(fields.get("next")) or PREFIX)
        self._cookie(request, response, _COOKIE, cookie, int((expires - now).total_seconds()))
        response.delete_cookie(_PRE_COOKIE, path=PREFIX)
        return response

    async def sign_out(self, request: Request) -> Response:
        session = self.signed_in(request, "console.sign-out")
        await self.form(request, session)
        self.sessions.close(request.cookies.get(_COOKIE))
        response = self.redirect(f"{PREFIX}/sign-in")
        response.delete_cookie(_COOKIE, path=PREFIX)
        return response

    async def static_file(self, request: Request) -> Response:
        found = self.static.get(request.path_params["name"])
        if found is None:
            raise NotFound("no such file")
        body, media = found
        return Response(body, media_type=media, headers={"Cache-Control": "max-age=3600", **_SECURITY_HEADERS})

    # --------------------------------------------------------------------------------------- overview

    def overview(self, request: Request) -> Response:
        session = self.signed_in(request, "console.overview")
        gateway, now = self.gateway, self.gateway.clock()
        midnight = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        traffic = gateway.store.traffic(since=midnight)
        counts = gateway.store.counts()
        queued = gateway.store.outbox(limit=500, states=[OutboundState.QUEUED])
        retrying = sum(1 for entry in queued.entries if entry.status.attempts > 0)
        held, overdue, scanned, more = [], [], 0, False
        for summary, case in self._cases(now, limit=SCAN_CASES):
            scanned += 1
            view = case_view(case)
            held += [
                {"case": summary.notification_number, "serial": item["serial"], "shipped_on": item["shipped_on"]}
                for item in view["shipments"]
                if item["state"] == "held"
            ]
            overdue += [dict(item, case=summary.notification_number) for item in view["overdue"]]
        more = scanned >= SCAN_CASES
        return self.page(
            request,
            "overview.html",
            session=session,
            now=now,
            midnight=midnight,
            traffic=traffic,
            counts={state.value: count for state, count in counts.outbound.items()},
            retrying=retrying,
            held=held,
            overdue=overdue,
            scanned=scanned,
            more=more,
            expiring=self._certificates(now, within=dt.timedelta(days=EXPIRING_DAYS)),
        )

    def _cases(self, now: dt.datetime, *, limit: int, **filters: Any) -> Iterable[tuple[Any, Case]]:
        since, seen = 0, 0
        while seen < limit:
            page = self.gateway.store.cases(since=since, limit=min(100, limit - seen), **filters)
            for summary in page.cases:
                shown = self.gateway.case_detail(summary.notification_number, now)
                if shown is not None:
                    seen += 1
                    yield shown[0], shown[1]
            if not page.has_more:
                return
            since = page.next

    def _certificates(self, now: dt.datetime, *, within: dt.timedelta | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for identity in self.gateway.identities:
            end = identity.certificate.not_valid_after_utc
            rows.append(
                {
                    "owner": identity.participant,
                    "ours": True,
                    "subject": describe_certificate(identity.certificate),
                    "start": identity.certificate.not_valid_before_utc,
                    "end": end,
                    "days": (end - now).days,
                    "soon": end - now <= dt.timedelta(days=EXPIRING_DAYS),
                }
            )
        ours = {identity.certificate for identity in self.gateway.identities}
        for partner in self.gateway.trust:
            for registered in partner.certificates:
                if registered.certificate in ours:  # a hosted participant listed as a partner too: shown once
                    continue
                rows.append(
                    {
                        "owner": partner.id,
                        "ours": False,
                        "subject": describe_certificate(registered.certificate),
                        "start": registered.start,
                        "end": registered.end,
                        "days": (registered.end - now).days,
                        "soon": registered.end - now <= dt.timedelta(days=EXPIRING_DAYS),
                    }
                )
        if within is not None:
            rows = [row for row in rows if row["end"] - now <= within]
        return sorted(rows, key=lambda row: (row["end"], row["owner"]))

    # ------------------------------------------------------------------------------------------ cases

    def cases(self, request: Request) -> Response:
        session = self.signed_in(request, "console.cases")
        query = request.query_params
        country = (query.get("country") or "").strip().upper() or None
        status = query.get("status") or None
        blocked = {"blocked": True, "open": False}.get(query.get("blocked") or "")
        waste = (query.get("waste") or "").strip()
        since = _number(query.get("since"), "since")
        request.state.target = f"since={since}"
        if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
            raise InvalidRequest("State: a two-letter country code (ISO 3166-1), e.g. MY", path="query.country")
        if status not in (None, "awaited", "notified", "cancelled"):
            raise InvalidRequest("status: awaited, notified or cancelled", path="query.status")
        if len(waste) > 64:
            raise InvalidRequest("waste code: at most 64 characters", path="query.waste")
        now = self.gateway.clock()
        self.gateway.review_cases(now)  # the blocked filter and column as of today
        rows: list[dict[str, Any]] = []
        # One store page without a waste code; with one, pages are read until a page of matches (or
        # SCAN_CASES cases were looked at), each case folded for its notification's codes.
        cursor, has_more, scanned = since, False, 0
        wanted = waste.replace(" ", "").upper()
        while True:
            page = self.gateway.store.cases(since=cursor, limit=PAGE, state=status, country=country, blocked=blocked)
            full = False
            for summary in page.cases:
                if len(rows) == PAGE:
                    full = True
                    break
                cursor = summary.sequence
                scanned += 1
                codes: tuple[str, ...] = ()
                if waste:
                    shown = self.gateway.case_detail(summary.notification_number, now)
                    codes = waste_codes(shown[1]) if shown else ()
                    if not any(code.replace(" ", "").upper() == wanted for code in codes):
                        continue
                rows.append({"summary": summary, "codes": codes})
            has_more = full or page.has_more
            if full or not page.has_more or not waste or len(rows) == PAGE or scanned >= SCAN_CASES:
                break
        filters = {
            "country": country or "",
            "status": status or "",
            "blocked": query.get("blocked") or "",
            "waste": waste,
        }
        return self.page(
            request,
            "cases.html",
            session=session,
            rows=rows,
            filters=filters,
            next_link=f"{PREFIX}/cases?{urllib.parse.urlencode({**filters, 'since': cursor})}" if has_more else None,
            first_link=f"{PREFIX}/cases?{urllib.parse.urlencode(filters)}" if since else None,
        )

    def case(self, request: Request) -> Response:
        session = self.signed_in(request, "console.case")
        number = request.path_params["number"]
        request.state.target = number
        if not _NOTIFICATION_NUMBER.fullmatch(number):
            raise NotFound(f"no case {number}")
        shown = self.gateway.case_detail(number, self.gateway.clock())
        if shown is None:
            raise NotFound(f"no case {number}")
        summary, case, messages = shown
        view = case_view(case)
        timeline = case_timeline(
            case, [(item.message.at, item.message.message_type, item.message.direction.value) for item in messages]
        )
        return self.page(
            request,
            "case.html",
            session=session,
            summary=summary,
            view=view,
            case=case,
            codes=waste_codes(case),
            messages=messages,
            timeline=timeline,
            overdue_rules=OVERDUE_RULES,
        )

    # ---------------------------------------------------------------------------------------- messages

    def messages(self, request: Request) -> Response:
        session = self.signed_in(request, "console.messages")
        direction = request.query_params.get("direction") or "in"
        if direction not in ("in", "out"):
            raise InvalidRequest("direction: in or out", path="query.direction")
        before = _number(request.query_params.get("before"), "before")
        request.state.target = f"{direction} before={before}"
        allowed = actable(self.gateway, session.client)
        rows: list[dict[str, Any]] = []
        if direction == "in":
            received = self.gateway.store.received(before=before, limit=PAGE, receivers=allowed)
            rows = [_received_row(entry) for entry in received.entries]
            page_next, has_more = received.next, received.has_more
        else:
            sent = self.gateway.store.outbox(before=before, limit=PAGE)
            for entry in sent.entries:
                sender = sender_of(entry.message.data, limits=self.gateway.policy.limits)
                if sender in allowed:
                    rows.append(_outbox_row(entry, sender))
            page_next, has_more = sent.next, sent.has_more
        return self.page(
            request,
            "messages.html",
            session=session,
            direction=direction,
            rows=rows,
            next_link=f"{PREFIX}/messages?direction={direction}&before={page_next}" if has_more else None,
            first_link=f"{PREFIX}/messages?direction={direction}" if before else None,
        )

    def received_message(self, request: Request) -> Response:
        session = self.signed_in(request, "console.message")
        sender, message_id = _message_key(request)
        request.state.target = f"{sender}/{message_id}"
        entry = received_for(self.gateway, session.client, sender, message_id)
        _check_part(request)
        if request.path_params.get("part") == "xml":
            return _download(entry.message.data, f"{message_id}.xml")
        if request.path_params.get("part") == "receipt.xml":
            return _download(entry.receipt, f"{message_id}-receipt.xml")
        return self.page(
            request,
            "message.html",
            session=session,
            direction="in",
            row=_received_row(entry),
            document=self._document(entry.message.data),
            xml=_xml_text(entry.message.data),
            base=f"{PREFIX}/messages/in/{urllib.parse.quote(sender, safe='')}/{message_id}",
            receipt=True,
        )

    def sent_message(self, request: Request) -> Response:
        session = self.signed_in(request, "console.message")
        message_id = request.path_params["message_id"]
        request.state.target = message_id
        if not _UUID.fullmatch(message_id):
            raise NotFound(f"no outbound message {message_id}")
        entry = outbound_for(self.gateway, session.client, message_id)
        _check_part(request)
        if request.path_params.get("part") == "xml":
            return _download(entry.message.data, f"{message_id}.xml")
        if request.path_params.get("part") == "receipt.xml":
            if entry.status.receipt is None:
                raise NotFound(f"message {message_id} has no receipt yet")
            return _download(entry.status.receipt, f"{message_id}-receipt.xml")
        return self.page(
            request,
            "message.html",
            session=session,
            direction="out",
            row=_outbox_row(entry, sender_of(entry.message.data, limits=self.gateway.policy.limits)),
            document=self._document(entry.message.data),
            xml=_xml_text(entry.message.data),
            base=f"{PREFIX}/messages/out/{message_id}",
            receipt=entry.status.receipt is not None,
        )

    def _document(self, data: bytes) -> Any:
        """Return the decoded business document as rows for its readable form (None if it cannot be read)."""
        try:
            envelope = codec.from_xml(data, Envelope, limits=self.gateway.policy.limits)
        except PicExchangeError:
            return None
        document = envelope.document
        return (type(document).__name__, _document_rows(document.model_dump(mode="json", exclude_none=True)))

    # ----------------------------------------------------------------------------------------- outbox

    def outbox(self, request: Request) -> Response:
        session = self.signed_in(request, "console.outbox")
        state = request.query_params.get("state") or ""
        states = {"": (), **{item.value: (item,) for item in OutboundState}}.get(state)
        if states is None:
            raise InvalidRequest("state: queued, sending, receipted or failed", path="query.state")
        before = _number(request.query_params.get("before"), "before")
        request.state.target = f"{state or 'all'} before={before}"
        allowed = actable(self.gateway, session.client)
        page = self.gateway.store.outbox(before=before, limit=PAGE, states=states)
        rows = []
        for entry in page.entries:
            sender = sender_of(entry.message.data, limits=self.gateway.policy.limits)
            if sender in allowed:
                rows.append(_outbox_row(entry, sender))
        done = request.query_params.get("done", "")
        return self.page(
            request,
            "outbox.html",
            session=session,
            rows=rows,
            state=state,
            states=[item.value for item in OutboundState],
            done=done if done in ("retried", "given-up") else "",
            done_id=request.query_params.get("id", "") if _UUID.fullmatch(request.query_params.get("id", "")) else "",
            max_reason=MAX_REASON,
            next_link=f"{PREFIX}/outbox?state={state}&before={page.next}" if page.has_more else None,
            first_link=f"{PREFIX}/outbox?state={state}" if before else None,
        )

    async def outbox_action(self, request: Request) -> Response:
        action = request.path_params["action"]
        if action not in ("retry", "give-up"):
            raise NotFound("no such action")
        session = self.signed_in(request, f"outbox.{action}")
        message_id = request.path_params["message_id"]
        request.state.target = message_id
        fields = await self.form(request, session)
        if not _UUID.fullmatch(message_id):
            raise NotFound(f"no outbound message {message_id}")
        now = self.gateway.clock()
        if action == "retry":
            await run_in_threadpool(retry_outbound, self.gateway, session.client, message_id, now=now)
            done = "retried"
        else:
            reason = fields.get("reason", "")[:MAX_REASON]
            await run_in_threadpool(give_up_outbound, self.gateway, session.client, message_id, reason=reason, now=now)
            done = "given-up"
        back = fields.get("state", "")
        state = back if back in {item.value for item in OutboundState} else ""
        return self.redirect(
            f"{PREFIX}/outbox?{urllib.parse.urlencode({'state': state, 'done': done, 'id': message_id})}"
        )

    # --------------------------------------------------------------------------------------- partners

    def partners(self, request: Request) -> Response:
        session = self.signed_in(request, "console.partners")
        now = self.gateway.clock()
        certificates = self._certificates(now)
        partners = [
            {
                "id": partner.id,
                "name": partner.name,
                "country": partner.country,
                "role": partner.role.value,
                "endpoint": partner.endpoint,
                "blocks": sorted(block.value for block in partner.utility_blocks),
                "hosted": partner.id in self.gateway.hosted,
                "certificates": [row for row in certificates if row["owner"] == partner.id],
            }
            for partner in sorted(self.gateway.trust, key=lambda item: item.id)
        ]
        ours = [row for row in certificates if row["ours"]]
        return self.page(request, "partners.html", session=session, partners=partners, ours=ours, now=now)


def _number(text: str | None, name: str) -> int:
    if not text:
        return 0
    if not text.isdigit() or len(text) > 18:
        raise InvalidRequest(f"{name}: a cursor from a previous page", path=f"query.{name}")
    return int(text)


def _local(target: str | None) -> str:
    """Return ``target`` if it is a console page (never another site: no open redirect), else ''."""
    if target and target.startswith(PREFIX) and not target.startswith("//") and "\\" not in target:
        parsed = urllib.parse.urlsplit(target)
        if not parsed.scheme and not parsed.netloc:
            return target
    return ""


def _message_key(request: Request) -> tuple[str, str]:
    sender = urllib.parse.unquote(request.path_params["sender"])
    message_id = request.path_params["message_id"]
    if not _PARTICIPANT.fullmatch(sender) or not _UUID.fullmatch(message_id):
        raise NotFound(f"no message {message_id} from {sender}")
    return sender, message_id


def _check_part(request: Request) -> None:
    if request.path_params.get("part", "xml") not in ("xml", "receipt.xml"):
        raise NotFound("no such page")


def _download(data: bytes, filename: str) -> Response:
    return Response(
        data,
        media_type="application/xml",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            **_SECURITY_HEADERS,
        },
    )


def _received_row(entry: ReceivedEntry) -> dict[str, Any]:
    message = entry.message
    return {
        "direction": "in",
        "sender": message.sender,
        "receiver": message.receiver,
        "message_id": message.message_id,
        "conversation_id": message.conversation_id,
        "message_type": message.message_type,
        "at": message.received_at,
        "created": message.created,
        "state": entry.status.state.value,
        "digest": entry.status.digest,
        "error": None,
        "attempts": None,
        "link": f"{PREFIX}/messages/in/{urllib.parse.quote(message.sender, safe='')}/{message.message_id}",
    }


def _outbox_row(entry: OutboxEntry, sender: str | None) -> dict[str, Any]:
    message, status = entry.message, entry.status
    return {
        "direction": "out",
        "sender": sender or "?",
        "receiver": message.receiver,
        "message_id": message.message_id,
        "conversation_id": message.conversation_id,
        "message_type": message.message_type,
        "at": status.enqueued_at,
        "created": message.created,
        "state": status.state.value,
        "digest": digest_of(message.data),
        "error": status.last_error,
        "attempts": status.attempts,
        "next_attempt_at": status.next_attempt_at,
        "receipted_at": status.receipted_at,
        "link": f"{PREFIX}/messages/out/{message.message_id}",
    }


def _peer_certificate(request: Request) -> bytes | None:
    chain = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or ()
    return ssl.PEM_cert_to_DER_cert(chain[0]) if chain else None


def create_console_app(gateway: Gateway, credentials: Credentials) -> Starlette:
    """Return the console's ASGI app, to be served under :data:`PREFIX` by the back-office listener.

    Args:
        gateway: the wired parts.
        credentials: the back-office credentials, which sign in to the console too.

    """
    console = _Console(gateway, credentials)

    def sync(handler: Callable[[Request], Response]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await run_in_threadpool(handler, request)

        return endpoint

    routes = [
        Route(PREFIX, sync(console.overview), methods=["GET"]),
        Route(f"{PREFIX}/sign-in", console.sign_in_form, methods=["GET"]),
        Route(f"{PREFIX}/sign-in", console.sign_in, methods=["POST"]),
        Route(f"{PREFIX}/sign-out", console.sign_out, methods=["POST"]),
        Route(f"{PREFIX}/static/{{name}}", console.static_file, methods=["GET"]),
        Route(f"{PREFIX}/cases", sync(console.cases), methods=["GET"]),
        Route(f"{PREFIX}/cases/{{number:path}}", sync(console.case), methods=["GET"]),
        Route(f"{PREFIX}/messages", sync(console.messages), methods=["GET"]),
        Route(f"{PREFIX}/messages/in/{{sender}}/{{message_id}}", sync(console.received_message), methods=["GET"]),
        Route(
            f"{PREFIX}/messages/in/{{sender}}/{{message_id}}/{{part}}", sync(console.received_message), methods=["GET"]
        ),
        Route(f"{PREFIX}/messages/out/{{message_id}}", sync(console.sent_message), methods=["GET"]),
        Route(f"{PREFIX}/messages/out/{{message_id}}/{{part}}", sync(console.sent_message), methods=["GET"]),
        Route(f"{PREFIX}/outbox", sync(console.outbox), methods=["GET"]),
        Route(f"{PREFIX}/outbox/{{message_id}}/{{action}}", console.outbox_action, methods=["POST"]),
        Route(f"{PREFIX}/partners", sync(console.partners), methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        # Errors of ours and routing's become pages; a defect escapes to the listener's guard (a logged 500).
        exception_handlers={PicExchangeError: console.refusal, HTTPException: console.refusal},
    )
