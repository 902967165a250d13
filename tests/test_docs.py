"""The operations guide says what the code does: states, API paths and configuration keys."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import get_args

from pydantic import BaseModel
from starlette.routing import Route

from picexchange.gateway import Credentials, Gateway, create_backoffice_app, create_partner_app
from picexchange.gateway.config import GatewayFile
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
            if isinstance(route, Route)
            for method in route.methods or ()
            if method != "HEAD"  # Starlette answers HEAD wherever it answers GET; the guide names GET
        }
        gateway.pool.close()
    documented = set(re.findall(r"`(GET|POST) (/[^` ?]+)", GUIDE))
    assert served == documented


def _keys(model: type[BaseModel]) -> set[str]:
    """Return every key a configuration file may write, walking the models' fields into their tables."""
    keys = set()
    for name, info in model.model_fields.items():
        tables = [arg for arg in (info.annotation, *get_args(info.annotation)) if _is_table(arg)]
        if tables:
            keys |= _keys(tables[0])  # a table ([partner.tls]): its keys, not its name
        else:
            keys.add(name)
    return keys


def _is_table(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def test_every_configuration_key_is_documented() -> None:
    keys = _keys(GatewayFile)
    # If the walk ever finds nothing (the models moved, the annotations changed), this test must not pass empty.
    assert {"listen", "tokens", "header_timeout_seconds", "verify_concurrency", "lease_seconds", "max_depth"} <= keys
    missing = {key for key in keys if not re.search(rf"^{key} = ", GUIDE, re.MULTILINE)}
    assert missing == set()
