"""The picexchange exception tree.

Every error the library raises is a :class:`PicExchangeError`. Errors that a partner or a back-office client
caused are a :class:`CodedError` and carry what the answer needs as attributes — a stable
:attr:`~CodedError.code`, an HTTP status hint, the text, the path, the line and every problem as
:attr:`~CodedError.issues` (a :class:`MessageError` also the message id) — never as text to parse::

    PicExchangeError
    ├── ConfigurationError         our own setup is wrong; never sent to a peer
    │   ├── MissingExtraError      an optional part is used without its extra (also an ImportError)
    │   └── FlowError              a sample flow's manifest or message file is wrong (file:line: message)
    ├── CodedError                 a refusal with code, status, text, path, line and .issues (never empty)
    │   ├── MessageError           becomes a signed Error reply (adds message_id)
    │   │   ├── ParseError             400 parse        not well-formed, hostile or empty XML
    │   │   ├── MessageTooLarge        413 too-large    over the size bound, before parsing
    │   │   ├── SchemaError            400 schema       XSD or model-shape problems (.issues)
    │   │   ├── SignatureError         403 signature    signature missing, broken or not covering the envelope
    │   │   ├── TrustError             403 trust        unknown sender, sender != signer, receiver != us, ...
    │   │   ├── SenderNotAllowed       403 sender-not-allowed  the sender's role in the case may not send this type
    │   │   ├── ConflictError          409 conflict     same message id, other bytes
    │   │   ├── BusinessRuleError      422 business-rule  Basel rules (.violations)
    │   │   ├── BodyTimeout            408 body-timeout   the body did not arrive within the deadline
    │   │   ├── UnsupportedMediaType   415 unsupported-media-type  a body of the wrong Content-Type
    │   │   ├── Unavailable            503 unavailable  the store cannot take it now; retry the same bytes later
    │   │   ├── Busy                   503 busy         every verification slot is taken; retry later
    │   │   └── InternalError          500 internal     a defect of ours; nothing was accepted
    │   └── RequestError               a back-office request refused (answered as RFC 9457 problem details)
    │       ├── Unauthorized           401 unauthorized   no, a wrong or an expired credential
    │       ├── Forbidden              403 forbidden      the client may not act for that participant
    │       ├── NotFound               404 not-found      no such route or record
    │       │   └── UnknownPartner     404 unknown-partner  the receiver is not in the partner registry
    │       ├── MethodNotAllowed       405 method-not-allowed
    │       ├── IdempotencyConflict    409 idempotency-conflict  the key was used for another request
    │       ├── NotAcknowledged        409 not-acknowledged  a sequence not handed out (nothing acknowledged)
    │       ├── OutboxActionRefused    409 outbox-action-refused  retry needs a failed message, give-up a queued one
    │       ├── CaseViolation          422 case-violation   a submitted document breaks a Basel rule of its case
    │       └── InvalidRequest         422 invalid-request  parameters or body not as the API says (.issues)
    │           └── NotADocument       422 not-a-document   the JSON is no business document
    ├── TransportError
    │   ├── DeliveryError          network, timeout, 5xx; retryable
    │   │   └── UnverifiedReplyError   the answer is no genuine reply (forged, other signer/digest/id, garbage)
    │   └── RemoteError            the peer answered with a signed Error
    └── StoreError
        └── CaseConflict           a case changed since it was read (retryable: fold again, retry)

Foreign exceptions (lxml, signxml, httpx, sqlite3, psycopg, pydantic) are translated at the boundary with
``raise ... from exc`` and never leak. This module imports nothing from the package.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BodyTimeout",
    "BusinessRuleError",
    "Busy",
    "CaseConflict",
    "CaseViolation",
    "CodedError",
    "ConfigurationError",
    "FlowError",
    "ConflictError",
    "DeliveryError",
    "Forbidden",
    "IdempotencyConflict",
    "InternalError",
    "InvalidRequest",
    "Issue",
    "MessageError",
    "MessageTooLarge",
    "MethodNotAllowed",
    "MissingExtraError",
    "NotADocument",
    "NotAcknowledged",
    "NotFound",
    "OutboxActionRefused",
    "ParseError",
    "PicExchangeError",
    "RemoteError",
    "RequestError",
    "SchemaError",
    "SenderNotAllowed",
    "SignatureError",
    "StoreError",
    "TransportError",
    "TrustError",
    "Unauthorized",
    "Unavailable",
    "UnknownPartner",
    "UnsupportedMediaType",
    "UnverifiedReplyError",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Issue:
    """One problem found in a document, as a person and a machine can act on it.

    Attributes:
        text: a sentence naming what is wrong, e.g. ``'Y99' is not a Basel Annex I code``.
        path: the element path without prefixes, e.g. ``/Envelope/Body/Notification/WasteIdentification``.
        line: the 1-based source line of the offending element, when the document came from XML.
        rule_id: a stable identifier of the rule that failed (``xsd``, ``V-A 6``, ``code-validity``, ...).
        expected: what the rule expected, where a case rule says it (the notification's value, a consent's).
        found: what the document or the case shows instead.

    """

    text: str
    path: str | None = None
    line: int | None = None
    rule_id: str | None = None
    expected: str | None = None
    found: str | None = None

    def __str__(self) -> str:
        if self.line and self.path:
            return f"line {self.line}: {self.path}: {self.text}"
        if self.line or self.path:
            return f"line {self.line}: {self.text}" if self.line else f"{self.path}: {self.text}"
        return self.text


class PicExchangeError(Exception):
    """Root of every error picexchange raises."""


class ConfigurationError(PicExchangeError):
    """Our own setup is wrong (keys, partner registry, store URL); never sent to a peer.

    Attributes:
        text: what is wrong.
        source: the file the setting came from, when there is one.
        field: the setting's path in that file, e.g. ``partner[2].certificate[1].path``.

    """

    def __init__(self, text: str, *, source: str | None = None, field: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.source = source
        self.field = field

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.source, self.field) if part)
        return f"{where}: {self.text}" if where else self.text


class MissingExtraError(ConfigurationError, ImportError):
    """An optional part of picexchange is used, but the extra that installs its packages is not.

    ``pip install picexchange`` brings models, codec, validation, signing and the client; the gateway and the
    PostgreSQL store need ``pip install 'picexchange[gateway]'`` and ``'picexchange[postgres]'``. It is an
    ``ImportError`` too, so ``except ImportError`` around an optional import keeps working.

    Attributes:
        extra: the extra to install (``gateway``, ``postgres``).
        name: the module that could not be imported (``fastapi``), as on every ``ImportError``.

    """

    def __init__(self, *, extra: str, module: str) -> None:
        super().__init__(
            f"{module} is not installed: this part of picexchange needs the {extra!r} extra: "
            f"pip install 'picexchange[{extra}]'"
        )
        self.extra = extra
        self.name = module


class FlowError(ConfigurationError):
    """A sample flow cannot be replayed as written; refused before anything is sent.

    Attributes:
        text: what is wrong, in a sentence.
        source: the file (the flow's ``flow.toml`` or one of its message files).
        line: the 1-based line in that file, when known.

    """

    def __init__(self, text: str, *, source: str, line: int | None = None) -> None:
        super().__init__(text, source=source)
        self.line = line

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else f"{self.source}"
        return f"{where}: {self.text}"


class CodedError(PicExchangeError):
    """A refusal answered to whoever caused it: a partner (signed ``Error``) or a back-office client (problem JSON).

    Attributes:
        code: stable error code (``parse``, ``schema``, ``unauthorized``, ...).
        http_status: the HTTP status the gateway answers with.
        text: what is wrong, for a person.
        path: where: the element path in a document, or e.g. ``query.since`` in a request, when known.
        line: source line of the offending element, when known.
        rule_id: the stable identifier of the rule that refused it, when there is one (``TrustError.reason``).
        listed: the problems the raiser listed one by one; empty when the error is its own single problem.
        issues: every problem, never empty: ``listed``, or else one :class:`Issue` made of the error's own
            text, path, line and rule id.

    """

    code: str = "internal"
    http_status: int = 400

    def __init__(
        self,
        text: str,
        *,
        path: str | None = None,
        line: int | None = None,
        rule_id: str | None = None,
        issues: tuple[Issue, ...] | list[Issue] = (),
    ) -> None:
        super().__init__(text)
        self.text = text
        self.path = path
        self.line = line
        self.rule_id = rule_id
        self.listed: tuple[Issue, ...] = tuple(issues)

    @property
    def issues(self) -> tuple[Issue, ...]:
        """Return every problem: those listed, or the error itself as one issue."""
        return self.listed or (Issue(text=self.text, path=self.path, line=self.line, rule_id=self.rule_id),)

    def __str__(self) -> str:
        return str(Issue(text=self.text, path=self.path, line=self.line))


class MessageError(CodedError):
    """A problem with a message a partner sent us (or we are about to send); becomes a signed ``Error``.

    Attributes:
        message_id: the envelope's message id, when it could be read.

    """

    code: str = "internal"
    http_status: int = 400

    def __init__(
        self,
        text: str,
        *,
        message_id: str | None = None,
        path: str | None = None,
        line: int | None = None,
        rule_id: str | None = None,
        issues: tuple[Issue, ...] | list[Issue] = (),
    ) -> None:
        super().__init__(text, path=path, line=line, rule_id=rule_id, issues=issues)
        self.message_id = message_id


class ParseError(MessageError):
    """The input is not a well-formed, safe XML document (or not JSON of a message)."""

    code = "parse"
    http_status = 400


class MessageTooLarge(MessageError):
    """The input is larger than the configured bound; refused before parsing."""

    code = "too-large"
    http_status = 413


class SchemaError(MessageError):
    """The document does not conform to its XSD or to its model's shape; ``issues`` lists every problem."""

    code = "schema"
    http_status = 400

    def __init__(self, issues: tuple[Issue, ...] | list[Issue], *, message_id: str | None = None) -> None:
        listed = tuple(issues)
        first = listed[0] if listed else Issue(text="document is not valid")
        more = f" (and {len(listed) - 1} more)" if len(listed) > 1 else ""
        super().__init__(first.text + more, message_id=message_id, path=first.path, line=first.line, issues=listed)


class BusinessRuleError(MessageError):
    """The document breaks a rule of the Basel Convention or of its own consistency; see ``violations``."""

    code = "business-rule"
    http_status = 422

    def __init__(self, violations: tuple[Issue, ...] | list[Issue], *, message_id: str | None = None) -> None:
        listed = tuple(violations)
        first = listed[0] if listed else Issue(text="business rule violated")
        more = f" (and {len(listed) - 1} more)" if len(listed) > 1 else ""
        super().__init__(first.text + more, message_id=message_id, path=first.path, line=first.line, issues=listed)

    @property
    def violations(self) -> tuple[Issue, ...]:
        """Return the rules broken: :attr:`issues` under the Basel Convention's word."""
        return self.issues


class SignatureError(MessageError):
    """The XML signature is missing, invalid, or does not cover exactly the whole envelope.

    Its :attr:`rule_id` names the rule of the signature profile it broke: a
    :class:`picexchange.signing.SignatureRule` value (``canonicalization``, ``key-info``, ...), each listed with an
    example in ``docs/signature-profile.md``.
    """

    code = "signature"
    http_status = 403


class TrustError(MessageError):
    """The signer or the routing is not trusted: unknown sender, sender != signer, receiver != us, ...

    Attributes:
        reason: which rule refused the message, a stable code for counting and tests — a
            :class:`picexchange.signing.TrustReason` value (``receiver-not-hosted``, ``unknown-sender``, ...),
            each documented there; None only where code outside the routing check raises it.

    """

    code = "trust"
    http_status = 403

    def __init__(
        self,
        text: str,
        *,
        reason: str | None = None,
        message_id: str | None = None,
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        # The rule that refused it is also the rule id of the error's own issue in the signed Error reply.
        super().__init__(text, message_id=message_id, path=path, line=line, rule_id=reason)
        self.reason = reason


class SenderNotAllowed(MessageError):
    """The sender's role in the PIC case may not send this message type (``case.sender.role``).

    An exporting authority sending an Acknowledgement, Customs sending a ConsentDecision: the message is
    signed and valid, but the Utility Block's process does not let that role send it. Nothing is stored.
    """

    code = "sender-not-allowed"
    http_status = 403


class ConflictError(MessageError):
    """A message with this id was already received with other bytes."""

    code = "conflict"
    http_status = 409


class BodyTimeout(MessageError):
    """The request body did not arrive within the configured deadline (a slow or stalled sender)."""

    code = "body-timeout"
    http_status = 408


class UnsupportedMediaType(MessageError):
    """The body is not of the media type the endpoint takes (``application/xml`` for partners)."""

    code = "unsupported-media-type"
    http_status = 415


class Unavailable(MessageError):
    """The gateway cannot take the message now (its store is down or full); nothing was acknowledged.

    The sender retries the same bytes later; the reply carries ``Retry-After``.
    """

    code = "unavailable"
    http_status = 503


class Busy(MessageError):
    """Every verification slot is taken and the queue for them is full; retry later (``Retry-After``)."""

    code = "busy"
    http_status = 503


class InternalError(MessageError):
    """A defect of the gateway itself; the message was not accepted and no internals are shown."""

    code = "internal"
    http_status = 500


class RequestError(CodedError):
    """A back-office request refused; the back office answers it as RFC 9457 problem details JSON.

    Its ``code`` is the problem's ``code`` member, ``text`` its ``detail``, ``path`` where in the request
    (``query.since``, ``body.sequences[0]``), ``listed`` the problem's ``issues`` member.
    """

    code: str = "bad-request"
    http_status: int = 400

    def __init__(self, text: str, *, path: str | None = None, issues: tuple[Issue, ...] = ()) -> None:
        super().__init__(text, path=path, issues=issues)


class Unauthorized(RequestError):
    """No credential, an unknown one, or one that has expired."""

    code = "unauthorized"
    http_status = 401


class Forbidden(RequestError):
    """The client is authenticated but may not act for (or read) that participant."""

    code = "forbidden"
    http_status = 403


class NotFound(RequestError):
    """No such route, message or record."""

    code = "not-found"
    http_status = 404


class UnknownPartner(NotFound):
    """The receiver named in a submission is not in the partner registry."""

    code = "unknown-partner"


class MethodNotAllowed(RequestError):
    """The route exists but not with this HTTP method."""

    code = "method-not-allowed"
    http_status = 405


class IdempotencyConflict(RequestError):
    """The idempotency key was already used by this client for a different submission."""

    code = "idempotency-conflict"
    http_status = 409


class NotAcknowledged(RequestError):
    """An acknowledgement named a sequence that was never handed out; nothing was acknowledged."""

    code = "not-acknowledged"
    http_status = 409


class OutboxActionRefused(RequestError):
    """An operator's outbox action does not apply to the message's state; nothing changed.

    Only a failed message can be sent again (retry), and only a queued one given up: a message being sent
    waits for its worker's outcome, and a receipted one was delivered.
    """

    code = "outbox-action-refused"
    http_status = 409


class CaseViolation(RequestError):
    """A submitted document would break a Basel rule of its PIC case; nothing was queued.

    :attr:`issues` lists every blocking finding with its rule id, field (``path``), ``expected`` and ``found``.
    """

    code = "case-violation"
    http_status = 422


class InvalidRequest(RequestError):
    """Parameters or body are not what the API describes (out of range, wrong type, a NUL character...)."""

    code = "invalid-request"
    http_status = 422


class NotADocument(InvalidRequest):
    """The submitted JSON is not one business document (an envelope, a transport reply, or nothing)."""

    code = "not-a-document"


class TransportError(PicExchangeError):
    """Sending a message to a partner did not end in a verified receipt."""


class DeliveryError(TransportError):
    """The message may not have arrived (network error, timeout, 5xx, 429); safe to retry unchanged.

    Attributes:
        retry_after: seconds the partner asked us to wait (HTTP Retry-After), if it said.
        status: the HTTP status, if the partner answered at all.

    """

    def __init__(self, text: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(text)
        self.retry_after = retry_after
        self.status = status


class UnverifiedReplyError(DeliveryError):
    """The partner's answer is not a genuine reply to what we sent: no proof of receipt, and no refusal either.

    A receipt that does not verify (forged, signed by someone else, quoting another digest or message id),
    a body that is no signed envelope at all (an error page, garbage with HTTP 200) or an HTTP status a
    partner gateway never answers. Whoever produced it — a proxy, a man in the middle, a broken partner —
    it proves nothing about the message, so the message is sent again unchanged, like after a timeout.

    Attributes:
        reason: a stable code for counting: ``parse``, ``schema``, ``signature``, ``trust`` (the
            :class:`MessageError` code of the check that failed), ``other-digest`` and ``other-message``
            (a genuine receipt for other bytes or another message id), ``too-large``, ``encoding`` (a body
            its Content-Encoding does not decode) or ``status``.

    """

    def __init__(self, text: str, *, reason: str, status: int | None = None) -> None:
        super().__init__(text, status=status)
        self.reason = reason


class RemoteError(TransportError):
    """The partner answered with a signed ``Error``; retrying the same bytes will not help.

    Attributes:
        code: the partner's error code (``schema``, ``signature``, ...).
        issues: the problems the partner listed.

    """

    def __init__(self, text: str, *, code: str, issues: tuple[Issue, ...] = ()) -> None:
        super().__init__(text)
        self.code = code
        self.issues = issues


class StoreError(PicExchangeError):
    """The message store failed; nothing was acknowledged.

    Its text is for the operator's log only: it never contains the store's connection string, user, host, port
    or database name, and it is not shown to partners.

    Attributes:
        retryable: True when the store could not do it now (unreachable, connection lost, disk full, locked,
            read-only): the same call may succeed later. False when the arguments were refused (an integer
            beyond 64 bits, a NUL character in text, an unknown message, a step its lifecycle forbids).

    """

    def __init__(self, text: str, *, retryable: bool = True) -> None:
        super().__init__(text)
        self.retryable = retryable


class CaseConflict(StoreError):
    """A PIC case changed in the store since the update was computed; nothing was written.

    Another gateway process (or thread) stored a message of the same case first. Retryable: read the case
    again (fold its messages), recompute the update and write again.

    Attributes:
        notification_number: the case.
        expected: the version the update was computed from.
        found: the version stored now (0: no such case).

    """

    def __init__(self, notification_number: str, *, expected: int, found: int) -> None:
        super().__init__(
            f"case {notification_number} is at version {found}, not {expected}: it changed since it was read",
            retryable=True,
        )
        self.notification_number = notification_number
        self.expected = expected
        self.found = found
