"""The reference gateway: partner listener, back-office listener, outbox worker, configuration and server."""

from picexchange.errors import MissingExtraError

try:  # FastAPI and uvicorn come with the [gateway] extra, not with `pip install picexchange`: say which to install
    import fastapi  # noqa: F401
    import jinja2  # noqa: F401  -- the operator console's pages
    import uvicorn  # noqa: F401
except ModuleNotFoundError as exc:
    raise MissingExtraError(extra="gateway", module=exc.name or "fastapi") from exc

from picexchange.gateway.app import Gateway, Submission, Submitted, VerificationPool
from picexchange.gateway.auth import BackofficeClient, Credentials, Grant, load_credentials, new_token, token_sha256
from picexchange.gateway.backoffice import create_backoffice_app
from picexchange.gateway.config import (
    BackofficeConfig,
    CasesConfig,
    GatewayConfig,
    Listener,
    OutboxConfig,
    PartnerConfig,
    ServerTls,
    load_gateway_config,
)
from picexchange.gateway.outbox import OutboxWorker
from picexchange.gateway.partner import create_partner_app
from picexchange.gateway.server import GatewayServer, Running, build, serve

__all__ = [
    "BackofficeClient",
    "BackofficeConfig",
    "CasesConfig",
    "Credentials",
    "Gateway",
    "GatewayConfig",
    "GatewayServer",
    "Grant",
    "Listener",
    "OutboxConfig",
    "OutboxWorker",
    "PartnerConfig",
    "Running",
    "ServerTls",
    "Submission",
    "Submitted",
    "VerificationPool",
    "build",
    "create_backoffice_app",
    "create_partner_app",
    "load_credentials",
    "load_gateway_config",
    "new_token",
    "serve",
    "token_sha256",
]
