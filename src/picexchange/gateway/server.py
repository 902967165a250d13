"""Wire a gateway from its configuration and serve its two listeners in one process (the I/O shell).

One event loop runs two ``uvicorn.Server`` instances — the partner listener and the back-office listener —
sharing the store, the outbox worker, the verification pool and the metrics. The sockets are bound before
anything starts, so a busy port is reported once, as a :class:`ConfigurationError` naming the setting, and
"gateway started" is logged only when both listeners accept connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
import socket
import ssl
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass

import prometheus_client
import uvicorn
from starlette.types import ASGIApp

from picexchange.cases import CasePolicy
from picexchange.client import Client, ClientConfig
from picexchange.errors import ConfigurationError
from picexchange.exchange import AcceptPolicy
from picexchange.files.registry import load_registry
from picexchange.gateway.app import Gateway, VerificationPool
from picexchange.gateway.auth import Credentials, load_credentials
from picexchange.gateway.backoffice import create_backoffice_app
from picexchange.gateway.config import GatewayConfig, Listener, ServerTls
from picexchange.gateway.outbox import OutboxWorker
from picexchange.gateway.partner import create_partner_app
from picexchange.gateway.problems import Guarded
from picexchange.gateway.transport import protocol_with_header_timeout
from picexchange.store import Store, open_store
from picexchange.trust import TrustStore

__all__ = ["GatewayServer", "Running", "build", "serve"]

log = logging.getLogger("picexchange.gateway")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Running:
    """A wired gateway: the two apps to serve and the parts behind them.

    Attributes:
        config: the configuration it was built from.
        gateway: identity, registry, store, limits, verification pool and metrics.
        partner_app: the partner listener's app.
        backoffice_app: the back-office listener's app.
        worker: the outbox worker.
        store: the (migrated) store.
        client: the HTTP client the worker delivers with.

    """

    config: GatewayConfig
    gateway: Gateway
    partner_app: Guarded
    backoffice_app: Guarded
    worker: OutboxWorker
    store: Store
    client: Client


def build(
    config: GatewayConfig,
    *,
    trust: TrustStore | None = None,
    credentials: Credentials | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], dt.datetime] = _utcnow,
    client_config: ClientConfig | None = None,
    case_policy: CasePolicy | None = None,
) -> Running:
    """Load the registry, identity and back-office credentials, open and migrate the store, wire the apps.

    Args:
        config: the gateway configuration.
        trust: the partner registry, instead of reading ``config.partners``.
        credentials: the back-office credentials, instead of reading ``[backoffice] tokens``/``tokens_env``.
        environ: the environment, as the CLI read it, for ``[backoffice] tokens_env``.
        clock: the time source.
        client_config: the delivery client's settings, instead of those of the configuration.
        case_policy: the case policy, instead of the registry's (Basel's defaults when ``trust`` is given).

    Raises:
        ConfigurationError: the registry hosts no participant (no ``[[me]]``), a file (TLS certificate or key,
            tokens) is missing or unreadable — named with the setting that points to it — or a setting is wrong.
        StoreError: the store cannot be opened or migrated.

    """
    for where, listener in (("partner", config.partner), ("backoffice", config.backoffice)):
        if listener.tls is not None:
            _check_tls_files(listener.tls, where, config.source)
    if trust is None:
        loaded = load_registry(config.partners)
        registry, policy = loaded.trust, case_policy or loaded.case_policy
    else:
        registry, policy = trust, case_policy or CasePolicy()
    hosted = registry.hosted
    if hosted is None:
        raise ConfigurationError(
            "the partner registry has no [[me]] table: which participants does this Single Window host and sign as?",
            source=str(config.partners),
        )
    if credentials is None:
        credentials = load_credentials(
            path=config.backoffice.tokens,
            env_name=config.backoffice.tokens_env,
            environ=environ or {},
            source=config.source,
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
    client = Client(me=hosted, trust=registry, config=client_settings, clock=clock)
    # One registry for the gateway's and the worker's counters: /metrics shows both, and nothing is global.
    metrics = prometheus_client.CollectorRegistry()
    worker = OutboxWorker(store=store, client=client, config=config.outbox, clock=clock, registry=metrics)
    gateway = Gateway(
        me=hosted,
        trust=registry,
        store=store,
        policy=AcceptPolicy(
            max_clock_skew=dt.timedelta(seconds=config.max_clock_skew_seconds), limits=config.partner.accept_limits
        ),
        max_body_bytes=config.partner.max_body_bytes,
        body_timeout=config.partner.body_timeout_seconds,
        clock=clock,
        wake=worker.wake,
        pool=VerificationPool(workers=config.partner.verify_concurrency, queue=config.partner.verify_queue),
        registry=metrics,
        case_policy=policy,
        hold_automatically=config.cases.hold_automatically,
        customs_office=config.cases.customs_office,
        case_cache=config.cases.cache,
    )
    title = f"picexchange gateway {', '.join(item.participant for item in hosted)}"
    return Running(
        config=config,
        gateway=gateway,
        partner_app=create_partner_app(gateway, title=title),
        backoffice_app=create_backoffice_app(
            gateway,
            credentials,
            max_body_bytes=config.backoffice.max_body_bytes,
            body_timeout=config.backoffice.body_timeout_seconds,
            title=f"{title}: back office",
        ),
        worker=worker,
        store=store,
        client=client,
    )


def _check_tls_files(tls: ServerTls, where: str, source: str | None) -> None:
    """Name the missing or unreadable TLS file and its setting, instead of a traceback from the ssl module."""
    files = {"certificate": tls.certificate, "key": tls.key, "client_ca": tls.client_ca}
    for key, path in files.items():
        if path is None:
            continue
        try:
            path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read {path}: {exc.strerror or exc}", source=source, field=f"{where}.tls.{key}"
            ) from exc
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls.certificate), str(tls.key))
        if tls.client_ca is not None:
            context.load_verify_locations(str(tls.client_ca))
    except ssl.SSLError as exc:
        raise ConfigurationError(
            f"the TLS certificate, key or client CA is not usable: {exc.reason or exc}",
            source=source,
            field=f"{where}.tls",
        ) from exc


class _Listener(uvicorn.Server):
    """A uvicorn server that leaves signals to :class:`GatewayServer` (two servers share one process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _uvicorn_config(app: ASGIApp, listener: Listener, **overrides: object) -> uvicorn.Config:
    options: dict[str, object] = {
        "host": listener.host,
        "port": listener.port,
        "http": protocol_with_header_timeout(listener.header_timeout_seconds),
        "timeout_keep_alive": listener.keep_alive_seconds,
        "limit_concurrency": listener.max_connections,
        "log_config": None,
        "access_log": False,
        "lifespan": "off",
        "server_header": False,
        "proxy_headers": False,  # a forwarded address is never an identity here
    }
    if listener.tls is not None:
        options["ssl_certfile"] = str(listener.tls.certificate)
        options["ssl_keyfile"] = str(listener.tls.key)
        if listener.tls.client_ca is not None:
            options["ssl_ca_certs"] = str(listener.tls.client_ca)
            options["ssl_cert_reqs"] = (
                ssl.CERT_REQUIRED if listener.tls.require_client_certificate else ssl.CERT_OPTIONAL
            )
    options.update(overrides)
    return uvicorn.Config(app, **options)  # type: ignore[arg-type]


def _bind(listener: Listener, where: str, source: str | None) -> socket.socket:
    family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto says TCP, and
    # socket.create_server's proto 0 costs every answer ~40 ms of delayed-ACK wait (measured: 55 -> 9 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((listener.host, listener.port))
        sock.listen(2048)
        return sock
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on {listener.host}:{listener.port}: {exc.strerror or exc}",
            source=source,
            field=f"{where}.listen",
        ) from exc


class GatewayServer:
    """Both listeners of a built gateway, their sockets bound at construction.

    Raises:
        ConfigurationError: a listener's address cannot be bound (busy port, unknown address).

    """

    def __init__(self, running: Running, **uvicorn_options: object) -> None:
        self.running = running
        config = running.config
        self._sockets = [_bind(config.partner, "partner", config.source)]
        try:
            self._sockets.append(_bind(config.backoffice, "backoffice", config.source))
        except ConfigurationError:
            self._sockets[0].close()
            raise
        self._servers = [
            _Listener(_uvicorn_config(running.partner_app, config.partner, **uvicorn_options)),
            _Listener(_uvicorn_config(running.backoffice_app, config.backoffice, **uvicorn_options)),
        ]

    @property
    def partner_url(self) -> str:
        """Return the partner listener's base URL (with the port actually bound)."""
        return self._url(0, self.running.config.partner)

    @property
    def backoffice_url(self) -> str:
        """Return the back-office listener's base URL (with the port actually bound)."""
        return self._url(1, self.running.config.backoffice)

    def _url(self, index: int, listener: Listener) -> str:
        port = self._sockets[index].getsockname()[1]
        host = f"[{listener.host}]" if ":" in listener.host else listener.host
        return f"{'https' if listener.tls else 'http'}://{host}:{port}"

    @property
    def started(self) -> bool:
        """Return whether both listeners accept connections."""
        return all(server.started for server in self._servers)

    def stop(self) -> None:
        """Ask both listeners to finish their requests and stop (safe from a signal handler or thread)."""
        for server in self._servers:
            server.should_exit = True

    async def serve(self) -> None:
        """Start the outbox worker, serve both listeners until :meth:`stop`, then shut everything down."""
        running = self.running
        running.worker.start()
        try:
            tasks = [
                asyncio.create_task(server.serve(sockets=[sock]))
                for server, sock in zip(self._servers, self._sockets, strict=True)
            ]
            while not self.started and not any(task.done() for task in tasks):
                await asyncio.sleep(0.01)
            if self.started:
                log.info(
                    "gateway started",
                    extra={
                        "participant": running.gateway.me.participant,
                        "hosted": sorted(running.gateway.hosted),
                        "partner": self.partner_url,
                        "backoffice": self.backoffice_url,
                    },
                )
            else:
                self.stop()  # one listener failed to start: stop the other
            await asyncio.gather(*tasks)
        finally:
            running.worker.stop()
            running.gateway.pool.close()
            running.client.close()
            running.store.close()
            for sock in self._sockets:
                sock.close()


def serve(config: GatewayConfig, *, environ: Mapping[str, str] | None = None) -> None:
    """Build the gateway, bind both listeners and serve them until SIGINT or SIGTERM.

    Raises:
        ConfigurationError: a setting, file or listener address is wrong (nothing was started).
        StoreError: the store cannot be opened or migrated.

    """
    running = build(config, environ=environ)
    try:
        server = GatewayServer(running)
    except ConfigurationError:
        running.client.close()
        running.store.close()
        raise

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, server.stop)
        await server.serve()

    asyncio.run(main())
