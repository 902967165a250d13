"""Gateway configuration: parsed strictly, with the errors an operator can act on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from picexchange.codec import DEFAULT_LIMITS
from picexchange.errors import ConfigurationError
from picexchange.gateway import Credentials, GatewayConfig, build, load_credentials
from picexchange.testpki import make_test_pki
from picexchange.trust import TrustStore

BASE = """
[gateway]
partners = "keys/partners.toml"
store = "sqlite:gw.db"

[partner]
listen = "0.0.0.0:8443"

[backoffice]
tokens = "tokens.toml"
"""


def test_a_full_configuration_is_read_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    config = GatewayConfig.from_toml_text(
        BASE.replace("[partner]\n", "[partner]\nmax_body_bytes = 1024\nverify_concurrency = 3\n")
        + "listen = '127.0.0.1:9090'\n[outbox]\nlease_seconds = 90\nread_timeout_seconds = 20\n",
        base=tmp_path,
    )
    assert (config.partner.host, config.partner.port, config.partner.max_body_bytes) == ("0.0.0.0", 8443, 1024)
    assert config.partner.verify_concurrency == 3
    assert (config.backoffice.host, config.backoffice.port) == ("127.0.0.1", 9090)
    assert config.backoffice.tokens == tmp_path / "tokens.toml"
    assert config.partners == tmp_path / "keys" / "partners.toml"
    assert config.store == f"sqlite:///{(tmp_path / 'gw.db').resolve().as_posix().lstrip('/')}"
    assert (config.outbox.lease_seconds, config.outbox.read_timeout_seconds) == (90.0, 20.0)


def test_the_back_office_listens_on_loopback_by_default() -> None:
    config = GatewayConfig.from_toml_text(BASE, base=Path("/srv/gw"))
    assert (config.backoffice.host, config.backoffice.port) == ("127.0.0.1", 8081)
    assert config.backoffice.loopback


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ("sqlite:gw.db", "sqlite:///srv/gw/gw.db"),
        ("sqlite:data/gw.db", "sqlite:///srv/gw/data/gw.db"),
        ("sqlite:/var/lib/picexchange/gw.db", "sqlite:///var/lib/picexchange/gw.db"),
        ("sqlite::memory:", "sqlite://:memory:"),
        ("postgresql://gw@db.internal/gw", "postgresql://gw@db.internal/gw"),
    ],
)
def test_sqlite_paths_are_relative_to_the_file_unless_written_absolute(store: str, expected: str) -> None:
    config = GatewayConfig.from_toml_text(BASE.replace("sqlite:gw.db", store), base=Path("/srv/gw"))
    assert config.store == expected


@pytest.mark.parametrize("store", ["sqlite:///rel.db", "sqlite://rel.db", "sqlite:////abs.db", "sqlite:"])
def test_ambiguous_sqlite_urls_are_refused_with_the_two_right_spellings(store: str) -> None:
    with pytest.raises(ConfigurationError, match=r"sqlite:|needs a path") as caught:
        GatewayConfig.from_toml_text(BASE.replace("sqlite:gw.db", store), base=Path("/srv/gw"))
    assert caught.value.field == "gateway.store"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[gateway]\nstore = 'sqlite:x.db'\n[backoffice]\ntokens = 't'\n", "gateway.partners: is required"),
        (BASE.replace("[gateway]\n", "[gateway]\ncolour = 'blue'\n"), "gateway.colour: unknown field"),
        (BASE.replace("0.0.0.0:8443", "8443"), "listen must be HOST:PORT"),
        (
            BASE.replace("[partner]\n", "[partner]\nmax_body_bytes = 'big'\n"),
            "partner.max_body_bytes: must be a whole number, not the string 'big'",
        ),
        (
            BASE.replace("[partner]\n", "[partner]\nheader_timeout_seconds = 0\n"),
            "partner.header_timeout_seconds: must be greater than 0",
        ),
        (
            BASE + "[partner.tls]\ncertificate = 'c.pem'\nkey = 'k.pem'\nrequire_client_certificate = true\n",
            "client_ca",
        ),
        (BASE + "[client_tls]\ncertificate = 'c.pem'\n", "both certificate and key"),
        ("[gateway\n", "not valid TOML"),
        (BASE.replace('tokens = "tokens.toml"', ""), "the back office needs credentials"),
        (BASE + "tokens_env = 'X'\n", "not both"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        GatewayConfig.from_toml_text(text, base=tmp_path)


@pytest.mark.parametrize(
    ("old", "replacement"),
    [
        ("[gateway]\nlisten = '0.0.0.0:8080'\n", r"\[partner\] listen .* \[backoffice\] listen"),
        ("[gateway]\nbackoffice_token = 'change-me'\n", r"\[backoffice\] tokens"),
        ("[gateway]\nmax_body_bytes = 1\n", r"\[partner\] max_body_bytes"),
        ("[tls]\ncertificate = 'c.pem'\n", r"\[partner.tls\]"),
    ],
)
def test_settings_of_the_single_listener_are_refused_naming_what_replaced_them(old: str, replacement: str) -> None:
    text = BASE.replace("[gateway]\n", old if old.startswith("[gateway]") else "[gateway]\n") + (
        "" if old.startswith("[gateway]") else old
    )
    with pytest.raises(ConfigurationError, match="no longer a setting; it was replaced by " + replacement):
        GatewayConfig.from_toml_text(text, base=Path("/srv/gw"))


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "gateway.example"])  # noqa: S104
def test_a_back_office_beyond_loopback_needs_tls(host: str) -> None:
    text = BASE + f"listen = '{host}:8081'\n"
    with pytest.raises(ConfigurationError, match="beyond loopback, without TLS") as caught:
        GatewayConfig.from_toml_text(text, base=Path("/srv/gw"))
    assert caught.value.field == "backoffice.listen"
    with_tls = text + "[backoffice.tls]\ncertificate = 'bo.pem'\nkey = 'bo.key'\n"
    assert GatewayConfig.from_toml_text(with_tls, base=Path("/srv/gw")).backoffice.tls is not None


def test_a_missing_tokens_file_names_the_file_and_the_setting(tmp_path: Path) -> None:
    config = GatewayConfig.from_toml_text(BASE, base=tmp_path, source="gateway.toml")
    with pytest.raises(ConfigurationError, match="tokens.toml") as caught:
        load_credentials(path=config.backoffice.tokens, env_name=None, environ={}, source=config.source)
    assert caught.value.field == "backoffice.tokens" and caught.value.source == "gateway.toml"


def test_tokens_come_from_the_environment_variable_the_configuration_names(tmp_path: Path) -> None:
    grant = '[[token]]\nclient = "erp"\nas = ["MY:DOE"]\nsha256 = "' + "ab" * 32 + '"\n'
    found = load_credentials(path=None, env_name="PX_TOKENS", environ={"PX_TOKENS": grant})
    assert [g.client for g in found.tokens] == ["erp"]
    with pytest.raises(ConfigurationError, match="PX_TOKENS .* is not set"):
        load_credentials(path=None, env_name="PX_TOKENS", environ={})


@pytest.mark.parametrize(
    ("grant", "words"),
    [
        ('[[token]]\nclient = "erp"\nas = ["MY:DOE"]\nsha256 = "change-me"\n', "64 lower-case hex digits"),
        ('[[token]]\nclient = "erp"\nas = []\nsha256 = "' + "ab" * 32 + '"\n', "as must list"),
        ('[[token]]\nas = ["MY:DOE"]\nsha256 = "' + "ab" * 32 + '"\n', "client must be"),
        ('[[token]]\nclient = "erp"\nas = ["MY:DOE"]\ntoken = "pxb_x"\nsha256 = "' + "ab" * 32 + '"\n', "unknown"),
    ],
)
def test_a_credentials_file_with_a_clear_text_or_unbound_token_is_refused(grant: str, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        Credentials.from_toml_text(grant, source="tokens.toml")


def test_a_lease_shorter_than_one_delivery_attempt_is_refused(tmp_path: Path) -> None:
    """Otherwise a second worker would take a message over while the first is still sending it."""
    now = dt.datetime.now(dt.UTC)
    pki = make_test_pki(["AU:DCCEEW"], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=1))
    config = GatewayConfig.from_toml_text(BASE + "[outbox]\nlease_seconds = 20\n", base=tmp_path)
    with pytest.raises(ConfigurationError, match="must exceed one delivery attempt"):
        build(
            config,
            trust=TrustStore.of([p.partner for p in pki.participants], me=pki["AU:DCCEEW"].identity),
            credentials=Credentials(),
        )


def test_outbox_shares_are_read(tmp_path: Path) -> None:
    config = GatewayConfig.from_toml_text(BASE + "[outbox]\nconcurrency = 6\nper_partner = 2\n", base=tmp_path)
    assert (config.outbox.concurrency, config.outbox.per_partner) == (6, 2)


def test_the_parsing_limits_are_tightened_in_the_partner_table() -> None:
    """A national IT team tightens codec.Limits with [partner] keys; max_body_bytes also bounds the parse."""
    config = GatewayConfig.from_toml_text(
        BASE.replace("[partner]\n", "[partner]\nmax_elements = 1000\nmax_attributes = 500\nmax_body_bytes = 4096\n"),
        base=Path("/srv/gw"),
    )
    limits = config.partner.accept_limits
    assert (limits.max_elements, limits.max_attributes, limits.max_bytes) == (1000, 500, 4096)
    assert limits.max_depth == DEFAULT_LIMITS.max_depth
    assert GatewayConfig.from_toml_text(BASE, base=Path("/srv/gw")).partner.limits == DEFAULT_LIMITS


@pytest.mark.parametrize("value", ["0", "-1", "'many'", "1.5"])
def test_a_parsing_limit_must_be_a_positive_whole_number(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        GatewayConfig.from_toml_text(BASE.replace("[partner]\n", f"[partner]\nmax_depth = {value}\n"), base=Path("/"))
    assert caught.value.field == "partner.max_depth"


def test_a_parsing_limit_is_not_a_back_office_setting() -> None:
    with pytest.raises(ConfigurationError) as caught:
        GatewayConfig.from_toml_text(BASE + "max_elements = 10\n", base=Path("/"))
    assert caught.value.field == "backoffice.max_elements"


def test_every_mistake_is_named_at_once_with_its_key_path() -> None:
    """One run of the gateway tells the operator about every wrong key, each with its path in the file."""
    text = BASE.replace("[partner]\n", "[partner]\nverify_queue = -1\nmax_attributes = 0\ncolour = 1\n")
    with pytest.raises(ConfigurationError) as caught:
        GatewayConfig.from_toml_text(text + "[outbox]\nbatch = 'all'\n", base=Path("/"), source="gw.toml")
    assert caught.value.source == "gw.toml"
    assert caught.value.field == "partner.verify_queue"
    assert "(and 3 more: " in caught.value.text
    for path in ("partner.max_attributes: ", "partner.colour: unknown field", "outbox.batch: must be a whole number"):
        assert path in caught.value.text


def test_a_missing_back_office_table_asks_for_credentials() -> None:
    with pytest.raises(ConfigurationError, match="the back office needs credentials") as caught:
        GatewayConfig.from_toml_text(BASE.split("[backoffice]")[0], base=Path("/"))
    assert caught.value.field == "backoffice"
