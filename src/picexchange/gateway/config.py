"""Gateway configuration: a frozen value object, parsed from TOML by a pure function.

A gateway has two listeners: the **partner** listener (internet-facing: ``POST /ub/v1/messages`` and
``/healthz``, nothing else) and the **back-office** listener (loopback by default: the JSON API, ``/metrics``,
OpenAPI), where every client authenticates. A gateway configuration file::

    [gateway]
    partners = "partners.toml"          # the partner registry; its [me] table is our signing identity
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
from typing import Any

from picexchange.client import RetryPolicy, TlsConfig
from picexchange.codec import DEFAULT_LIMITS, Limits
from picexchange.errors import ConfigurationError

__all__ = [
    "BackofficeConfig",
    "GatewayConfig",
    "Listener",
    "OutboxConfig",
    "PartnerConfig",
    "ServerTls",
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
class GatewayConfig:
    """Everything a gateway needs besides its keys and partners (which the partner registry holds).

    Attributes:
        partners: path of the partner registry; its ``[me]`` table is our identity.
        store: store URL as :func:`picexchange.store.open_store` takes it (``sqlite:///abs/path.db``,
            ``postgresql://...``); configuration files write ``sqlite:`` paths as :func:`sqlite_url` reads them.
        max_clock_skew_seconds: how far in the future a message's Created may lie.
        partner: the partner listener.
        backoffice: the back-office listener.
        client_tls: TLS towards partner gateways (CA bundle, client certificate for mTLS), or None.
        outbox: delivery settings.
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
    source: str | None = None

    def __post_init__(self) -> None:
        # DESIGN §4: the back office signs as us and reads the inbox; off this machine only over TLS.
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
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"not valid TOML: {exc}", source=source) from exc
        _only(data, {"gateway", "partner", "backoffice", "client_tls", "outbox"}, "", source)
        gateway = _table(data, "gateway", source, required=True) or {}
        _only(gateway, {"partners", "store", "max_clock_skew_seconds"}, "gateway", source)
        partner_table = _table(data, "partner", source, required=False) or {}
        _only(partner_table, _LISTENER_KEYS | _LIMIT_KEYS | {"verify_concurrency", "verify_queue"}, "partner", source)
        backoffice_table = _table(data, "backoffice", source, required=False) or {}
        _only(backoffice_table, _LISTENER_KEYS | {"tokens", "tokens_env"}, "backoffice", source)
        partner_defaults, backoffice_defaults = PartnerConfig(), BackofficeConfig()
        partner = PartnerConfig(
            **_listener(partner_table, "partner", partner_defaults, base, source),
            verify_concurrency=_positive(
                partner_table, "verify_concurrency", "partner", source, default=None, kind=int
            ),
            verify_queue=_get(partner_table, "verify_queue", int, "partner", source, default=32),
            limits=Limits(
                **{
                    key: _positive(
                        partner_table, key, "partner", source, default=getattr(DEFAULT_LIMITS, key), kind=int
                    )
                    for key in sorted(_LIMIT_KEYS)
                }
            ),
        )
        tokens = _get(backoffice_table, "tokens", str, "backoffice", source, default=None)
        tokens_env = _get(backoffice_table, "tokens_env", str, "backoffice", source, default=None)
        if tokens is None and tokens_env is None:
            raise ConfigurationError(
                "the back office needs credentials: set [backoffice] tokens = 'tokens.toml' (make tokens with "
                "`picexchange token new`) or tokens_env = 'NAME OF AN ENVIRONMENT VARIABLE'",
                source=source,
                field="backoffice.tokens",
            )
        if tokens is not None and tokens_env is not None:
            raise ConfigurationError(
                "set one of tokens and tokens_env, not both", source=source, field="backoffice.tokens_env"
            )
        backoffice = BackofficeConfig(
            **_listener(backoffice_table, "backoffice", backoffice_defaults, base, source),
            tokens=base / tokens if tokens is not None else None,
            tokens_env=tokens_env,
        )
        client_table = _table(data, "client_tls", source, required=False)
        client_tls = None
        if client_table is not None:
            _only(client_table, {"ca_bundle", "certificate", "key"}, "client_tls", source)
            paths = {
                key: _get(client_table, key, str, "client_tls", source, default=None)
                for key in ("ca_bundle", "certificate", "key")
            }
            if (paths["certificate"] is None) != (paths["key"] is None):
                raise ConfigurationError(
                    "client_tls needs both certificate and key, or neither", source=source, field="client_tls"
                )
            client_tls = TlsConfig(
                ca_bundle=base / paths["ca_bundle"] if paths["ca_bundle"] else None,
                client_certificate=base / paths["certificate"] if paths["certificate"] else None,
                client_key=base / paths["key"] if paths["key"] else None,
            )
        return cls(
            partners=base / _get(gateway, "partners", str, "gateway", source),
            store=_store_url(_get(gateway, "store", str, "gateway", source), base, source),
            max_clock_skew_seconds=float(
                _get(gateway, "max_clock_skew_seconds", (int, float), "gateway", source, default=300.0)
            ),
            partner=partner,
            backoffice=backoffice,
            client_tls=client_tls,
            outbox=_outbox(_table(data, "outbox", source, required=False) or {}, source),
            source=source,
        )


_LISTENER_KEYS = {
    "listen",
    "tls",
    "header_timeout_seconds",
    "keep_alive_seconds",
    "max_connections",
    "max_body_bytes",
    "body_timeout_seconds",
}
_LIMIT_KEYS = {
    "max_depth",
    "max_elements",
    "max_attributes_per_element",
    "max_attributes",
    "max_namespace_declarations_per_element",
    "max_namespace_declarations",
}
"""The fields of :class:`~picexchange.codec.Limits` a ``[partner]`` table may set (``max_body_bytes`` is
``max_bytes``)."""
_OUTBOX_KEYS = {
    "poll_seconds",
    "lease_seconds",
    "batch",
    "concurrency",
    "per_partner",
    "max_attempts",
    "connect_timeout_seconds",
    "read_timeout_seconds",
}
_MISSING: Any = object()


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


def _listener(table: Mapping[str, Any], where: str, defaults: Listener, base: Path, source: str) -> dict[str, Any]:
    """Return the keyword arguments of a :class:`Listener` read from ``table``."""
    listen = _get(table, "listen", str, where, source, default=f"{defaults.host}:{defaults.port}")
    host, _, port_text = listen.rpartition(":")
    if not host or not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ConfigurationError(f"listen must be HOST:PORT, not {listen!r}", source=source, field=f"{where}.listen")
    tls_table = _table(table, "tls", source, required=False, where=where)
    tls = None
    if tls_table is not None:
        name = f"{where}.tls"
        _only(tls_table, {"certificate", "key", "client_ca", "require_client_certificate"}, name, source)
        client_ca = _get(tls_table, "client_ca", str, name, source, default=None)
        tls = ServerTls(
            certificate=base / _get(tls_table, "certificate", str, name, source),
            key=base / _get(tls_table, "key", str, name, source),
            client_ca=base / client_ca if client_ca else None,
            require_client_certificate=_get(tls_table, "require_client_certificate", bool, name, source, default=False),
        )
        if tls.require_client_certificate and tls.client_ca is None:
            raise ConfigurationError("require_client_certificate needs client_ca", source=source, field=name)
    return {
        "host": host.strip("[]"),
        "port": int(port_text),
        "tls": tls,
        "header_timeout_seconds": float(
            _positive(table, "header_timeout_seconds", where, source, default=defaults.header_timeout_seconds)
        ),
        "keep_alive_seconds": _positive(
            table, "keep_alive_seconds", where, source, default=defaults.keep_alive_seconds, kind=int
        ),
        "max_connections": _positive(
            table, "max_connections", where, source, default=defaults.max_connections, kind=int
        ),
        "max_body_bytes": _positive(table, "max_body_bytes", where, source, default=defaults.max_body_bytes, kind=int),
        "body_timeout_seconds": float(
            _positive(table, "body_timeout_seconds", where, source, default=defaults.body_timeout_seconds)
        ),
    }


def _outbox(table: Mapping[str, Any], source: str) -> OutboxConfig:
    _only(table, _OUTBOX_KEYS, "outbox", source)
    defaults = OutboxConfig()
    number = (int, float)
    return OutboxConfig(
        poll_seconds=float(_get(table, "poll_seconds", number, "outbox", source, default=defaults.poll_seconds)),
        lease_seconds=float(_get(table, "lease_seconds", number, "outbox", source, default=defaults.lease_seconds)),
        batch=_get(table, "batch", int, "outbox", source, default=defaults.batch),
        concurrency=_get(table, "concurrency", int, "outbox", source, default=defaults.concurrency),
        per_partner=_get(table, "per_partner", int, "outbox", source, default=defaults.per_partner),
        max_attempts=_get(table, "max_attempts", int, "outbox", source, default=defaults.max_attempts),
        connect_timeout_seconds=float(
            _get(table, "connect_timeout_seconds", number, "outbox", source, default=defaults.connect_timeout_seconds)
        ),
        read_timeout_seconds=float(
            _get(table, "read_timeout_seconds", number, "outbox", source, default=defaults.read_timeout_seconds)
        ),
    )


def _only(table: Mapping[str, Any], allowed: set[str], where: str, source: str) -> None:
    for key in table:
        name = f"{where}.{key}" if where else key
        if name in REPLACED:
            raise ConfigurationError(
                f"{name!r} is no longer a setting; it was replaced by {REPLACED[name]}", source=source, field=name
            )
        if key not in allowed:
            raise ConfigurationError(
                f"unknown setting {name!r}; known: {', '.join(sorted(allowed))}", source=source, field=name
            )


def _table(data: Mapping[str, Any], key: str, source: str, *, required: bool, where: str = "") -> dict[str, Any] | None:
    name = f"{where}.{key}" if where else key
    value = data.get(key)
    if value is None:
        if required:
            raise ConfigurationError(f"the [{name}] table is missing", source=source, field=name)
        return None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{name} must be a table", source=source, field=name)
    return value


def _get(table: Mapping[str, Any], key: str, kind: Any, where: str, source: str, *, default: Any = _MISSING) -> Any:
    if key not in table:
        if default is _MISSING:
            raise ConfigurationError(f"{where}.{key} is required", source=source, field=f"{where}.{key}")
        return default
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__
        raise ConfigurationError(f"{where}.{key} must be {names}", source=source, field=f"{where}.{key}")
    return value


def _positive(
    table: Mapping[str, Any], key: str, where: str, source: str, *, default: Any, kind: Any = (int, float)
) -> Any:
    value = _get(table, key, kind, where, source, default=default)
    if value is not None and value <= 0:
        raise ConfigurationError(f"{where}.{key} must be above 0", source=source, field=f"{where}.{key}")
    return value


def load_gateway_config(path: Path | str) -> GatewayConfig:
    """Read a gateway configuration file (the thin file-reading shell of :meth:`GatewayConfig.from_toml_text`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the gateway configuration: {exc}", source=str(path)) from exc
    return GatewayConfig.from_toml_text(text, base=path.resolve().parent, source=str(path))
