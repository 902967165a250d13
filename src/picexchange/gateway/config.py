"""Gateway configuration: a frozen value object, parsed from TOML by a pure function.

A gateway configuration file::

    [gateway]
    partners = "partners.toml"          # the partner registry; its [me] table is our signing identity
    store = "sqlite:///var/lib/picexchange/gateway.db"   # or postgresql://...
    listen = "127.0.0.1:8080"
    max_body_bytes = 8388608            # refused with 413 while reading, before parsing
    body_timeout_seconds = 30           # the whole body must arrive within this
    max_clock_skew_seconds = 300
    backoffice_token = "..."            # optional: the back-office API then needs "Authorization: Bearer ..."

    [tls]                               # optional: HTTPS, and mutual TLS when client_ca is given
    certificate = "server.cert.pem"
    key = "server.key.pem"
    client_ca = "partners-ca.pem"
    require_client_certificate = true

    [client_tls]                        # optional: how the outbox connects to partner gateways
    ca_bundle = "partner-servers-ca.pem"   # CA for partner server certificates (default: system store)
    certificate = "client.cert.pem"     # our TLS client certificate, for partners that require mTLS
    key = "client.key.pem"

    [outbox]
    poll_seconds = 0.5
    lease_seconds = 60
    batch = 16
    concurrency = 8                     # deliveries in flight
    per_partner = 4                     # most of them to one partner: a hanging partner never blocks the others
    max_attempts = 12
    connect_timeout_seconds = 5         # per delivery attempt; lease_seconds must exceed connect + read
    read_timeout_seconds = 30

Paths are relative to the configuration file.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picexchange.client import RetryPolicy, TlsConfig
from picexchange.errors import ConfigurationError

__all__ = ["GatewayConfig", "OutboxConfig", "ServerTls", "load_gateway_config"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerTls:
    """HTTPS for the partner endpoint.

    Attributes:
        certificate: the server certificate (PEM).
        key: its private key (PEM).
        client_ca: CA certificates that partner client certificates must chain to (mutual TLS).
        require_client_certificate: refuse a TLS handshake without a client certificate.

    """

    certificate: Path
    key: Path
    client_ca: Path | None = None
    require_client_certificate: bool = False


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
        store: store URL (``sqlite:///...`` or ``postgresql://...``).
        host: address to listen on.
        port: port to listen on.
        max_body_bytes: largest message accepted; enforced while the body is read.
        body_timeout_seconds: deadline for receiving the whole body.
        max_clock_skew_seconds: how far in the future a message's Created may lie.
        backoffice_token: bearer token required by the back-office API, or None for none (bind to loopback).
        tls: HTTPS settings, or None for plain HTTP (behind a TLS-terminating proxy, or on loopback).
        client_tls: TLS towards partner gateways (CA bundle, client certificate for mTLS), or None.
        outbox: delivery settings.

    """

    partners: Path
    store: str
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 8 * 1024 * 1024
    body_timeout_seconds: float = 30.0
    max_clock_skew_seconds: float = 300.0
    backoffice_token: str | None = field(default=None, repr=False)
    tls: ServerTls | None = None
    client_tls: TlsConfig | None = None
    outbox: OutboxConfig = field(default_factory=OutboxConfig)

    @classmethod
    def from_toml_text(cls, text: str, *, base: Path, source: str = "<gateway config>") -> GatewayConfig:
        """Parse a gateway configuration; relative paths are taken relative to ``base``.

        Raises:
            ConfigurationError: not TOML, an unknown or missing key, or a value of the wrong kind.

        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"not valid TOML: {exc}", source=source) from exc
        _only(data, {"gateway", "tls", "client_tls", "outbox"}, "", source)
        gateway = _table(data, "gateway", source, required=True) or {}
        _only(
            gateway,
            {
                "partners",
                "store",
                "listen",
                "max_body_bytes",
                "body_timeout_seconds",
                "max_clock_skew_seconds",
                "backoffice_token",
            },
            "gateway",
            source,
        )
        listen = _get(gateway, "listen", str, "gateway", source, default="127.0.0.1:8080")
        host, _, port_text = listen.rpartition(":")
        if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigurationError(f"listen must be HOST:PORT, not {listen!r}", source=source, field="gateway.listen")
        tls_table = _table(data, "tls", source, required=False)
        tls = None
        if tls_table is not None:
            _only(tls_table, {"certificate", "key", "client_ca", "require_client_certificate"}, "tls", source)
            client_ca = _get(tls_table, "client_ca", str, "tls", source, default=None)
            tls = ServerTls(
                certificate=base / _get(tls_table, "certificate", str, "tls", source),
                key=base / _get(tls_table, "key", str, "tls", source),
                client_ca=base / client_ca if client_ca else None,
                require_client_certificate=_get(
                    tls_table, "require_client_certificate", bool, "tls", source, default=False
                ),
            )
            if tls.require_client_certificate and tls.client_ca is None:
                raise ConfigurationError("require_client_certificate needs client_ca", source=source, field="tls")
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
        outbox_table = _table(data, "outbox", source, required=False) or {}
        _only(
            outbox_table,
            {
                "poll_seconds",
                "lease_seconds",
                "batch",
                "concurrency",
                "per_partner",
                "max_attempts",
                "connect_timeout_seconds",
                "read_timeout_seconds",
            },
            "outbox",
            source,
        )
        defaults = OutboxConfig()
        outbox = OutboxConfig(
            poll_seconds=float(
                _get(outbox_table, "poll_seconds", (int, float), "outbox", source, default=defaults.poll_seconds)
            ),
            lease_seconds=float(
                _get(outbox_table, "lease_seconds", (int, float), "outbox", source, default=defaults.lease_seconds)
            ),
            batch=_get(outbox_table, "batch", int, "outbox", source, default=defaults.batch),
            concurrency=_get(outbox_table, "concurrency", int, "outbox", source, default=defaults.concurrency),
            per_partner=_get(outbox_table, "per_partner", int, "outbox", source, default=defaults.per_partner),
            max_attempts=_get(outbox_table, "max_attempts", int, "outbox", source, default=defaults.max_attempts),
            connect_timeout_seconds=float(
                _get(
                    outbox_table,
                    "connect_timeout_seconds",
                    (int, float),
                    "outbox",
                    source,
                    default=defaults.connect_timeout_seconds,
                )
            ),
            read_timeout_seconds=float(
                _get(
                    outbox_table,
                    "read_timeout_seconds",
                    (int, float),
                    "outbox",
                    source,
                    default=defaults.read_timeout_seconds,
                )
            ),
        )
        store = _get(gateway, "store", str, "gateway", source)
        if store.startswith("sqlite://") and not store.startswith("sqlite:///") and ":memory:" not in store:
            store = "sqlite:///" + str(base / store.removeprefix("sqlite://"))
        return cls(
            partners=base / _get(gateway, "partners", str, "gateway", source),
            store=store,
            host=host.strip("[]"),
            port=int(port_text),
            max_body_bytes=_get(gateway, "max_body_bytes", int, "gateway", source, default=8 * 1024 * 1024),
            body_timeout_seconds=float(
                _get(gateway, "body_timeout_seconds", (int, float), "gateway", source, default=30.0)
            ),
            max_clock_skew_seconds=float(
                _get(gateway, "max_clock_skew_seconds", (int, float), "gateway", source, default=300.0)
            ),
            backoffice_token=_get(gateway, "backoffice_token", str, "gateway", source, default=None),
            tls=tls,
            client_tls=client_tls,
            outbox=outbox,
        )


_MISSING: Any = object()


def _only(table: Mapping[str, Any], allowed: set[str], where: str, source: str) -> None:
    for key in table:
        if key not in allowed:
            name = f"{where}.{key}" if where else key
            raise ConfigurationError(
                f"unknown setting {name!r}; known: {', '.join(sorted(allowed))}", source=source, field=name
            )


def _table(data: Mapping[str, Any], key: str, source: str, *, required: bool) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ConfigurationError(f"the [{key}] table is missing", source=source, field=key)
        return None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{key} must be a table", source=source, field=key)
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


def load_gateway_config(path: Path | str) -> GatewayConfig:
    """Read a gateway configuration file (the thin file-reading shell of :meth:`GatewayConfig.from_toml_text`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the gateway configuration: {exc}", source=str(path)) from exc
    return GatewayConfig.from_toml_text(text, base=path.resolve().parent, source=str(path))
