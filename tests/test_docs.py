"""The operations guide says what the code does: states, API paths and configuration keys."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from fastapi.routing import APIRoute

from picexchange.gateway import Credentials, Gateway, create_backoffice_app, create_partner_app
from picexchange.gateway.config import GatewayConfig
from picexchange.store import INBOUND_LIFECYCLE, OUTBOUND_LIFECYCLE, open_store
from picexchange.testpki import make_test_pki

GUIDE = (Path(__file__).resolve().parent.parent / "docs" / "gateway.md").read_text()


def _rows(title: str) -> set[tuple[str, str, str]]:
    section = GUIDE.split(title, 1)[1].split("\n\n|", 1)[1].split("\n\n", 1)[0]
    rows = set()
    for line in ("|" + section).splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.add((cells[0], cells[1], cells[2].removesuffix(" (final)")))
    return rows


def test_the_state_tables_are_the_lifecycle_tables() -> None:
    outbound = {(s.value, e.value, n.value) for (s, e), n in OUTBOUND_LIFECYCLE.items()}
    inbound = {(s.value, e.value, n.value) for (s, e), n in INBOUND_LIFECYCLE.items()}
    assert _rows("Outbound (the outbox):") == outbound
    assert _rows("Inbound (the inbox):") == inbound


def test_every_route_is_documented() -> None:
    now = dt.datetime.now(dt.UTC)
    pki = make_test_pki(["AU:DCCEEW"], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=1))
    with open_store("sqlite://:memory:") as store:
        gateway = Gateway(me=pki["AU:DCCEEW"].identity, trust=pki.trust(), store=store)
        apps = (create_partner_app(gateway).app, create_backoffice_app(gateway, Credentials()).app)
        served = {
            (method, route.path)
            for app in apps
            for route in app.routes
            if isinstance(route, APIRoute)
            for method in route.methods
        }
        gateway.pool.close()
    documented = set(re.findall(r"`(GET|POST) (/[^` ?]+)", GUIDE))
    assert served == documented


def test_every_configuration_key_is_documented() -> None:
    source = Path(GatewayConfig.from_toml_text.__code__.co_filename).read_text()
    keys = set()
    for allowed in re.findall(r"(?:_only\(\s*\w+,\s*|_KEYS = |_KEYS \| )\{([^}]*)\}", source):
        keys |= set(re.findall(r'"(\w+)"', allowed))
    keys -= {"gateway", "partner", "backoffice", "tls", "client_tls", "outbox"}
    assert {"listen", "tokens", "header_timeout_seconds", "verify_concurrency", "lease_seconds"} <= keys
    missing = {key for key in keys if not re.search(rf"^{key} = ", GUIDE, re.MULTILINE)}
    assert missing == set()
