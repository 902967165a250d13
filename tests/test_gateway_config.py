"""Gateway configuration: parsed strictly, with the errors an operator can act on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from picexchange.errors import ConfigurationError
from picexchange.gateway import GatewayConfig, build
from picexchange.testpki import make_test_pki
from picexchange.trust import TrustStore

BASE = """
[gateway]
partners = "keys/partners.toml"
store = "sqlite://gw.db"
listen = "0.0.0.0:8443"
"""


def test_a_full_configuration_is_read_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    config = GatewayConfig.from_toml_text(
        BASE + "max_body_bytes = 1024\n[outbox]\nlease_seconds = 90\nread_timeout_seconds = 20\n", base=tmp_path
    )
    assert (config.host, config.port, config.max_body_bytes) == ("0.0.0.0", 8443, 1024)
    assert config.partners == tmp_path / "keys" / "partners.toml"
    assert config.store == f"sqlite:///{tmp_path / 'gw.db'}"
    assert (config.outbox.lease_seconds, config.outbox.read_timeout_seconds) == (90.0, 20.0)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[gateway]\nstore = 'sqlite://x.db'\n", "gateway.partners is required"),
        (BASE + "colour = 'blue'\n", "unknown setting 'gateway.colour'"),
        (BASE.replace("0.0.0.0:8443", "8443"), "listen must be HOST:PORT"),
        (BASE + "max_body_bytes = 'big'\n", "gateway.max_body_bytes must be int"),
        (BASE + "[tls]\ncertificate = 'c.pem'\nkey = 'k.pem'\nrequire_client_certificate = true\n", "client_ca"),
        (BASE + "[client_tls]\ncertificate = 'c.pem'\n", "both certificate and key"),
        ("[gateway\n", "not valid TOML"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        GatewayConfig.from_toml_text(text, base=tmp_path)


def test_a_lease_shorter_than_one_delivery_attempt_is_refused(tmp_path: Path) -> None:
    """Otherwise a second worker would take a message over while the first is still sending it."""
    now = dt.datetime.now(dt.UTC)
    pki = make_test_pki(["AU:DCCEEW"], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=1))
    config = GatewayConfig.from_toml_text(BASE + "[outbox]\nlease_seconds = 20\n", base=tmp_path)
    with pytest.raises(ConfigurationError, match="must exceed one delivery attempt"):
        build(config, trust=TrustStore.of([p.partner for p in pki.participants], me=pki["AU:DCCEEW"].identity))


def test_outbox_shares_are_read(tmp_path: Path) -> None:
    config = GatewayConfig.from_toml_text(BASE + "[outbox]\nconcurrency = 6\nper_partner = 2\n", base=tmp_path)
    assert (config.outbox.concurrency, config.outbox.per_partner) == (6, 2)
