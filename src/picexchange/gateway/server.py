"""Wire a gateway from its configuration and run it under uvicorn (the I/O shell around the app)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from picexchange.client import Client, ClientConfig
from picexchange.errors import ConfigurationError
from picexchange.exchange import AcceptPolicy
from picexchange.files.registry import load_trust
from picexchange.gateway.app import Gateway, create_app
from picexchange.gateway.config import GatewayConfig
from picexchange.gateway.outbox import OutboxWorker
from picexchange.store import Store, open_store
from picexchange.trust import TrustStore

__all__ = ["Running", "build", "serve"]

log = logging.getLogger("picexchange.gateway")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Running:
    """A wired gateway: the app to serve and the parts behind it.

    Attributes:
        config: the configuration it was built from.
        gateway: identity, registry, store and limits.
        app: the FastAPI app; its lifespan starts and stops the outbox worker.
        worker: the outbox worker.
        store: the (migrated) store.
        client: the HTTP client the worker delivers with.

    """

    config: GatewayConfig
    gateway: Gateway
    app: FastAPI
    worker: OutboxWorker
    store: Store
    client: Client


def build(
    config: GatewayConfig,
    *,
    trust: TrustStore | None = None,
    clock: Callable[[], dt.datetime] = _utcnow,
    client_config: ClientConfig | None = None,
) -> Running:
    """Load the partner registry and identity, open and migrate the store, and wire app and worker.

    Raises:
        ConfigurationError: the registry has no ``[me]`` identity, or a file or setting is wrong.
        StoreError: the store cannot be opened or migrated.

    """
    registry = trust or load_trust(config.partners)
    if registry.me is None:
        raise ConfigurationError(
            "the partner registry has no [me] table: who does this gateway sign as?", source=str(config.partners)
        )
    client_settings = client_config or ClientConfig(
        tls=config.client_tls,
        connect_timeout=config.outbox.connect_timeout_seconds,
        read_timeout=config.outbox.read_timeout_seconds,
    )
    attempt = client_settings.connect_timeout + client_settings.read_timeout
    if config.outbox.lease_seconds <= attempt:
        # A claim must outlive one delivery attempt, or another worker sends the message again meanwhile.
        raise ConfigurationError(
            f"outbox lease_seconds ({config.outbox.lease_seconds:g}) must exceed one delivery attempt "
            f"(connect {client_settings.connect_timeout:g} s + read {client_settings.read_timeout:g} s); "
            "raise the lease or lower the timeouts",
            field="outbox.lease_seconds",
        )
    store = open_store(config.store)
    store.migrate()
    client = Client(me=registry.me, trust=registry, config=client_settings, clock=clock)
    worker = OutboxWorker(store=store, client=client, config=config.outbox, clock=clock)
    gateway = Gateway(
        me=registry.me,
        trust=registry,
        store=store,
        policy=AcceptPolicy(max_clock_skew=dt.timedelta(seconds=config.max_clock_skew_seconds)),
        max_body_bytes=config.max_body_bytes,
        body_timeout=config.body_timeout_seconds,
        backoffice_token=config.backoffice_token,
        clock=clock,
        wake=worker.wake,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker.start()
        log.info("gateway started", extra={"participant": registry.me.participant if registry.me else None})
        try:
            yield
        finally:
            worker.stop()
            client.close()
            store.close()

    app = create_app(gateway, title=f"picexchange gateway {registry.me.participant}", lifespan=lifespan)
    return Running(config=config, gateway=gateway, app=app, worker=worker, store=store, client=client)


def uvicorn_config(running: Running, **overrides: object) -> uvicorn.Config:
    """Return the uvicorn configuration for ``running`` (TLS and mTLS from its GatewayConfig)."""
    config = running.config
    options: dict[str, object] = {
        "host": config.host,
        "port": config.port,
        "log_config": None,
        "access_log": False,
        "lifespan": "on",
    }
    if config.tls is not None:
        options["ssl_certfile"] = str(config.tls.certificate)
        options["ssl_keyfile"] = str(config.tls.key)
        if config.tls.client_ca is not None:
            options["ssl_ca_certs"] = str(config.tls.client_ca)
            options["ssl_cert_reqs"] = ssl.CERT_REQUIRED if config.tls.require_client_certificate else ssl.CERT_OPTIONAL
    options.update(overrides)
    return uvicorn.Config(running.app, **options)  # type: ignore[arg-type]


def serve(config: GatewayConfig) -> None:
    """Build the gateway and serve it until interrupted."""
    running = build(config)
    uvicorn.Server(uvicorn_config(running)).run()
