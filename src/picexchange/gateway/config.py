"""Gateway configuration: frozen value objects, read from TOML through pydantic models of the file.

The file's shape is declared once, as :class:`GatewayFile` and its tables (``extra="forbid"``, frozen,
strict, on the pattern of :mod:`picexchange.files.document`); every problem is reported at once, the first
as a :class:`~picexchange.errors.ConfigurationError` naming the file and the exact key path
(``partner.max_depth``) in a sentence, the others counted after it. The validated tables then become the
frozen dataclasses the gateway is built from (:class:`GatewayConfig`), with paths made relative to the file.

A gateway has two listeners: the **partner** listener (internet-facing: ``POST /ub/v1/messages`` and
``/healthz``, nothing else) and the **back-office** listener (loopback by default: the JSON API, ``/metrics``,
OpenAPI), where every client authenticates. A gateway configuration file::

    [gateway]
    partners = "partners.toml"          # the partner registry; its [[me]] entries are whom we host
    store = "sqlite:gateway.db"         # relative to this file; sqlite:/abs/path.db; or postgresql://...
    max_clock_skew_seconds = 300

    [partner]
    listen = "0.0.0.0:8443"
    max_body_bytes = 8388608            # refused with 413 while reading, before parsing
    body_timeout_seconds = 30           # the whole body must arrive within this
    header_timeout_seconds = 10         # the request line and headers must arrive within this
    keep_alive_seconds = 5              # an idle connection is closed after this
    max_connections = 1000              # more concurrent connections are answered 503
    verify_concurrency = 4              # messages parsed and verified at once (default: CPU count)
    verify_queue = 32                   # messages waiting for a slot; beyond that: 503 busy
    max_depth = 32                      # parsing bounds (picexchange.codec.Limits), checked before anything
    max_elements = 1000000              # else reads the message; a refusal is a signed Error "parse" (400)
    max_attributes_per_element = 32
    max_attributes = 200000
    max_namespace_declarations_per_element = 32
    max_namespace_declarations = 1000000

    [partner.tls]                       # optional: HTTPS, and mutual TLS when client_ca is given
    certificate = "server.cert.pem"
    key = "server.key.pem"
    client_ca = "partners-ca.pem"
    require_client_certificate = true

    [backoffice]
    listen = "127.0.0.1:8081"           # a non-loopback address needs [backoffice.tls]
    tokens = "tokens.toml"              # hashed tokens (picexchange token new) and client certificates
    # tokens_env = "PICEXCHANGE_TOKENS" # or: the same TOML text in this environment variable
    max_body_bytes = 1048576

    [client_tls]                        # optional: how the outbox connects to partner gateways
    ca_bundle = "partner-servers-ca.pem"
    certificate = "client.cert.pem"
    key = "client.key.pem"

    [outbox]
    poll_seconds = 0.5
    concurrency = 8

Paths are relative to the configuration file. ``sqlite:`` store URLs follow one rule: the path is what
follows ``sqlite:``, relative to the configuration file unless it starts with ``/``; the ``sqlite://`` forms
are refused because half the world reads ``sqlite:///x.db`` as relative and the other half as absolute.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import AfterValidator, Field, model_validator

from picexchange.client import RetryPolicy, TlsConfig
from picexchange.codec import DEFAULT_LIMITS, Limits
from picexchange.errors import ConfigurationError
from picexchange.files.document import Table, Text, problem, read_toml

__all__ = [
    "LIMIT_KEYS",
    "BackofficeConfig",
    "BackofficeTable",
    "CasesConfig",
    "CasesTable",
    "ClientTlsTable",
    "GatewayConfig",
    "GatewayFile",
    "GatewayTable",
    "Listener",
    "ListenerTable",
    "OutboxConfig",
    "OutboxTable",
    "PartnerConfig",
    "PartnerListenerTable",
    "ServerTls",
    "ServerTlsTable",
    "load_gateway_config",
    "sqlite_url",
]

#: Settings of earlier versions and what replaced them: refused with this hint, never silently ignored.
REPLACED: Mapping[str, str] = {
    "gateway.listen": "[partner] listen (partners) and [backoffice] listen (the back-office API, loopback)",
    "gateway.backoffice_token": (
        "[backoffice] tokens = 'tokens.toml' (hashed tokens made by `picexchange token new`) or tokens_env"
    ),
    "gateway.max_body_bytes": "[partner] max_body_bytes",
    "gateway.body_timeout_seconds": "[partner] body_timeout_seconds",
    "tls": "[partner.tls] (and [backoffice.tls] for the back-office listener)",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerTls:
    """HTTPS for one listener.

    Attributes:
        certificate: the server certificate (PEM).
        key: its private key (PEM).
        client_ca: CA certificates that client certificates must chain to (mutual TLS).
        require_client_certificate: refuse a TLS handshake without a client certificate.

    """

    certificate: Path
    key: Path
    client_ca: Path | None = None
    require_client_certificate: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Listener:
    """One HTTP listener and the transport limits it enforces.

    Attributes:
        host: address to listen on.
        port: port to listen on (0: any free port, for tests).
        tls: HTTPS settings, or None for plain HTTP.
        header_timeout_seconds: the request line and headers must arrive within this, from the connection's
            first byte (or its opening); slow-header clients are disconnected.
        keep_alive_seconds: an idle keep-alive connection is closed after this.
        max_connections: concurrent connections (and requests) beyond this are answered 503.
        max_body_bytes: largest request body read; enforced while reading.
        body_timeout_seconds: deadline for the whole body.

    """

    host: str = "127.0.0.1"
    port: int = 8080
    tls: ServerTls | None = None
    header_timeout_seconds: float = 10.0
    keep_alive_seconds: int = 5
    max_connections: int = 1000
    max_body_bytes: int = 8 * 1024 * 1024
    body_timeout_seconds: float = 30.0

    @property
    def loopback(self) -> bool:
        """Return whether the listener is reachable from this machine only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # a host name: it may resolve to anything


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerConfig(Listener):
    """The partner listener: ``POST /ub/v1/messages`` and ``/healthz``.

    Attributes:
        verify_concurrency: messages parsed and verified at once; None: the CPU count.
        verify_queue: messages that may wait for a verification slot; more are refused ``busy`` (503).
        limits: the parsing bounds every message is held to before anything else reads it (issue 7); a
            national IT team tightens them with the ``[partner]`` keys named after the fields of
            :class:`~picexchange.codec.Limits` (``max_bytes`` is ``max_body_bytes``).

    """

    verify_concurrency: int | None = None
    verify_queue: int = 32
    limits: Limits = DEFAULT_LIMITS

    @property
    def accept_limits(self) -> Limits:
        """Return :attr:`limits` with the body bound as ``max_bytes``: one number bounds the body and the parse."""
        return dataclasses.replace(self.limits, max_bytes=min(self.limits.max_bytes, self.max_body_bytes))


@dataclass(frozen=True, slots=True, kw_only=True)
class BackofficeConfig(Listener):
    """The back-office listener: JSON API, ``/metrics``, OpenAPI; every client authenticates.

    Attributes:
        tokens: the credentials file (hashed tokens, client certificate fingerprints), or None.
        tokens_env: the name of an environment variable holding the same TOML text, or None. The CLI reads
            the environment; the library is given its content.

    """

    port: int = 8081
    max_connections: int = 100
    max_body_bytes: int = 1024 * 1024
    tokens: Path | None = None
    tokens_env: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxConfig:
    """How the outbox worker delivers.

    Attributes:
        poll_seconds: how often it looks for due messages when nothing woke it.
        lease_seconds: how long a claim holds before another worker may take the message over.
        batch: the most messages claimed at once.
        concurrency: deliveries in flight at once.
        per_partner: most deliveries in flight to one partner, so one that hangs leaves slots for the others.
        max_attempts: attempts before a message that keeps failing to arrive is given up (failed).
        retry: the back-off between attempts.

    """

    poll_seconds: float = 0.5
    lease_seconds: float = 60.0
    batch: int = 16
    concurrency: int = 8
    per_partner: int = 4
    max_attempts: int = 12
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(initial_backoff=1.0, max_backoff=300.0))

    @property
    def lease(self) -> dt.timedelta:
        """Return the lease as a timedelta."""
        return dt.timedelta(seconds=self.lease_seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class CasesConfig:
    """What the gateway does with PIC cases (docs/gateway.md, "PIC cases").

    Attributes:
        hold_automatically: answer an inbound ExportData to a hosted Customs participant that breaks a case
            rule with an automatic signed ClearanceResult "held" (release is always an officer's decision).
        customs_office: the office a ClearanceResult names when the notification names no office of entry.
        cache: the most case folds kept in memory.

    """

    hold_automatically: bool = True
    customs_office: str | None = None
    cache: int = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    """Everything a gateway needs besides its keys and partners (which the partner registry holds).

    Attributes:
        partners: path of the partner registry; its ``[[me]]`` entries are the participants we host.
        store: store URL as :func:`picexchange.store.open_store` takes it (``sqlite:///abs/path.db``,
            ``postgresql://...``); configuration files write ``sqlite:`` paths as :func:`sqlite_url` reads them.
        max_clock_skew_seconds: how far in the future a message's Created may lie.
        partner: the partner listener.
        backoffice: the back-office listener.
        client_tls: TLS towards partner gateways (CA bundle, client certificate for mTLS), or None.
        outbox: delivery settings.
        cases: PIC case settings.
        source: the configuration file, for messages naming it.

    Raises:
        ConfigurationError: the back office listens beyond loopback without TLS.

    """

    partners: Path
    store: str
    max_clock_skew_seconds: float = 300.0
    partner: PartnerConfig = field(default_factory=PartnerConfig)
    backoffice: BackofficeConfig = field(default_factory=BackofficeConfig)
    client_tls: TlsConfig | None = None
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    cases: CasesConfig = field(default_factory=CasesConfig)
    source: str | None = None

    def __post_init__(self) -> None:
        # The back office signs as us and reads the inbox (docs/gateway.md §4): off this machine only over TLS.
        if not self.backoffice.loopback and self.backoffice.tls is None:
            raise ConfigurationError(
                f"the back office listens on {self.backoffice.host}, beyond loopback, without TLS: "
                "add [backoffice.tls] (certificate, key; client_ca for client certificates) or listen on 127.0.0.1",
                source=self.source,
                field="backoffice.listen",
            )

    @classmethod
    def from_toml_text(cls, text: str, *, base: Path, source: str = "<gateway config>") -> GatewayConfig:
        """Parse a gateway configuration; relative paths are taken relative to ``base``.

        Raises:
            ConfigurationError: not TOML, an unknown, replaced or missing key, a value of the wrong kind, or
                an unsafe combination (the back office beyond loopback without TLS).

        """
        _refuse_replaced(text, source)
        file = read_toml(text, GatewayFile, source=source)
        partner_defaults, backoffice_defaults = PartnerConfig(), BackofficeConfig()
        partner = PartnerConfig(
            **_listener(file.partner, partner_defaults, base),
            verify_concurrency=file.partner.verify_concurrency,
            verify_queue=file.partner.verify_queue,
            limits=Limits(**{key: getattr(file.partner, key) for key in LIMIT_KEYS}),
        )
        backoffice = BackofficeConfig(
            **_listener(file.backoffice, backoffice_defaults, base),
            tokens=base / file.backoffice.tokens if file.backoffice.tokens is not None else None,
            tokens_env=file.backoffice.tokens_env,
        )
        client_tls = None
        if file.client_tls is not None:
            paths = file.client_tls
            client_tls = TlsConfig(
                ca_bundle=base / paths.ca_bundle if paths.ca_bundle else None,
                client_certificate=base / paths.certificate if paths.certificate else None,
                client_key=base / paths.key if paths.key else None,
            )
        return cls(
            partners=base / file.gateway.partners,
            store=_store_url(file.gateway.store, base, source),
            max_clock_skew_seconds=file.gateway.max_clock_skew_seconds,
            partner=partner,
            backoffice=backoffice,
            client_tls=client_tls,
            outbox=OutboxConfig(**file.outbox.model_dump()),
            cases=CasesConfig(**file.cases.model_dump()),
            source=source,
        )


# ------------------------------------------------------------------------------------------------ the file's shape


def _listen(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise problem(f"listen must be HOST:PORT, not {value!r}")
    return value


def _store_form(value: str) -> str:
    if value.startswith("sqlite:"):
        try:
            sqlite_url(value, base=Path("/"))
        except ConfigurationError as exc:
            raise problem(exc.text) from None
    return value


#: A whole number above 0.
_Count = Annotated[int, Field(gt=0)]
#: A number of seconds above 0 (TOML may write it as an integer).
_Seconds = Annotated[float, Field(gt=0)]


class ServerTlsTable(Table):
    """``[partner.tls]`` or ``[backoffice.tls]``: HTTPS for one listener."""

    certificate: Text
    """The server certificate (PEM), relative to the configuration file."""
    key: Text
    """Its private key (PEM)."""
    client_ca: Text | None = None
    """CA certificates that client certificates must chain to (mutual TLS)."""
    require_client_certificate: bool = False
    """Refuse a TLS handshake without a client certificate (needs ``client_ca``)."""

    @model_validator(mode="after")
    def _client_ca_for_client_certificates(self) -> Self:
        if self.require_client_certificate and self.client_ca is None:
            raise problem("require_client_certificate needs client_ca")
        return self


class ListenerTable(Table):
    """The keys both listeners take; a key left out takes the listener's default (:class:`Listener`)."""

    listen: Annotated[Text, AfterValidator(_listen)] | None = None
    """``HOST:PORT`` to listen on."""
    tls: ServerTlsTable | None = None
    """HTTPS settings; plain HTTP without them."""
    header_timeout_seconds: _Seconds | None = None
    """The request line and headers must arrive within this."""
    keep_alive_seconds: _Count | None = None
    """An idle keep-alive connection is closed after this."""
    max_connections: _Count | None = None
    """Concurrent connections beyond this are answered 503."""
    max_body_bytes: _Count | None = None
    """Largest request body read; enforced while reading (413)."""
    body_timeout_seconds: _Seconds | None = None
    """The whole body must arrive within this (408)."""


class PartnerListenerTable(ListenerTable):
    """``[partner]``: the partner listener, its verification pool and the parsing bounds of :class:`Limits`."""

    verify_concurrency: _Count | None = None
    """Messages parsed and verified at once; by default the CPU count."""
    verify_queue: Annotated[int, Field(ge=0)] = 32
    """Messages that may wait for a verification slot; one more is refused ``busy`` (503)."""
    max_depth: _Count = DEFAULT_LIMITS.max_depth
    """Deepest element nesting accepted."""
    max_elements: _Count = DEFAULT_LIMITS.max_elements
    """Most elements in a message."""
    max_attributes_per_element: _Count = DEFAULT_LIMITS.max_attributes_per_element
    """Most attributes on one element (namespace declarations not counted)."""
    max_attributes: _Count = DEFAULT_LIMITS.max_attributes
    """Most attributes in a message."""
    max_namespace_declarations_per_element: _Count = DEFAULT_LIMITS.max_namespace_declarations_per_element
    """Most namespace declarations on one element."""
    max_namespace_declarations: _Count = DEFAULT_LIMITS.max_namespace_declarations
    """Most namespace declarations in a message."""


LIMIT_KEYS = (
    "max_depth",
    "max_elements",
    "max_attributes_per_element",
    "max_attributes",
    "max_namespace_declarations_per_element",
    "max_namespace_declarations",
)
"""The fields of :class:`~picexchange.codec.Limits` a ``[partner]`` table sets (``max_body_bytes`` is
``max_bytes``)."""


class BackofficeTable(ListenerTable):
    """``[backoffice]``: the back-office listener and where its credentials are."""

    tokens: Text | None = None
    """The credentials file (hashed tokens, client certificate fingerprints)."""
    tokens_env: Text | None = None
    """Or: an environment variable holding the same TOML text."""

    @model_validator(mode="after")
    def _one_credentials_source(self) -> Self:
        if self.tokens is None and self.tokens_env is None:
            raise problem(
                "the back office needs credentials: set [backoffice] tokens = 'tokens.toml' (make tokens with "
                "`picexchange token new`) or tokens_env = 'NAME OF AN ENVIRONMENT VARIABLE'"
            )
        if self.tokens is not None and self.tokens_env is not None:
            raise problem("set one of tokens and tokens_env, not both")
        return self


class ClientTlsTable(Table):
    """``[client_tls]``: how the outbox connects to partner gateways."""

    ca_bundle: Text | None = None
    """CA certificates that partner servers must chain to; by default the system's."""
    certificate: Text | None = None
    """Our client certificate for mutual TLS."""
    key: Text | None = None
    """Its private key."""

    @model_validator(mode="after")
    def _certificate_with_key(self) -> Self:
        if (self.certificate is None) != (self.key is None):
            raise problem("client_tls needs both certificate and key, or neither")
        return self


_OUTBOX = OutboxConfig()


class OutboxTable(Table):
    """``[outbox]``: how the outbox worker delivers (:class:`OutboxConfig`)."""

    poll_seconds: _Seconds = _OUTBOX.poll_seconds
    """How often it looks for due messages when nothing woke it."""
    lease_seconds: _Seconds = _OUTBOX.lease_seconds
    """How long a claim holds before another worker may take the message over."""
    batch: _Count = _OUTBOX.batch
    """The most messages claimed at once."""
    concurrency: _Count = _OUTBOX.concurrency
    """Deliveries in flight at once."""
    per_partner: _Count = _OUTBOX.per_partner
    """Most deliveries in flight to one partner."""
    max_attempts: _Count = _OUTBOX.max_attempts
    """Attempts before a message that keeps failing to arrive is given up."""
    connect_timeout_seconds: _Seconds = _OUTBOX.connect_timeout_seconds
    """Deadline to connect to a partner."""
    read_timeout_seconds: _Seconds = _OUTBOX.read_timeout_seconds
    """Deadline for a partner's answer."""


class CasesTable(Table):
    """``[cases]``: what the gateway does with PIC cases."""

    hold_automatically: bool = True
    """Answer an inbound ExportData to a hosted Customs participant that breaks a case rule with an automatic
    signed ClearanceResult "held"; release is never automatic."""
    customs_office: Annotated[Text, Field(pattern=r"^[A-Z]{2}[A-Z0-9]{1,15}$")] | None = None
    """The Customs office a ClearanceResult names when the notification names no office of entry (MYPKG)."""
    cache: _Count = 256
    """The most case folds kept in memory (a fold not cached is folded again from the store)."""


class GatewayTable(Table):
    """``[gateway]``: the registry, the store and the clock tolerance."""

    partners: Text
    """The partner registry; its ``[[me]]`` entries are the participants the gateway hosts and signs as."""
    store: Annotated[Text, AfterValidator(_store_form)]
    """``sqlite:PATH`` (relative to this file unless it starts with ``/``), or ``postgresql://...``."""
    max_clock_skew_seconds: Annotated[float, Field(ge=0)] = 300.0
    """How far in the future a message's Created may lie."""


class GatewayFile(Table):
    """A gateway configuration file."""

    gateway: GatewayTable
    """The registry and the store."""
    partner: PartnerListenerTable = PartnerListenerTable()
    """The partner listener."""
    backoffice: BackofficeTable = Field(default_factory=dict, validate_default=True)
    """The back-office listener (its credentials are required, so an absent table is refused too)."""
    client_tls: ClientTlsTable | None = None
    """TLS towards partner gateways."""
    outbox: OutboxTable = OutboxTable()
    """Delivery settings."""
    cases: CasesTable = CasesTable()
    """PIC case settings."""


def _refuse_replaced(text: str, source: str) -> None:
    """Refuse the settings of earlier versions with what replaced them (never ignored, never "unknown")."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return  # read_toml says so, with the line
    for name, replacement in REPLACED.items():
        table, _, key = name.rpartition(".")
        holder = data.get(table) if table else data
        if isinstance(holder, dict) and key in holder:
            raise ConfigurationError(
                f"{name!r} is no longer a setting; it was replaced by {replacement}", source=source, field=name
            )


def sqlite_url(value: str, *, base: Path) -> str:
    """Return the ``open_store`` URL of a ``sqlite:`` URL written in a configuration file under ``base``.

    The rule: ``sqlite:PATH`` where PATH is relative to the configuration file unless it starts with ``/``
    (``sqlite:gateway.db``, ``sqlite:/var/lib/picexchange/gateway.db``); ``sqlite::memory:`` for a
    throw-away store.

    Raises:
        ConfigurationError: a ``sqlite://`` form (ambiguous: relative or absolute?) or no path.

    """
    path = value.removeprefix("sqlite:")
    if path.startswith("//"):
        raise ConfigurationError(
            f"store {value!r} is ambiguous (is {path.removeprefix('//')!r} relative or absolute?): write "
            "sqlite:relative/path.db (relative to this configuration file) or sqlite:/absolute/path.db",
            field="gateway.store",
        )
    if not path:
        raise ConfigurationError("store 'sqlite:' needs a path, e.g. sqlite:gateway.db", field="gateway.store")
    if path == ":memory:":
        return "sqlite://:memory:"
    return "sqlite:///" + str((base / path).resolve()).lstrip("/")


def _store_url(value: str, base: Path, source: str) -> str:
    if not value.startswith("sqlite:"):
        return value
    try:
        return sqlite_url(value, base=base)
    except ConfigurationError as exc:
        raise ConfigurationError(exc.text, source=source, field=exc.field) from None


def _listener(table: ListenerTable, defaults: Listener, base: Path) -> dict[str, Any]:
    """Return the keyword arguments of a :class:`Listener` read from ``table``; a key left out takes its default."""
    host, _, port = (table.listen or f"{defaults.host}:{defaults.port}").rpartition(":")
    tls = None
    if table.tls is not None:
        tls = ServerTls(
            certificate=base / table.tls.certificate,
            key=base / table.tls.key,
            client_ca=base / table.tls.client_ca if table.tls.client_ca else None,
            require_client_certificate=table.tls.require_client_certificate,
        )
    given = table.model_dump(include=set(_LISTENER_LIMITS), exclude_none=True)
    return {"host": host.strip("[]"), "port": int(port), "tls": tls} | {
        key: given.get(key, getattr(defaults, key)) for key in _LISTENER_LIMITS
    }


_LISTENER_LIMITS = (
    "header_timeout_seconds",
    "keep_alive_seconds",
    "max_connections",
    "max_body_bytes",
    "body_timeout_seconds",
)


def load_gateway_config(path: Path | str) -> GatewayConfig:
    """Read a gateway configuration file (the thin file-reading shell of :meth:`GatewayConfig.from_toml_text`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the gateway configuration: {exc}", source=str(path)) from exc
    return GatewayConfig.from_toml_text(text, base=path.resolve().parent, source=str(path))
