"""One error shape for HTTP answers that are not signed messages: RFC 9457 problem details.

Every refusal has a stable ``code`` from the :mod:`picexchange.errors` tree; the answer is
``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``, ``code`` and ``issues``, whether
the refusal came from our code, from FastAPI's request validation, from routing (404, 405) or from a defect
(500, without internals). :class:`Guarded` is the outermost layer of an app: it authenticates the back office
at the door, bounds the request body, and turns an error that escaped everything else into a 500 problem,
logged once.
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import Awaitable, Callable, Iterable

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from picexchange.errors import (
    BodyTimeout,
    CodedError,
    InternalError,
    InvalidRequest,
    Issue,
    MessageTooLarge,
    MethodNotAllowed,
    NotFound,
    PicExchangeError,
    StoreError,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)

__all__ = ["PROBLEM", "Problem", "ProblemIssue", "Guarded", "install_problem_handlers", "problem_response"]

log = logging.getLogger("picexchange.gateway")

PROBLEM = "application/problem+json"
RETRY_AFTER_SECONDS = 5
"""What a 503 answer asks the client to wait before trying again."""


class ProblemIssue(BaseModel):
    """One problem found in a request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    path: str | None = None
    line: int | None = None
    rule_id: str | None = None
    expected: str | None = None
    found: str | None = None


class Problem(BaseModel):
    """Why a request was refused (RFC 9457 problem details, with the stable ``code`` added)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(description="A URI naming the kind of problem: urn:picexchange:problem:<code>.")
    title: str = Field(description="The HTTP status phrase.")
    status: int
    detail: str = Field(description="What is wrong, for a person.")
    code: str = Field(description="Stable error code, for a program (unauthorized, not-found, unavailable, ...).")
    issues: list[ProblemIssue] = []


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    issues: Iterable[Issue] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Return a problem-details response."""
    body = Problem(
        type=f"urn:picexchange:problem:{code}",
        title=http.HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
        issues=[
            ProblemIssue(text=i.text, path=i.path, line=i.line, rule_id=i.rule_id, expected=i.expected, found=i.found)
            for i in issues
        ],
    )
    return JSONResponse(body.model_dump(), status_code=status, media_type=PROBLEM, headers=headers)


def _respond(request: Request, error: PicExchangeError) -> JSONResponse:
    """Answer ``error`` and note its code in the request state (the audit reads it)."""
    return _answer(request.scope, error)


def _answer(scope: Scope, error: PicExchangeError) -> JSONResponse:
    """Return the problem answering ``error``; note its code in the scope's state for the audit."""
    if isinstance(error, StoreError):
        # The driver's text may name hosts or files: log it, never show it.
        log.error("store failed during a request", extra={"error": str(error)})
        if error.retryable:
            error = Unavailable("the gateway's store cannot serve this request now; retry later")
        else:
            error = InvalidRequest("the store refused a value of this request")
    # Errors whose own code and status are the answer (a submitted document's schema or rule errors included).
    if not isinstance(error, CodedError):
        log.error("unexpected error answered as internal", extra={"error": repr(error)})
        error = InternalError("internal error")
    scope.setdefault("state", {})["outcome"] = error.code
    # A problem lists issues only when the error listed them; a simple refusal answers "issues": [] and its
    # detail says it all.
    issues = error.listed
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if error.http_status == 503 else None
    if error.http_status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return problem_response(error.http_status, error.code, error.text, issues=issues, headers=headers)


def install_problem_handlers(app: Starlette) -> None:
    """Answer every refusal of ``app`` (FastAPI's, or a plain Starlette app's) as problem details."""

    async def known(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PicExchangeError)
        return _respond(request, exc)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        issues = tuple(
            Issue(text=str(e.get("msg", "invalid")), path=".".join(str(p) for p in e.get("loc", ())))
            for e in exc.errors()
        )
        return _respond(request, InvalidRequest("the request is not as the API describes it", issues=issues))

    async def routing(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        cause = exc.__cause__
        if isinstance(cause, PicExchangeError):  # FastAPI wraps errors raised while it reads the body
            return _respond(request, cause)
        if exc.status_code == 404:
            return _respond(request, NotFound("no such resource"))
        if exc.status_code == 405:
            return _respond(request, MethodNotAllowed(f"{request.method} is not allowed here"))
        return _respond(request, InvalidRequest(str(exc.detail)))

    async def defect(request: Request, exc: Exception) -> JSONResponse:
        return _respond(request, InternalError("internal error"))

    app.add_exception_handler(PicExchangeError, known)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, routing)
    app.add_exception_handler(Exception, defect)


_WITH_BODY = {"POST", "PUT", "PATCH"}


class Guarded:
    """An app wrapped so that no error escapes it, with JSON request bodies optionally bounded.

    Args:
        app: the FastAPI or Starlette app (with :func:`install_problem_handlers`), or the console's app; kept as
            :attr:`app` (its routes).
        json_body: ``(max_bytes, timeout_seconds)``: bodies must be ``application/json`` (else 415), at most
            that large (else 413, while reading) and complete within that time (else 408). None: the routes
            read their bodies themselves (the partner endpoint answers those refusals with signed Errors).
        after: called with the scope and the answer's status just before the answer is sent (the audit).
        sign_in: called first with the scope; raises :class:`Unauthorized` to refuse the request before
            anything else is looked at (routing, body).
        beside: ``(prefix, app)``: requests for ``prefix`` or a path under it go to that app instead, which
            has its own door (the operator console's session sign-in), ahead of ``sign_in`` and the body rules.

    """

    def __init__(
        self,
        app: Starlette,
        *,
        json_body: tuple[int, float] | None = None,
        after: Callable[[Scope, int], Awaitable[None]] | None = None,
        sign_in: Callable[[Scope], None] | None = None,
        beside: tuple[str, ASGIApp] | None = None,
    ) -> None:
        self.app = app
        self.json_body = json_body
        self.after = after
        self.sign_in = sign_in
        self.beside = beside

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request (ASGI)."""
        app, json_body, after = self.app, self.json_body, self.after
        if self.beside is not None and scope["type"] == "http":
            prefix, other = self.beside
            path = scope.get("path", "")
            if path == prefix or path.startswith(prefix + "/"):
                await other(scope, receive, send)
                return
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if after is not None:  # before the client sees the answer: what it saw is already audited
                    await after(scope, status)
            await send(message)

        refusal: PicExchangeError | None = None
        try:
            if self.sign_in is not None:
                self.sign_in(scope)
        except Unauthorized as exc:
            refusal = exc
        if refusal is None and json_body is not None:
            refusal = _refusal(scope, json_body[0])
        try:
            if refusal is not None:
                await _answer(scope, refusal)(scope, receive, sending)
            elif json_body is not None:
                await app(scope, _bounded(receive, *json_body), sending)
            else:
                await app(scope, receive, sending)
        except Exception:
            log.exception("internal error answering a request")
            if not status:
                scope.setdefault("state", {})["outcome"] = InternalError.code
                await problem_response(500, InternalError.code, "internal error")(scope, receive, sending)


def _refusal(scope: Scope, limit: int) -> PicExchangeError | None:
    headers = {name.lower(): value for name, value in scope.get("headers", ())}
    declared = headers.get(b"content-length", b"").decode("latin-1")
    if declared.isdigit() and int(declared) > limit:
        return MessageTooLarge(f"a body of {declared} bytes exceeds the limit of {limit} bytes")
    if scope.get("method") in _WITH_BODY:
        media = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        if media != "application/json":
            return UnsupportedMediaType(f"Content-Type must be application/json, not {media or 'missing'}")
    return None


def _bounded(receive: Receive, limit: int, timeout: float) -> Receive:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    size = 0
    complete = False

    async def bounded() -> Message:
        nonlocal size, complete
        if complete:  # later reads wait for the disconnect, which is no body and has no deadline
            return await receive()
        try:
            message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
        except TimeoutError:
            raise BodyTimeout(f"the request body did not arrive within {timeout:g} seconds") from None
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise MessageTooLarge(f"the body exceeds the limit of {limit} bytes")
            complete = not message.get("more_body", False)
        return message

    return bounded
