"""The partner listener: ``POST /ub/v1/messages`` and ``GET /healthz``, nothing else.

The route is short: read the body (bounded in size and time), hand it to the bounded verification pool
(:meth:`Gateway.handle` runs :func:`picexchange.exchange.accept`, stores in one transaction, signs the
receipt), answer. Every refusal is a signed ``Error`` with its own code; the back office is not here: any
``/api/...``, ``/metrics``, ``/docs`` or ``/openapi.json`` is 404.

The listener is a plain Starlette app, not FastAPI: its two routes take no parameters to validate and return
no model to serialise, and FastAPI's dependency solving and exit stacks cost more per message than the route
itself. Routing refusals (404, 405) and defects (500) are the same problem details as the back office's.
"""

from __future__ import annotations

import asyncio
import io

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from picexchange.errors import (
    BodyTimeout,
    Busy,
    MessageError,
    MessageTooLarge,
    StoreError,
    UnsupportedMediaType,
)
from picexchange.gateway.app import Gateway
from picexchange.gateway.problems import RETRY_AFTER_SECONDS, Guarded, install_problem_handlers

__all__ = ["XML", "create_partner_app"]

XML = "application/xml"
_XML_TYPES = ("application/xml", "text/xml")


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise MessageTooLarge(f"message of {declared} bytes exceeds the limit of {limit} bytes")
    # One growing buffer, not a list of chunks joined at the end (two copies of a large body at once);
    # getvalue() hands over that buffer as the bytes object without copying it again.
    body = io.BytesIO()
    size = 0
    try:
        # A deadline on this task, not a task of its own per request (asyncio.wait_for made one).
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise MessageTooLarge(f"message exceeds the limit of {limit} bytes")
                body.write(chunk)
    except TimeoutError:
        raise BodyTimeout(f"the message body did not arrive within {timeout:g} seconds") from None
    return body.getvalue()


def create_partner_app(gateway: Gateway, *, title: str = "picexchange gateway") -> Guarded:
    """Return the partner listener's ASGI app.

    No OpenAPI or docs routes: the partner interface is the envelope XSD and docs/gateway.md §5, and a public
    listener should say nothing about the back office.

    Args:
        gateway: the gateway whose :meth:`~picexchange.gateway.app.Gateway.handle` answers each message.
        title: the listener's name; it publishes no API description, so nothing shows it.

    """

    async def receive(request: Request) -> Response:
        now = gateway.clock()
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            if content_type not in _XML_TYPES:
                raise UnsupportedMediaType(f"Content-Type must be application/xml, not {content_type or 'missing'}")
            raw = await _read_body(request, gateway.max_body_bytes, gateway.body_timeout)
            status, body, headers = await gateway.pool.run(gateway.handle, raw, now)
        except MessageError as exc:
            # Refused before verification: the reply is addressed without reading the body.
            status, body = await gateway.pool.refuse(gateway.refuse, exc, None, now)
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if isinstance(exc, Busy) else {}
        return Response(body, status_code=status, media_type=XML, headers=headers)

    def healthz(request: Request) -> Response:
        """Report whether the gateway can write to its store now (never the store's own error text)."""
        try:
            gateway.store.check_writable(at=gateway.clock())
        except StoreError:
            return JSONResponse(
                {"status": "unavailable"}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
            )
        return JSONResponse({"status": "ok", "participant": gateway.me.participant})

    app = Starlette(
        routes=[
            Route("/ub/v1/messages", receive, methods=["POST"], name="receive"),
            Route("/healthz", healthz, methods=["GET"], name="healthz"),
        ]
    )
    app.router.redirect_slashes = False  # /ub/v1/messages/ is not the endpoint: 404, as FastAPI answered
    install_problem_handlers(app)
    return Guarded(app)
