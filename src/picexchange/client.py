"""Send signed envelopes to a partner's gateway over HTTP, and verify what comes back (httpx, sync and async).

A delivery ends in one of three ways:

- a :class:`~picexchange.exchange.Receipted`: the partner's signed Receipt names our message id and the
  SHA-256 of exactly the bytes we sent (proof of receipt);
- :class:`~picexchange.errors.RemoteError`: the partner refused the message with a signed Error; sending the
  same bytes again will not help;
- :class:`~picexchange.errors.DeliveryError`: connection error, timeout, 5xx or 429 — or an answer that is
  no genuine reply (:class:`~picexchange.errors.UnverifiedReplyError`: a receipt that does not verify, is
  signed by another party or quotes other bytes or another message id, an unsigned error page, garbage with
  HTTP 200). Either way we hold no proof of receipt and no refusal: the message may not have arrived, and
  the same bytes (same message id) are sent again after an exponential back-off with jitter, honouring
  Retry-After. Anyone on the path can forge an answer; only the partner's signature can end a delivery.

Keep one client per process: it holds one connection pool (a new client per message costs about 35 ms of
connection and TLS setup).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import itertools
import logging
import random
import re
import ssl
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from picexchange import exchange
from picexchange.errors import ConfigurationError, DeliveryError, MessageError, RemoteError, UnverifiedReplyError
from picexchange.exchange import Receipted, Sealed
from picexchange.trust import Hosted, Identity, TrustStore

__all__ = ["AsyncClient", "Client", "ClientConfig", "RetryPolicy", "TlsConfig"]

log = logging.getLogger("picexchange.client")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """When to try a delivery again.

    Attributes:
        max_attempts: attempts in all, the first included.
        initial_backoff: seconds before the second attempt (before jitter).
        multiplier: growth of the back-off per attempt.
        max_backoff: longest back-off between two attempts, in seconds.
        jitter: the back-off is multiplied by a random factor in [1 - jitter, 1 + jitter], so partners
            coming back from an outage are not hit by every sender at once.
        max_retry_after: longest Retry-After we honour, in seconds (a longer one is cut to this).

    """

    max_attempts: int = 6
    initial_backoff: float = 0.5
    multiplier: float = 2.0
    max_backoff: float = 60.0
    jitter: float = 0.25
    max_retry_after: float = 600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.initial_backoff < 0 or self.multiplier < 1 or not 0 <= self.jitter < 1:
            raise ConfigurationError("retry policy: max_attempts >= 1, backoff >= 0, multiplier >= 1, 0 <= jitter < 1")

    def backoff(self, attempt: int, *, draw: float, retry_after: float | None = None) -> float:
        """Return the seconds to wait after failed attempt number ``attempt`` (1-based).

        Args:
            attempt: the attempt that just failed.
            draw: a uniform random number in [0, 1).
            retry_after: what the partner asked for, if anything; honoured up to ``max_retry_after``.

        """
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        wait = base * (1 - self.jitter + 2 * self.jitter * draw)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsConfig:
    """TLS towards partner gateways (mutual TLS when a client certificate is given).

    Attributes:
        ca_bundle: CA certificates to verify partner servers with; None for the system store.
        client_certificate: our TLS client certificate (PEM), for mTLS.
        client_key: its private key (PEM).

    """

    ca_bundle: Path | None = None
    client_certificate: Path | None = None
    client_key: Path | None = None

    def context(self) -> ssl.SSLContext:
        """Return the SSL context: partner servers verified, our client certificate presented if given.

        Raises:
            ConfigurationError: a file cannot be read or the key does not match the certificate.

        """
        try:
            context = ssl.create_default_context(cafile=str(self.ca_bundle) if self.ca_bundle else None)
            if self.client_certificate is not None:
                context.load_cert_chain(str(self.client_certificate), str(self.client_key) if self.client_key else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"TLS settings cannot be used: {exc}") from exc
        return context


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """How the client talks HTTP.

    Attributes:
        connect_timeout: seconds to establish a connection.
        read_timeout: seconds to wait for the reply (the partner stores durably before answering).
        max_reply_bytes: largest reply read (decoded); the reading stops there, and the attempt counts as an
            unverified reply (retried).
        retry: the retry policy of :meth:`Client.send`.
        tls: TLS settings; None for plain defaults.

    """

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_reply_bytes: int = 1024 * 1024
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    tls: TlsConfig | None = None

    def httpx_options(self) -> dict[str, object]:
        """Return the keyword arguments for an httpx client."""
        options: dict[str, object] = {
            "timeout": httpx.Timeout(self.read_timeout, connect=self.connect_timeout),
            "follow_redirects": False,
            "headers": {"Accept": "application/xml", "User-Agent": "picexchange"},
        }
        if self.tls is not None:
            options["verify"] = self.tls.context()
        return options


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# RFC 9110 §10.2.3: Retry-After = HTTP-date / delay-seconds, and delay-seconds = 1*DIGIT (ASCII digits only:
# str.isdigit() also takes "²" or "٣", which float() then refuses or reads as another number).
_DELAY_SECONDS = re.compile(r"[0-9]+", re.ASCII)


def _retry_after(response: httpx.Response, now: dt.datetime) -> float | None:
    """Return the seconds the partner asks us to wait, or None if it asks nothing we can read.

    Both forms of RFC 9110 §10.2.3 are read: delay-seconds, and an HTTP-date (IMF-fixdate, or the obsolete
    RFC 850 and asctime forms, which carry no zone and are GMT by definition). A date in the past is no wait;
    anything else is ignored, so the back-off applies. The policy caps what is honoured
    (:attr:`RetryPolicy.max_retry_after`).
    """
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)  # a number too big for a float is inf, which the policy caps
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def _retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def _declared_too_large(response: httpx.Response, limit: int) -> bool:
    declared = (response.headers.get("Content-Length") or "").strip()
    return declared.isdigit() and int(declared) > limit


def _bounded(chunks: Iterable[bytes], limit: int) -> bytes | None:
    """Return the body, or None as soon as it grows past ``limit`` (the rest is never read)."""
    body, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            return None
        body.append(chunk)
    return b"".join(body)


async def _abounded(chunks: AsyncIterable[bytes], limit: int) -> bytes | None:
    body, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            return None
        body.append(chunk)
    return b"".join(body)


def _unread_body(response: httpx.Response, limit: int) -> tuple[bool, bytes | None]:
    """Return ``(must read, body)``: what the status line and headers decide before any byte of the body.

    A retryable status is decided by its status alone (its body is never read); a declared length beyond
    ``limit`` is too large without reading it. Otherwise the caller reads, bounded, and the body is its.
    """
    if _retryable_status(response.status_code):
        return False, b""
    if _declared_too_large(response, limit):
        return False, None
    return True, None


@contextmanager
def _translated(sealed: Sealed, url: str) -> Iterator[None]:
    """Turn httpx's failures of one attempt into ours, alike for both clients."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"timed out sending {sealed.message_id} to {url}") from exc
    except httpx.TransportError as exc:
        raise DeliveryError(f"cannot reach {url} for {sealed.message_id}: {exc}") from exc
    except httpx.DecodingError as exc:
        # A Content-Encoding the body does not follow (gzip that is not gzip): no reply at all, like garbage.
        raise UnverifiedReplyError(
            f"{sealed.receiver} answered a body that cannot be decoded: {exc}", reason="encoding"
        ) from exc


def _outcome(
    sealed: Sealed,
    response: httpx.Response,
    body: bytes | None,
    *,
    me: Identity,
    trust: TrustStore,
    now: dt.datetime,
    limit: int,
) -> Receipted:
    """Turn one HTTP answer into a verified receipt or the right error (pure; shared by both clients).

    ``body`` is the reply as read, at most ``limit`` bytes (decoded), or None when it was longer: a reply is
    read while it streams in and dropped at the limit, so a partner (or anyone on the path) answering
    gigabytes costs us ``limit`` bytes of memory, not the answer's size.
    """
    status = response.status_code
    if _retryable_status(status):
        raise DeliveryError(
            f"{sealed.receiver} answered HTTP {status} to message {sealed.message_id}",
            retry_after=_retry_after(response, now),
            status=status,
        )
    if body is None:
        raise UnverifiedReplyError(
            f"{sealed.receiver} answered HTTP {status} with more than {limit} bytes", reason="too-large", status=status
        )
    if status == 200 or 400 <= status < 500:
        try:
            receipted = exchange.read_reply(body, sent=sealed, me=me, trust=trust, now=now)
        except RemoteError:
            raise  # the partner's own signed refusal: final
        except MessageError as exc:
            raise UnverifiedReplyError(
                f"{sealed.receiver} answered HTTP {status} with no genuine reply: {exc}",
                reason=_REPLY_REASONS.get((exc.code, exc.path), exc.code),
                status=status,
            ) from exc
        if status != 200:
            raise RemoteError(f"{sealed.receiver} answered HTTP {status} with a Receipt", code=f"http-{status}")
        return receipted
    raise UnverifiedReplyError(f"{sealed.receiver} answered HTTP {status}", reason="status", status=status)


# A genuine receipt that answers something else: exchange.read_reply names the element that differs.
_REPLY_REASONS: dict[tuple[str, str | None], str] = {
    ("signature", "/Envelope/Body/Receipt/ReceivedDigest"): "other-digest",
    ("schema", "/Envelope/Header/RefToMessageId"): "other-message",
}


def _endpoint(sealed: Sealed, trust: TrustStore, endpoint: str | None) -> str:
    if endpoint is not None:
        return endpoint
    partner = trust.partner(sealed.receiver)
    if partner is None or partner.endpoint is None:
        raise ConfigurationError(f"no endpoint registered for {sealed.receiver}")
    return partner.endpoint


_HEADERS = {"Content-Type": "application/xml"}


class _Base:
    """What both clients hold: who we are, whom we trust, how we talk, and the clock and dice to use."""

    def __init__(
        self,
        *,
        me: Identity | Hosted,
        trust: TrustStore,
        config: ClientConfig | None,
        clock: Callable[[], dt.datetime],
        draw: Callable[[], float],
    ) -> None:
        self.identities = Hosted.of(me)
        self.me = self.identities.first
        self.trust = trust
        self.config = config or ClientConfig()
        self._clock = clock
        self._draw = draw

    def _outcome(self, sealed: Sealed, response: httpx.Response, body: bytes | None) -> Receipted:
        # The reply is addressed to whichever hosted participant sent the message.
        me = self.identities.identity(sealed.sender)
        if me is None:
            raise ConfigurationError(
                f"message {sealed.message_id} is sent as {sealed.sender}, which this client does not host"
            )
        return _outcome(
            sealed, response, body, me=me, trust=self.trust, now=self._clock(), limit=self.config.max_reply_bytes
        )

    # The retry decision and its log lines, shared by both clients: only the waiting differs (sleep or await).

    def _wait_after(self, sealed: Sealed, attempt: int, exc: DeliveryError) -> float | None:
        """Return the seconds to wait before trying ``sealed`` again after ``exc``, or None to give up.

        Only a :class:`DeliveryError` gets here (no proof of receipt and no refusal: the same bytes may help);
        a :class:`RemoteError` or a configuration error is final and never asks.
        """
        policy = self.config.retry
        details = {"message_id": str(sealed.message_id), "attempt": attempt, "error": str(exc)}
        if isinstance(exc, UnverifiedReplyError):
            details["reason"] = exc.reason
        if attempt >= policy.max_attempts:
            log.warning("delivery failed, no attempts left", extra=details)
            return None
        wait = policy.backoff(attempt, draw=self._draw(), retry_after=exc.retry_after)
        log.info("delivery failed, retrying", extra={**details, "wait": wait})
        return wait

    @staticmethod
    def _receipted(sealed: Sealed, attempt: int) -> None:
        log.info("receipted", extra={"message_id": str(sealed.message_id), "attempt": attempt})


class Client(_Base):
    """A synchronous client for partner gateways; one per process, reused for every message."""

    def __init__(
        self,
        *,
        me: Identity | Hosted,
        trust: TrustStore,
        config: ClientConfig | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
        sleep: Callable[[float], None] = time.sleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(me=me, trust=trust, config=config, clock=clock, draw=draw)
        self._sleep = sleep
        self._http = httpx.Client(transport=transport, **self.config.httpx_options())  # type: ignore[arg-type]

    def deliver(self, sealed: Sealed, *, endpoint: str | None = None) -> Receipted:
        """Make one attempt to deliver ``sealed``; see the module docstring for the outcomes."""
        url = _endpoint(sealed, self.trust, endpoint)
        limit = self.config.max_reply_bytes
        with _translated(sealed, url):
            with self._http.stream("POST", url, content=sealed.raw, headers=_HEADERS) as response:
                read, body = _unread_body(response, limit)
                if read:
                    body = _bounded(response.iter_bytes(), limit)
        return self._outcome(sealed, response, body)

    def send(self, sealed: Sealed, *, endpoint: str | None = None) -> Receipted:
        """Deliver ``sealed``, retrying the same bytes on DeliveryError per the retry policy."""
        for attempt in itertools.count(1):
            try:
                receipted = self.deliver(sealed, endpoint=endpoint)
            except DeliveryError as exc:
                wait = self._wait_after(sealed, attempt, exc)
                if wait is None:
                    raise
                self._sleep(wait)
                continue
            self._receipted(sealed, attempt)
            return receipted
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _asleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


class AsyncClient(_Base):
    """The asyncio twin of :class:`Client`."""

    def __init__(
        self,
        *,
        me: Identity | Hosted,
        trust: TrustStore,
        config: ClientConfig | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
        sleep: Callable[[float], Awaitable[None]] = _asleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(me=me, trust=trust, config=config, clock=clock, draw=draw)
        self._sleep = sleep
        self._http = httpx.AsyncClient(transport=transport, **self.config.httpx_options())  # type: ignore[arg-type]

    async def deliver(self, sealed: Sealed, *, endpoint: str | None = None) -> Receipted:
        """Make one attempt to deliver ``sealed``."""
        url = _endpoint(sealed, self.trust, endpoint)
        limit = self.config.max_reply_bytes
        with _translated(sealed, url):
            async with self._http.stream("POST", url, content=sealed.raw, headers=_HEADERS) as response:
                read, body = _unread_body(response, limit)
                if read:
                    body = await _abounded(response.aiter_bytes(), limit)
        return self._outcome(sealed, response, body)

    async def send(self, sealed: Sealed, *, endpoint: str | None = None) -> Receipted:
        """Deliver ``sealed``, retrying the same bytes on DeliveryError per the retry policy."""
        for attempt in itertools.count(1):
            try:
                receipted = await self.deliver(sealed, endpoint=endpoint)
            except DeliveryError as exc:
                wait = self._wait_after(sealed, attempt, exc)
                if wait is None:
                    raise
                await self._sleep(wait)
                continue
            self._receipted(sealed, attempt)
            return receipted
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
