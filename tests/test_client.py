"""The client against a partner answered through respx: receipts verified, retries only where they help."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import httpx
import pytest
import respx

from picexchange import codec, exchange
from picexchange.client import AsyncClient, Client, ClientConfig, RetryPolicy
from picexchange.errors import ConfigurationError, DeliveryError, MessageError, RemoteError, UnverifiedReplyError
from picexchange.models.envelope import Envelope
from picexchange.models.pic import Notification
from picexchange.testpki import TestPki, make_test_pki

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
URL = "https://my-doe.sw.test/ub/v1/messages"


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_test_pki(
        ["AU:DCCEEW", "MY:DOE"],
        not_before=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2028, 1, 1, tzinfo=dt.UTC),
    )


@pytest.fixture()
def sealed(pki: TestPki) -> exchange.Sealed:
    document = codec.from_xml((SAMPLES / "plastic-au-my-01-notification.xml").read_bytes(), Envelope).document
    assert isinstance(document, Notification)
    return exchange.seal(document, me=pki["AU:DCCEEW"].identity, to="MY:DOE", now=NOW)


def _partner(pki: TestPki):  # type: ignore[no-untyped-def]
    """Return a respx side effect that is the importing side: accept, then receipt or signed Error."""

    def answer(request: httpx.Request) -> httpx.Response:
        me = pki["MY:DOE"].identity
        try:
            inbound = exchange.accept(request.content, me=me, trust=pki.trust(), now=NOW)
        except MessageError as exc:
            reply = exchange.error_for(exc, raw=request.content, me=me, now=NOW)
            return httpx.Response(exc.http_status, content=reply.raw, headers={"Content-Type": "application/xml"})
        receipt = exchange.receipt_for(inbound, me=me, now=NOW)
        return httpx.Response(200, content=receipt.raw, headers={"Content-Type": "application/xml"})

    return answer


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _client(pki: TestPki, sleeps: Sleeps, **retry: float) -> Client:
    policy = RetryPolicy(**retry) if retry else RetryPolicy(max_attempts=4, initial_backoff=1, jitter=0.25)  # type: ignore[arg-type]
    return Client(
        me=pki["AU:DCCEEW"].identity,
        trust=pki.trust(),
        config=ClientConfig(retry=policy),
        clock=lambda: NOW,
        sleep=sleeps,
        draw=lambda: 0.5,
    )


@respx.mock
def test_a_delivered_message_comes_back_with_a_verified_receipt(pki: TestPki, sealed: exchange.Sealed) -> None:
    route = respx.post(URL).mock(side_effect=_partner(pki))
    with _client(pki, Sleeps()) as client:
        receipted = client.send(sealed)
    assert receipted.receipt.ref_to_message_id == sealed.message_id
    assert receipted.receipt.received_digest.value == sealed.digest
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/xml"
    assert request.content == sealed.raw


@respx.mock
def test_5xx_and_connection_errors_are_retried_with_the_same_bytes_and_growing_backoff(
    pki: TestPki, sealed: exchange.Sealed
) -> None:
    partner = _partner(pki)
    answers = iter([httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(502)])

    def flaky(request: httpx.Request) -> httpx.Response:
        nxt = next(answers, None)
        if nxt is None:
            return partner(request)
        if isinstance(nxt, Exception):
            raise nxt
        return nxt

    route = respx.post(URL).mock(side_effect=flaky)
    sleeps = Sleeps()
    with _client(pki, sleeps) as client:
        receipted = client.send(sealed)
    assert receipted.receipt.ref_to_message_id == sealed.message_id
    assert route.call_count == 4
    assert {call.request.content for call in route.calls} == {sealed.raw}  # never rebuilt: one id, one body
    assert sleeps == [1.0, 2.0, 4.0]  # draw 0.5 -> no jitter; doubling from 1 s


@respx.mock
def test_retry_after_is_honoured_on_429(pki: TestPki, sealed: exchange.Sealed) -> None:
    partner = _partner(pki)
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"})])
    respx.post(URL).mock(side_effect=lambda request: next(answers, None) or partner(request))
    sleeps = Sleeps()
    with _client(pki, sleeps) as client:
        client.send(sealed)
    assert sleeps == [7.0]


@respx.mock
def test_a_signed_error_is_a_remote_error_and_is_not_retried(pki: TestPki, sealed: exchange.Sealed) -> None:
    tampered = exchange.Sealed(
        envelope=sealed.envelope,
        raw=sealed.raw.replace(b"<pic:IntendedShipments>8<", b"<pic:IntendedShipments>9<"),
        digest=sealed.digest,
    )
    route = respx.post(URL).mock(side_effect=_partner(pki))
    sleeps = Sleeps()
    with _client(pki, sleeps) as client, pytest.raises(RemoteError) as caught:
        client.send(tampered)
    assert caught.value.code == "signature"
    assert route.call_count == 1 and sleeps == []


@respx.mock
def test_an_unsigned_4xx_page_is_no_genuine_reply_and_is_retried(pki: TestPki, sealed: exchange.Sealed) -> None:
    """Only the partner's signature ends a delivery: an unsigned error page proves neither receipt nor refusal."""
    route = respx.post(URL).mock(return_value=httpx.Response(404, text="<html>Not Found</html>"))
    with _client(pki, Sleeps()) as client, pytest.raises(UnverifiedReplyError) as caught:
        client.send(sealed)
    assert caught.value.status == 404 and caught.value.reason == "signature"
    assert isinstance(caught.value.__cause__, MessageError)
    assert route.call_count == 4
    assert {call.request.content for call in route.calls} == {sealed.raw}


@respx.mock
def test_giving_up_after_max_attempts_raises_delivery_error(pki: TestPki, sealed: exchange.Sealed) -> None:
    route = respx.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    sleeps = Sleeps()
    with _client(pki, sleeps) as client, pytest.raises(DeliveryError, match="timed out"):
        client.send(sealed)
    assert route.call_count == 4 and len(sleeps) == 3


@respx.mock
def test_a_receipt_for_other_bytes_is_refused(pki: TestPki, sealed: exchange.Sealed) -> None:
    """A partner (or a proxy) answering with a receipt for other bytes gives no proof of receipt."""
    other = exchange.seal(
        sealed.envelope.document,
        me=pki["AU:DCCEEW"].identity,
        to="MY:DOE",  # type: ignore[arg-type]
        now=NOW - dt.timedelta(seconds=1),
        message_id=sealed.message_id,
    )
    inbound = exchange.accept(other.raw, me=pki["MY:DOE"].identity, trust=pki.trust(), now=NOW)
    receipt = exchange.receipt_for(inbound, me=pki["MY:DOE"].identity, now=NOW)
    assert other.digest != sealed.digest
    respx.post(URL).mock(return_value=httpx.Response(200, content=receipt.raw))
    with _client(pki, Sleeps()) as client, pytest.raises(UnverifiedReplyError, match="no genuine reply") as caught:
        client.send(sealed)
    assert caught.value.reason == "other-digest"


def test_a_partner_without_endpoint_is_a_configuration_error(pki: TestPki, sealed: exchange.Sealed) -> None:
    with _client(pki, Sleeps()) as client, pytest.raises(ConfigurationError):
        client.send(
            exchange.Sealed(
                envelope=sealed.envelope.model_copy(
                    update={"header": sealed.envelope.header.model_copy(update={"receiver": "NZ:MFE"})}
                ),
                raw=sealed.raw,
                digest=sealed.digest,
            )
        )


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(initial_backoff=1, multiplier=2, max_backoff=10, jitter=0.5)
    assert policy.backoff(1, draw=0.0) == 0.5 and policy.backoff(1, draw=0.999) == pytest.approx(1.5, abs=0.01)
    assert policy.backoff(10, draw=0.5) == 10
    assert policy.backoff(1, draw=0.5, retry_after=10_000) == policy.max_retry_after
    with pytest.raises(ConfigurationError):
        RetryPolicy(max_attempts=0)


@respx.mock
def test_the_async_client_delivers_and_retries_alike(pki: TestPki, sealed: exchange.Sealed) -> None:
    partner = _partner(pki)
    answers = iter([httpx.Response(500)])
    route = respx.post(URL).mock(side_effect=lambda request: next(answers, None) or partner(request))
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    async def run() -> exchange.Receipted:
        async with AsyncClient(
            me=pki["AU:DCCEEW"].identity, trust=pki.trust(), clock=lambda: NOW, sleep=sleep, draw=lambda: 0.5
        ) as client:
            return await client.send(sealed)

    receipted = asyncio.run(run())
    assert receipted.receipt.ref_to_message_id == sealed.message_id
    assert route.call_count == 2 and waited == [0.5]
