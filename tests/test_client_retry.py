"""Both clients make one retry decision and write one log: the same answers give the same waits, lines, outcome.

Table-driven over respx: each case scripts the partner's first answers, after which the partner (MY:DOE, for
real: ``exchange.accept`` then a signed receipt or Error) answers. :class:`Client` and :class:`AsyncClient`
run every case; the waits they ask for, what they log and how ``send`` ends must match each other and the
table. Retry-After is read in both forms of RFC 9110 §10.2.3 (delay-seconds and HTTP-date) and capped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email.utils
import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import respx

from picexchange import codec, exchange
from picexchange.client import AsyncClient, Client, ClientConfig, RetryPolicy
from picexchange.errors import DeliveryError, MessageError, RemoteError, UnverifiedReplyError
from picexchange.models.envelope import Envelope
from picexchange.models.pic import Notification
from picexchange.testpki import TestPki, make_test_pki

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)  # a Wednesday
URL = "https://my-doe.sw.test/ub/v1/messages"
POLICY = RetryPolicy(max_attempts=3, initial_backoff=1.0, multiplier=2.0, jitter=0.25, max_retry_after=600.0)

#: One scripted answer: a response, or the httpx error the transport raises.
Answer = httpx.Response | httpx.HTTPError


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_test_pki(
        ["AU:DCCEEW", "MY:DOE"],
        not_before=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2028, 1, 1, tzinfo=dt.UTC),
    )


@pytest.fixture(scope="module")
def sealed(pki: TestPki) -> exchange.Sealed:
    document = codec.from_xml((SAMPLES / "plastic-au-my-01-notification.xml").read_bytes(), Envelope).document
    assert isinstance(document, Notification)
    return exchange.seal(document, me=pki["AU:DCCEEW"].identity, to="MY:DOE", now=NOW)


def _busy(status: int = 503, retry_after: str | None = None) -> httpx.Response:
    """Return a retryable answer; ``retry_after`` goes on the wire as UTF-8 (a header is bytes)."""
    headers = [] if retry_after is None else [(b"Retry-After", retry_after.encode())]
    return httpx.Response(status, headers=headers)


IN_30_SECONDS = email.utils.format_datetime(NOW + dt.timedelta(seconds=30), usegmt=True)
GARBAGE_200 = httpx.Response(200, content=b"not xml")


@dataclasses.dataclass(frozen=True)
class Case:
    """The partner's first answers, and what both clients must do with them."""

    answers: tuple[Answer, ...]
    waits: tuple[float, ...]
    ends: type[Exception] | None = None
    """None: receipted by the genuine partner after the scripted answers."""
    tampered: bool = False
    """Send bytes whose signature breaks, so the genuine partner refuses them with a signed Error."""


CASES: dict[str, Case] = {
    "5xx-then-receipt": Case((_busy(),), (1.0,)),
    "retry-after-delay-seconds": Case((_busy(429, "7"),), (7.0,)),
    "retry-after-imf-fixdate": Case((_busy(503, IN_30_SECONDS),), (30.0,)),
    "retry-after-rfc850-date": Case((_busy(503, "Wednesday, 25-Nov-26 10:00:45 GMT"),), (45.0,)),
    "retry-after-asctime-date": Case((_busy(503, "Wed Nov 25 10:01:00 2026"),), (60.0,)),
    "retry-after-date-in-the-past": Case((_busy(503, "Wed, 25 Nov 2026 09:00:00 GMT"),), (1.0,)),
    "retry-after-capped": Case((_busy(503, "86400"),), (600.0,)),
    "retry-after-date-capped": Case((_busy(503, "Fri, 25 Dec 2026 10:00:00 GMT"),), (600.0,)),
    "retry-after-huge-number": Case((_busy(503, "9" * 400),), (600.0,)),
    "retry-after-non-ascii-digits": Case((_busy(503, "\u00b2"), _busy(503, "\u0663")), (1.0, 2.0)),
    "retry-after-garbage": Case((_busy(503, "soon"), _busy(503, "-5")), (1.0, 2.0)),
    "retry-after-shorter-than-backoff": Case((_busy(), _busy(503, "1")), (1.0, 2.0)),
    "connection-refused": Case((httpx.ConnectError("refused"),), (1.0,)),
    "timeout": Case((httpx.ReadTimeout("slow"),), (1.0,)),
    "garbage-200": Case((GARBAGE_200,), (1.0,)),
    "unsigned-404": Case((httpx.Response(404, text="<html>Not Found</html>"),), (1.0,)),
    "gives-up-after-max-attempts": Case((_busy(), _busy(), _busy(502)), (1.0, 2.0), ends=DeliveryError),
    "gives-up-on-unverified-replies": Case((GARBAGE_200,) * 3, (1.0, 2.0), ends=UnverifiedReplyError),
    "signed-error-is-final": Case((), (), ends=RemoteError, tampered=True),
}


def _partner(pki: TestPki, answers: tuple[Answer, ...]) -> Callable[[httpx.Request], httpx.Response]:
    """Return the scripted answers first, then MY:DOE's genuine reply (receipt, or signed Error)."""
    script = list(answers)

    def answer(request: httpx.Request) -> httpx.Response:
        if script:
            scripted = script.pop(0)
            if isinstance(scripted, httpx.HTTPError):
                raise scripted
            # A fresh copy: the table's responses are shared by both clients' runs.
            return httpx.Response(scripted.status_code, headers=scripted.headers.raw, content=scripted.content)
        me = pki["MY:DOE"].identity
        try:
            inbound = exchange.accept(request.content, me=me, trust=pki.trust(), now=NOW)
        except MessageError as exc:
            reply = exchange.error_for(exc, raw=request.content, me=me, now=NOW)
            return httpx.Response(exc.http_status, content=reply.raw)
        return httpx.Response(200, content=exchange.receipt_for(inbound, me=me, now=NOW).raw)

    return answer


@dataclasses.dataclass
class Run:
    """What one client did over one case."""

    waits: list[float]
    lines: list[tuple[str, str, object, object, object]]
    """(level, message, attempt, wait, reason) of every line the client logged."""
    ended: type[Exception] | None
    posted: list[bytes]


def _run_sync(pki: TestPki, sent: exchange.Sealed, case: Case, caplog: pytest.LogCaptureFixture) -> Run:
    waits: list[float] = []
    ended: type[Exception] | None = None
    with respx.mock:
        route = respx.post(URL).mock(side_effect=_partner(pki, case.answers))
        with Client(
            me=pki["AU:DCCEEW"].identity,
            trust=pki.trust(),
            config=ClientConfig(retry=POLICY),
            clock=lambda: NOW,
            sleep=waits.append,
            draw=lambda: 0.5,
        ) as client:
            try:
                client.send(sent, endpoint=URL)
            except (DeliveryError, RemoteError) as exc:
                ended = type(exc)
        posted = [call.request.content for call in route.calls]
    return Run(waits=waits, lines=_lines(caplog), ended=ended, posted=posted)


def _run_async(pki: TestPki, sent: exchange.Sealed, case: Case, caplog: pytest.LogCaptureFixture) -> Run:
    waits: list[float] = []
    ended: type[Exception] | None = None

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def run() -> None:
        nonlocal ended
        async with AsyncClient(
            me=pki["AU:DCCEEW"].identity,
            trust=pki.trust(),
            config=ClientConfig(retry=POLICY),
            clock=lambda: NOW,
            sleep=sleep,
            draw=lambda: 0.5,
        ) as client:
            try:
                await client.send(sent, endpoint=URL)
            except (DeliveryError, RemoteError) as exc:
                ended = type(exc)

    with respx.mock:
        route = respx.post(URL).mock(side_effect=_partner(pki, case.answers))
        asyncio.run(run())
        posted = [call.request.content for call in route.calls]
    return Run(waits=waits, lines=_lines(caplog), ended=ended, posted=posted)


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, object, object, object]]:
    lines = [
        (r.levelname, r.getMessage(), getattr(r, "attempt", None), getattr(r, "wait", None), getattr(r, "reason", None))
        for r in caplog.records
        if r.name == "picexchange.client"
    ]
    caplog.clear()
    return lines


@pytest.mark.parametrize("name", list(CASES))
def test_both_clients_decide_and_log_each_retry_alike(
    pki: TestPki, sealed: exchange.Sealed, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Same waits (back-off, Retry-After in seconds or as a date, capped), same log lines, same outcome."""
    case = CASES[name]
    caplog.set_level(logging.INFO, logger="picexchange.client")
    sent = sealed
    if case.tampered:
        raw = sealed.raw.replace(b"<pic:IntendedShipments>8<", b"<pic:IntendedShipments>9<")
        assert raw != sealed.raw
        sent = exchange.Sealed(envelope=sealed.envelope, raw=raw, digest=sealed.digest)
    sync, asynchronous = _run_sync(pki, sent, case, caplog), _run_async(pki, sent, case, caplog)

    assert sync == asynchronous
    assert sync.waits == list(case.waits)
    assert sync.ended is case.ends
    assert sync.posted == [sent.raw] * (len(case.waits) + 1)  # the same bytes every time, never rebuilt
    retried = [line for line in sync.lines if line[1] == "delivery failed, retrying"]
    assert [(line[2], line[3]) for line in retried] == list(enumerate(case.waits, start=1))
    last = sync.lines[-1] if sync.lines else None
    if case.ends is None:
        assert last == ("INFO", "receipted", len(case.waits) + 1, None, None)
    elif case.ends is RemoteError:
        assert sync.lines == []  # a signed refusal is the partner's answer, not a failed delivery
    else:
        assert last is not None and last[:3] == ("WARNING", "delivery failed, no attempts left", POLICY.max_attempts)
