"""The HTTP/1.1 connection handling both listeners use: uvicorn's h11 protocol with a header deadline.

uvicorn (0.54) closes idle keep-alive connections (``timeout_keep_alive``) and caps connections
(``limit_concurrency``) but has no deadline for the request line and headers: a client sending one header byte
every few seconds holds a connection forever (slowloris). :class:`GuardedH11Protocol` starts a clock when a
connection opens and whenever the first byte of a request arrives, and closes the connection if the headers
are not complete when it runs out. It also hands the TLS client certificate to the app in the scope (the ASGI
TLS extension's ``client_cert_chain``), which uvicorn does not, so the back office can authenticate by it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import h11
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["GuardedH11Protocol", "protocol_with_header_timeout"]

log = logging.getLogger("picexchange.gateway")


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus a deadline for request headers and the client certificate in the scope."""

    header_timeout: float = 10.0
    """Seconds within which the request line and headers must be complete."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header clock; expose the client certificate, if any, to the app."""
        super().connection_made(transport)
        self._header_clock: asyncio.TimerHandle | None = None
        self._start_header_clock()
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            self.app = _with_client_certificate(self.app, ssl.DER_cert_to_PEM_cert(der))

    def data_received(self, data: bytes) -> None:
        """Start the header clock at a request's first byte; stop it once the headers are in."""
        if self._header_clock is None and self.conn.their_state is h11.IDLE:
            self._start_header_clock()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._stop_header_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the header clock with the connection."""
        self._stop_header_clock()
        super().connection_lost(exc)

    def _start_header_clock(self) -> None:
        self._header_clock = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _stop_header_clock(self) -> None:
        if self._header_clock is not None:
            self._header_clock.cancel()
            self._header_clock = None

    def _headers_too_slow(self) -> None:
        self._header_clock = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("connection closed: request headers too slow", extra={"client": self.client})
            self.transport.close()


def protocol_with_header_timeout(seconds: float) -> type[GuardedH11Protocol]:
    """Return the protocol class for a listener whose request headers must arrive within ``seconds``."""
    attributes: dict[str, Any] = {"header_timeout": seconds}
    return type("ListenerH11Protocol", (GuardedH11Protocol,), attributes)


def _with_client_certificate(app: ASGIApp, pem: str) -> ASGIApp:
    async def with_certificate(scope: Scope, receive: Receive, send: Send) -> None:
        extensions = dict(scope.get("extensions") or {})
        extensions["tls"] = {**extensions.get("tls", {}), "client_cert_chain": [pem]}
        await app({**scope, "extensions": extensions}, receive, send)

    return with_certificate
