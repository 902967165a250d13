"""The back-office listener: the JSON API, ``/metrics`` and OpenAPI, behind authentication, always.

Every request authenticates (bearer token or TLS client certificate, :mod:`~picexchange.gateway.auth`) and
acts only for the hosted participants its client is bound to: it submits only as those and reads only
messages to or from them. Every action is audited in the store (who, what, when, outcome), refused sign-ins
included, and the audit log is readable at ``GET /api/v1/audit``. Every refusal is RFC 9457 problem details
(:mod:`~picexchange.gateway.problems`).
"""

# No "from __future__ import annotations": FastAPI reads the route signatures at definition time, and their
# dependencies are closures over the app's credentials that a postponed annotation could not resolve.
import datetime as dt
import hashlib
import html
import json
import logging
import re
import ssl
from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from picexchange import codec
from picexchange.cases.view import case_view, finding_view
from picexchange.errors import (
    Forbidden,
    IdempotencyConflict,
    InvalidRequest,
    NotAcknowledged,
    NotFound,
    StoreError,
    Unauthorized,
)
from picexchange.gateway.app import Gateway, Submission, prometheus, sender_refused
from picexchange.gateway.auth import BackofficeClient, Credentials, acting_as
from picexchange.gateway.console import PREFIX as CONSOLE_PREFIX
from picexchange.gateway.console import create_console_app
from picexchange.gateway.oversight import MAX_REASON, give_up_outbound, outbound_for, retry_outbound
from picexchange.gateway.problems import PROBLEM, Guarded, Problem, install_problem_handlers
from picexchange.models.base import XmlModel
from picexchange.models.envelope import Envelope
from picexchange.store import BackofficeAction, CaseSummary, Idempotency, OutboundState, OutboundStatus

__all__ = ["create_backoffice_app", "xml_text"]

log = logging.getLogger("picexchange.gateway")

MAX_SEQUENCE = 2**63 - 1
"""Sequences and cursors are 64-bit in every store; larger numbers are refused as invalid, not passed on."""
_PARTICIPANT = r"^[A-Z]{2}:[A-Z0-9][A-Z0-9._-]{0,63}$"
_NOTIFICATION_NUMBER = r"^[A-Za-z0-9][A-Za-z0-9./_-]{0,63}$"
_KEY = r"^[\x21-\x7e]{1,200}$"
_QUIET = frozenset({"metrics.read", "openapi.read", "docs.read"})
"""Reads of counters and documentation: audited only when refused (a scraper would fill the log)."""
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM: {}}, "description": description}
    for status, description in {
        401: "No, a wrong or an expired credential (unauthorized).",
        403: "The client may not act for that participant (forbidden).",
        422: "Parameters or body not as described (invalid-request).",
        503: "The store cannot serve the request now (unavailable); Retry-After says when to try again.",
    }.items()
}


class _Api(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Queued(_Api):
    """A document accepted into the outbox."""

    message_id: UUID
    status: str
    digest: str = Field(description="Base64 SHA-256 of the signed envelope; the partner's receipt must quote it.")
    replayed: bool = Field(False, description="True: the Idempotency-Key was seen before; nothing new was queued.")
    warnings: list[dict[str, Any]] = Field(
        [],
        description="Case findings that do not block (rule_id, severity, field, expected, found, text, ...); "
        "a finding that blocks refuses the submission (422 case-violation).",
    )


class OutboundView(_Api):
    """Where a message we send stands (queued, sending, receipted, failed)."""

    message_id: str
    state: str
    final: bool
    attempts: int
    last_error: str | None
    enqueued_at: dt.datetime
    updated_at: dt.datetime
    next_attempt_at: dt.datetime | None
    receipted_at: dt.datetime | None
    receipt_xml: str | None = Field(description="The partner's signed receipt, once receipted.")


class OperatorNote(_Api):
    """Why an operator acts on an outbox message (optional; written into the message's last error on give-up)."""

    reason: str | None = Field(None, max_length=MAX_REASON, description="A few words for the audit and the outbox.")


class InboundView(_Api):
    """One received message from the inbox log."""

    sequence: int
    sender: str
    receiver: str
    message_id: str
    conversation_id: str
    message_type: str
    utility_block: str
    ref_to_message_id: str | None
    created: dt.datetime
    received_at: dt.datetime
    digest: str
    document: dict[str, Any] = Field(description="The envelope as JSON (picexchange JSON form).")
    xml: str = Field(description="The exact signed bytes received, decoded with the document's own encoding.")


class InboxPageView(_Api):
    """A page of the inbox log; pass ``next`` as ``since`` for the following page."""

    messages: list[InboundView]
    next: int
    has_more: bool


class InboxAcknowledgement(_Api):
    """Inbox sequence numbers the back office has taken over."""

    sequences: list[Annotated[int, Field(ge=1, le=MAX_SEQUENCE)]] = Field(min_length=1, max_length=1000)


class InboundStatusView(_Api):
    """Where a received message stands (received, delivered, acknowledged)."""

    sender: str
    message_id: str
    state: str
    digest: str
    received_at: dt.datetime
    delivered_at: dt.datetime | None
    acknowledged_at: dt.datetime | None


class CaseSummaryView(_Api):
    """One PIC case as the case list shows it."""

    notification_number: str
    state: str = Field(description="awaited, notified or cancelled.")
    export_country: str | None
    import_country: str | None
    blocked: bool = Field(
        description="True when a new shipment would be stopped today: the Notification is not known yet; a State of "
        "import or transit has not consented (nor is deemed to), objected or withdrew, or its written consent is not "
        "valid today; today is outside the notified departures; or the notification was cancelled."
    )
    violations: int = Field(description="Findings that block, raised by the case's messages as they were applied.")
    warnings: int = Field(description="Findings that inform, raised by the case's messages as they were applied.")
    shipments_used: int
    shipments_notified: int | None
    message_count: int
    updated_at: dt.datetime | None
    version: int
    change: int | None = Field(
        description="The row's place in the change feed (?changed_after=): given by the first feed read after the "
        "row was last written, null until then."
    )


class CasePageView(_Api):
    """A page of the case list; pass ``next`` as ``since`` (``changed_after`` in the change feed) for the next page."""

    cases: list[CaseSummaryView]
    next: int
    has_more: bool


class CaseMessageView(_Api):
    """One message of a case, in the order the gateway stored it."""

    position: int
    message_id: str
    message_type: str
    direction: str = Field(description="in: received from a partner; out: sent by this Single Window.")
    sender: str
    receiver: str
    at: dt.datetime = Field(description="When it was received or queued.")


class CaseDetailView(_Api):
    """One PIC case: its row, the case as of today, and every message in order."""

    summary: CaseSummaryView
    case: dict[str, Any] = Field(
        description="The case view (docs/cases.md, 'The case view'): states with acknowledgement, decision, "
        "validity and conditions; shipments used and left, quantity used and left; every shipment; findings "
        "(rule_id, severity, field, expected, found, text); overdue items; pending messages."
    )
    messages: list[CaseMessageView]


def _summary_view(summary: CaseSummary) -> CaseSummaryView:
    return CaseSummaryView(
        notification_number=summary.notification_number,
        state=summary.state,
        export_country=summary.export_country,
        import_country=summary.import_country,
        blocked=summary.blocked,
        violations=summary.violations,
        warnings=summary.warnings,
        shipments_used=summary.shipments_used,
        shipments_notified=summary.shipments_notified,
        message_count=summary.message_count,
        updated_at=summary.updated_at,
        version=summary.version,
        change=summary.change,
    )


class ActionView(_Api):
    """One audited back-office action."""

    sequence: int
    at: dt.datetime
    client: str
    action: str
    target: str | None
    outcome: str = Field(description="ok, or the code of the refusal (unauthorized, forbidden, ...).")
    participant: str | None


class AuditPageView(_Api):
    """A page of the audit log; pass ``next`` as ``since`` for the following page."""

    actions: list[ActionView]
    next: int
    has_more: bool


_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]{0,39})["']""")


def xml_text(data: bytes) -> str:
    """Return XML bytes as text, decoded with the document's own encoding (BOM, then declaration, else UTF-8)."""
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if data.startswith(b"<\x00"):
        return data.decode("utf-16-le", errors="replace")
    if data.startswith(b"\x00<"):
        return data.decode("utf-16-be", errors="replace")
    declared = _ENCODING.match(data)
    try:
        return data.decode(declared.group(1).decode("ascii") if declared else "utf-8", errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def _view(envelope: XmlModel) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(codec.to_json(envelope, indent=None))
    return value


def _peer_certificate(scope: Scope) -> bytes | None:
    """Return the TLS client certificate (DER) the transport put in the scope (ASGI TLS extension)."""
    chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or ()
    return ssl.PEM_cert_to_DER_cert(chain[0]) if chain else None


def create_backoffice_app(
    gateway: Gateway,
    credentials: Credentials,
    *,
    max_body_bytes: int = 1024 * 1024,
    body_timeout: float = 30.0,
    title: str = "picexchange back office",
) -> Guarded:
    """Return the back-office listener's ASGI app.

    Args:
        gateway: the wired parts.
        credentials: the tokens and client certificates it accepts.
        max_body_bytes: largest request body.
        body_timeout: seconds within which a request body must arrive.
        title: the OpenAPI title.

    """
    app = FastAPI(
        title=title,
        version="1.0",
        description=(
            f"Back office of the Single Window of {', '.join(item.participant for item in gateway.identities)}: "
            "submit documents, pull the inbox, read "
            "message status and the audit log. Every request needs a bearer token (or a client certificate) "
            "bound to the participants it acts for."
        ),
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    install_problem_handlers(app)
    bearer = HTTPBearer(auto_error=False, description="A token made by `picexchange token new`.")

    def authenticated(action: str) -> Callable[..., Any]:
        async def dependency(
            request: Request, token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
        ) -> BackofficeClient:
            # The door (sign_in, below) authenticated the request before FastAPI read anything; the bearer
            # parameter is here so that OpenAPI declares the scheme.
            request.state.action = action
            client: BackofficeClient = request.state.backoffice_client
            return client

        return dependency

    def readable(client: BackofficeClient) -> frozenset[str]:
        allowed = acting_as(client, gateway.hosted)
        if not allowed:
            raise Forbidden(f"client {client.name} may act for none of the participants this gateway hosts")
        return allowed

    def acting(request: Request, client: BackofficeClient, wanted: str | None) -> str:
        allowed = readable(client)
        if wanted is None and len(allowed) > 1:
            raise sender_refused("this client acts for several participants: name one as sender")
        participant = wanted or next(iter(allowed))
        if participant not in gateway.hosted:
            hosted = ", ".join(sorted(gateway.hosted))
            raise sender_refused(f"{participant} is not hosted by this gateway (it hosts {hosted})")
        if participant not in allowed:
            raise Forbidden(f"client {client.name} may not act for {participant}")
        request.state.participant = participant
        return participant

    @app.post(
        "/api/v1/outbox",
        tags=["back office"],
        status_code=202,
        response_model=Queued,
        responses={**_PROBLEMS, 404: _PROBLEMS[422] | {"description": "Unknown partner."}, 409: _PROBLEMS[422]},
    )
    def submit(
        request: Request,
        submission: Submission,
        client: Annotated[BackofficeClient, Depends(authenticated("outbox.submit"))],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                pattern=_KEY,
                description="Retry with the same key after a lost answer: nothing is queued twice.",
            ),
        ] = None,
    ) -> Any:
        """Wrap, sign and queue a business document for a partner; delivery is retried until receipted."""
        participant = acting(request, client, submission.sender)
        idempotency = None
        if idempotency_key is not None:
            canonical = json.dumps(
                {"as": participant, "submission": submission.model_dump(mode="json")},
                sort_keys=True,
                separators=(",", ":"),
            )
            fingerprint = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
            idempotency = Idempotency(client=client.name, key=idempotency_key, fingerprint=fingerprint)
        enqueued = gateway.submit(submission, gateway.clock(), sender=participant, idempotency=idempotency)
        request.state.target = enqueued.message_id
        if enqueued.replayed and idempotency is not None and enqueued.fingerprint != idempotency.fingerprint:
            raise IdempotencyConflict(
                f"Idempotency-Key {idempotency_key!r} was used for another submission (message "
                f"{enqueued.message_id}); use a new key for a new document",
                path="header.Idempotency-Key",
            )
        queued = Queued(
            message_id=UUID(enqueued.message_id),
            status=OutboundState.QUEUED.value,
            digest=enqueued.digest,
            replayed=enqueued.replayed,
            warnings=[finding_view(item) for item in enqueued.warnings],
        )
        return JSONResponse(queued.model_dump(mode="json"), status_code=202)

    @app.get("/api/v1/outbox/{message_id}", tags=["back office"], response_model=OutboundView, responses=_PROBLEMS)
    def outbound_status(
        request: Request,
        message_id: UUID,
        client: Annotated[BackofficeClient, Depends(authenticated("outbox.status"))],
    ) -> Any:
        """Return where a message we send stands: queued, sending, receipted (final) or failed (final).

        Only a client that acts for the participant that signed the message may read it (403 otherwise).
        """
        request.state.target = str(message_id)
        acting_for_sender(request, client)
        # The sender is read from the stored signed bytes, as the console reads it (gateway.oversight).
        return outbound_view(str(message_id), outbound_for(gateway, client, str(message_id)).status)

    def outbound_view(message_id: str, status: OutboundStatus) -> OutboundView:
        return OutboundView(
            message_id=message_id,
            state=status.state.value,
            final=status.state in (OutboundState.RECEIPTED, OutboundState.FAILED),
            attempts=status.attempts,
            last_error=status.last_error,
            enqueued_at=status.enqueued_at,
            updated_at=status.updated_at,
            next_attempt_at=status.next_attempt_at,
            receipted_at=status.receipted_at,
            receipt_xml=xml_text(status.receipt) if status.receipt else None,
        )

    _ACTION_PROBLEMS: dict[int | str, dict[str, Any]] = {
        **_PROBLEMS,
        404: _PROBLEMS[422] | {"description": "No such outbound message (not-found)."},
        409: _PROBLEMS[422] | {"description": "The message's state does not allow it (outbox-action-refused)."},
    }

    @app.post(
        "/api/v1/outbox/{message_id}/retry",
        tags=["back office"],
        response_model=OutboundView,
        responses=_ACTION_PROBLEMS,
    )
    def retry(
        request: Request,
        message_id: UUID,
        client: Annotated[BackofficeClient, Depends(authenticated("outbox.retry"))],
        note: OperatorNote | None = None,
    ) -> Any:
        """Send a failed message again: the same signed bytes and message id, due now (audited)."""
        request.state.target = str(message_id)
        acting_for_sender(request, client)
        return outbound_view(str(message_id), retry_outbound(gateway, client, str(message_id), now=gateway.clock()))

    @app.post(
        "/api/v1/outbox/{message_id}/give-up",
        tags=["back office"],
        response_model=OutboundView,
        responses=_ACTION_PROBLEMS,
    )
    def give_up(
        request: Request,
        message_id: UUID,
        client: Annotated[BackofficeClient, Depends(authenticated("outbox.give-up"))],
        note: OperatorNote | None = None,
    ) -> Any:
        """Give up a queued message: no worker tries it again; it is failed with the reason (audited)."""
        request.state.target = str(message_id)
        acting_for_sender(request, client)
        status = give_up_outbound(
            gateway, client, str(message_id), reason=note.reason if note else None, now=gateway.clock()
        )
        return outbound_view(str(message_id), status)

    def acting_for_sender(request: Request, client: BackofficeClient) -> None:
        allowed = readable(client)
        if len(allowed) == 1:
            request.state.participant = next(iter(allowed))

    @app.get("/api/v1/inbox", tags=["back office"], responses=_PROBLEMS)
    def inbox(
        request: Request,
        client: Annotated[BackofficeClient, Depends(authenticated("inbox.read"))],
        since: Annotated[
            int, Query(ge=0, le=MAX_SEQUENCE, description="`next` of the previous page; 0 for the start.")
        ] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> InboxPageView:
        """Return received messages after the cursor (an append-only log), marking them delivered."""
        request.state.target = f"since={since}"
        allowed = readable(client)
        page = gateway.store.inbox(since=since, limit=limit, at=gateway.clock())
        views = []
        for entry in page.messages:
            message = entry.message
            if message.receiver not in allowed and message.sender not in allowed:
                continue
            envelope = codec.from_xml(message.data, Envelope, limits=gateway.policy.limits)
            views.append(
                InboundView(
                    sequence=entry.sequence,
                    sender=message.sender,
                    receiver=message.receiver,
                    message_id=message.message_id,
                    conversation_id=message.conversation_id,
                    message_type=message.message_type,
                    utility_block=message.utility_block,
                    ref_to_message_id=message.ref_to_message_id,
                    created=message.created,
                    received_at=message.received_at,
                    digest=entry.digest,
                    document=_view(envelope),
                    xml=xml_text(message.data),
                )
            )
        return InboxPageView(messages=views, next=page.next, has_more=page.has_more)

    @app.post(
        "/api/v1/inbox/ack",
        tags=["back office"],
        status_code=204,
        responses={**_PROBLEMS, 409: _PROBLEMS[422] | {"description": "A sequence never handed out."}},
    )
    def acknowledge(
        request: Request,
        ack: InboxAcknowledgement,
        client: Annotated[BackofficeClient, Depends(authenticated("inbox.ack"))],
    ) -> Response:
        """Acknowledge inbox entries the back office has taken over (all or none)."""
        shown = ",".join(map(str, ack.sequences[:40]))
        more = f",... (+{len(ack.sequences) - 40} more)" if len(ack.sequences) > 40 else ""
        request.state.target = f"sequences={shown}{more}"  # the store refuses targets over 500 characters
        readable(client)
        try:
            gateway.store.acknowledge_inbound(ack.sequences, at=gateway.clock())
        except StoreError as exc:
            if exc.retryable:
                raise
            raise NotAcknowledged(str(exc), path="body.sequences") from exc
        return Response(status_code=204)

    @app.get(
        "/api/v1/inbox/{sender}/{message_id}",
        tags=["back office"],
        response_model=InboundStatusView,
        responses=_PROBLEMS,
    )
    def inbound_status(
        request: Request,
        sender: Annotated[str, Path(pattern=_PARTICIPANT, description="The sender's participant id.")],
        message_id: UUID,
        client: Annotated[BackofficeClient, Depends(authenticated("inbound.status"))],
    ) -> Any:
        """Return where a received message stands: received, delivered or acknowledged (final)."""
        request.state.target = f"{sender}/{message_id}"
        readable(client)
        status = gateway.store.inbound_status(sender, str(message_id))
        if status is None:
            raise NotFound(f"no message {message_id} from {sender}")
        return InboundStatusView(
            sender=sender,
            message_id=str(message_id),
            state=status.state.value,
            digest=status.digest,
            received_at=status.received_at,
            delivered_at=status.delivered_at,
            acknowledged_at=status.acknowledged_at,
        )

    @app.get("/api/v1/cases", tags=["cases"], responses=_PROBLEMS)
    def cases(
        request: Request,
        client: Annotated[BackofficeClient, Depends(authenticated("cases.read"))],
        state: Annotated[
            str | None, Query(pattern="^(awaited|notified|cancelled)$", description="The notification's state.")
        ] = None,
        country: Annotated[
            str | None, Query(pattern="^[A-Z]{2}$", description="The State of export or import (ISO 3166-1).")
        ] = None,
        blocked: Annotated[bool | None, Query(description="Only blocked (true) or unblocked (false) cases.")] = None,
        updated_since: Annotated[
            dt.datetime | None, Query(description="Only cases changed at or after this time (with a zone).")
        ] = None,
        since: Annotated[
            int, Query(ge=0, le=MAX_SEQUENCE, description="`next` of the previous page; 0 for the start.")
        ] = 0,
        changed_after: Annotated[
            int | None,
            Query(
                ge=0,
                le=MAX_SEQUENCE,
                description="The change feed: `next` of the previous feed page, 0 for the start. The cases written "
                "since, in the order their writes committed, each once at its latest change; nothing is skipped "
                "when several gateway processes share one database. Not with `since` or `updated_since`.",
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> CasePageView:
        """Return the PIC cases of this Single Window after the cursor, in order of creation or of change, filtered."""
        request.state.target = f"since={since}" if changed_after is None else f"changed_after={changed_after}"
        readable(client)
        if updated_since is not None and updated_since.tzinfo is None:
            raise InvalidRequest("updated_since needs a time zone (2026-03-01T00:00:00Z)", path="query.updated_since")
        if changed_after is not None and (since or updated_since is not None):
            raise InvalidRequest(
                "changed_after pages the change feed by itself: leave out since and updated_since",
                path="query.changed_after",
            )
        gateway.review_cases(gateway.clock())
        if changed_after is not None:
            page = gateway.store.case_changes(
                after=changed_after, limit=limit, state=state, country=country, blocked=blocked
            )
        else:
            page = gateway.store.cases(
                since=since, limit=limit, state=state, country=country, blocked=blocked, updated_since=updated_since
            )
        return CasePageView(cases=[_summary_view(item) for item in page.cases], next=page.next, has_more=page.has_more)

    @app.get(
        "/api/v1/cases/{notification_number}",
        tags=["cases"],
        response_model=CaseDetailView,
        responses={**_PROBLEMS, 404: _PROBLEMS[422] | {"description": "No such case (not-found)."}},
    )
    def case(
        request: Request,
        notification_number: Annotated[str, Path(pattern=_NOTIFICATION_NUMBER, description="The case's number.")],
        client: Annotated[BackofficeClient, Depends(authenticated("cases.show"))],
    ) -> Any:
        """Return one PIC case: parties and decisions, shipments, what is used and left, findings, messages."""
        request.state.target = notification_number
        readable(client)
        shown = gateway.case_detail(notification_number, gateway.clock())
        if shown is None:
            raise NotFound(f"no case {notification_number}")
        summary, folded, messages = shown
        return CaseDetailView(
            summary=_summary_view(summary),
            case=case_view(folded),
            messages=[
                CaseMessageView(
                    position=item.position,
                    message_id=item.message.message_id,
                    message_type=item.message.message_type,
                    direction=item.message.direction.value,
                    sender=item.message.sender,
                    receiver=item.message.receiver,
                    at=item.message.at,
                )
                for item in messages
            ],
        )

    @app.get("/api/v1/audit", tags=["back office"], responses=_PROBLEMS)
    def audit(
        request: Request,
        client: Annotated[BackofficeClient, Depends(authenticated("audit.read"))],
        since: Annotated[int, Query(ge=0, le=MAX_SEQUENCE, description="`next` of the previous page.")] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> AuditPageView:
        """Return audited back-office actions after the cursor: for this client's participants, and sign-ins."""
        request.state.target = f"since={since}"
        allowed = readable(client)
        page = gateway.store.actions(since=since, limit=limit)
        return AuditPageView(
            actions=[
                ActionView(sequence=entry.sequence, **_fields(entry.action))
                for entry in page.entries
                if entry.action.participant is None or entry.action.participant in allowed
            ],
            next=page.next,
            has_more=page.has_more,
        )

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse, responses=_PROBLEMS)
    def metrics(client: Annotated[BackofficeClient, Depends(authenticated("metrics.read"))]) -> Response:
        """Prometheus text exposition of message counters, delivery counters and store states."""
        readable(client)
        return Response(prometheus(gateway), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(client: Annotated[BackofficeClient, Depends(authenticated("openapi.read"))]) -> JSONResponse:
        readable(client)
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    async def docs(client: Annotated[BackofficeClient, Depends(authenticated("docs.read"))]) -> str:
        readable(client)
        return _docs_page(app.openapi())

    async def after(scope: Scope, status: int) -> None:
        state = scope.get("state", {})
        action = state.get("action")
        outcome = state.get("outcome") or ("ok" if status < 400 else str(status))
        if action is None or (action in _QUIET and outcome == "ok"):
            return
        record = BackofficeAction(
            at=gateway.clock(),
            client=state.get("client", "anonymous"),
            action=action,
            target=state.get("target"),
            outcome=outcome,
            participant=state.get("participant"),
        )
        try:
            await run_in_threadpool(gateway.store.record_action, record)
        except StoreError as exc:
            log.error("back-office action not audited", extra={"action": action, "error": str(exc)})

    def sign_in(scope: Scope) -> None:
        """Authenticate at the door, before routing or reading the body: a stranger learns nothing."""
        state = scope.setdefault("state", {})
        headers = dict(scope.get("headers", ()))
        scheme, _, value = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        try:
            client = credentials.authenticate(
                bearer=value.strip() if scheme.lower() == "bearer" and value.strip() else None,
                certificate=_peer_certificate(scope),
                now=gateway.clock(),
            )
        except Unauthorized:
            state["action"] = "auth"
            state["target"] = _printable(f"{scope.get('method', '')} {scope.get('path', '')}")[:500]
            raise
        state["client"] = client.name
        state["backoffice_client"] = client

    # The operator console (/console) signs in with the same credentials and is audited the same way, behind
    # its own door: a session cookie instead of a bearer token, HTML forms instead of JSON bodies.
    console = Guarded(create_console_app(gateway, credentials), after=after)
    return Guarded(
        app, json_body=(max_body_bytes, body_timeout), after=after, sign_in=sign_in, beside=(CONSOLE_PREFIX, console)
    )


def _printable(text: str) -> str:
    """Return ``text`` with control characters (a NUL in a path, say) shown as ``?``: the audit keeps text."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _fields(action: BackofficeAction) -> dict[str, Any]:
    return {
        "at": action.at,
        "client": action.client,
        "action": action.action,
        "target": action.target,
        "outcome": action.outcome,
        "participant": action.participant,
    }


def _docs_page(spec: dict[str, Any]) -> str:
    """Return a self-contained HTML page describing the API (no scripts, no CDN: it works offline)."""
    rows = []
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            rows.append(
                f"<h2><code>{html.escape(method.upper())} {html.escape(path)}</code></h2>"
                f"<p>{html.escape(operation.get('description') or operation.get('summary') or '')}</p>"
            )
    title = html.escape(spec.get("info", {}).get("title", "API"))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<h1>{title}</h1><p>{html.escape(spec.get('info', {}).get('description', ''))}</p>"
        "<p>The machine-readable description is <a href='openapi.json'>openapi.json</a> (same credentials).</p>"
        + "".join(rows)
        + "</body></html>"
    )
