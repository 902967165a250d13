"""The reference gateway: partner endpoint, back-office API, outbox worker, configuration and server."""

from picexchange.errors import MissingExtraError

try:  # FastAPI and uvicorn come with the [gateway] extra, not with `pip install picexchange`: say which to install
    import fastapi  # noqa: F401
    import uvicorn  # noqa: F401
except ModuleNotFoundError as exc:
    raise MissingExtraError(extra="gateway", module=exc.name or "fastapi") from exc

from picexchange.gateway.app import Gateway, Submission, create_app
from picexchange.gateway.config import GatewayConfig, OutboxConfig, ServerTls, load_gateway_config
from picexchange.gateway.outbox import OutboxWorker
from picexchange.gateway.server import Running, build, serve, uvicorn_config

__all__ = [
    "Gateway",
    "GatewayConfig",
    "OutboxConfig",
    "OutboxWorker",
    "Running",
    "ServerTls",
    "Submission",
    "build",
    "create_app",
    "load_gateway_config",
    "serve",
    "uvicorn_config",
]
