"""The whole hostile corpus through a real gateway over HTTP on loopback (issue 7's last bullet).

``samples/hostile/expected.json`` says what :func:`picexchange.exchange.accept` raises for each file when
``MY:DOE`` receives it; here each file is POSTed to a real gateway of ``MY:DOE`` (uvicorn on 127.0.0.1, a
SQLite store, configured from a TOML file as operators write it), and the answer must be that error as a
signed Error: the HTTP status, the code, the text, the path and line, signed by the gateway's certificate.
Nothing of a refused message is stored; each leaves one audit line. The floods that the parse tests build
(too large for the repository) go the same way, and ``/healthz`` must keep answering while the most
expensive of them are in flight. The hostile certificates cannot sign (no private key is kept), so where
they apply to a gateway is its start: registered for a partner, the gateway refuses to start.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from picexchange import signing
from picexchange.errors import ConfigurationError
from picexchange.gateway import build, load_gateway_config
from picexchange.models.envelope import Error
from picexchange.testing import GatewayNode, backoffice_credentials, serve_in_thread
from test_parsing import ACCEPTED_AT, flood_root, hostile_script

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "samples" / "hostile"
KEYS = ROOT / "samples" / "keys"
EXPECTED: Mapping[str, Mapping[str, Any]] = json.loads((HOSTILE / "expected.json").read_text())
RECEIVER = "MY:DOE"


GENERATED = (
    "attribute-flood (100 000 on one element)",
    "attributes-spread (6 251 elements of 32)",
    "deep-nesting (100 000 levels)",
    "namespace-flood (80 000, garbage signature)",
    "namespace-flood (80 000, genuine signature)",
)


@cache
def _generated() -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Return the floods the parse tests build, by name, with what the gateway must answer."""
    script = hostile_script()
    notification = "/Envelope/Body/Notification"
    per_element_attributes = {"path": f"{notification}/IntendedQuantity/Tonnes", "line": 47}
    # Added after signing, as test_parsing builds them (signing 100 000 attributes would itself take minutes):
    # the floods are refused before the signature is looked at, so whether it still verifies does not matter.
    signed: bytes = script.sign(script.base_tree())
    quantity = b"<cmn:Tonnes"
    padding = (b"<pic:Padding" + b"".join(b' a%d="1"' % i for i in range(32)) + b"/>") * 6_251
    return {
        "deep-nesting (100 000 levels)": (
            b"<a>" * 100_000 + b"</a>" * 100_000,
            {"text": "nested deeper than 32"},
        ),
        "namespace-flood (80 000, garbage signature)": (
            script.namespace_flood(80_000),
            {"text": "element Envelope declares 80003 namespaces, more than the limit of 32 per element", "line": 2},
        ),
        "namespace-flood (80 000, genuine signature)": (
            flood_root(80_000),
            {"text": "element Envelope declares 80003 namespaces, more than the limit of 32 per element", "line": 2},
        ),
        "attribute-flood (100 000 on one element)": (
            signed.replace(quantity, quantity + b"".join(b' a%d="1"' % i for i in range(100_000)), 1),
            {"text": "element Tonnes has 100000 attributes, more than the limit of 32 per element"}
            | per_element_attributes,
        ),
        "attributes-spread (6 251 elements of 32)": (
            signed.replace(b"</pic:Notification>", padding + b"</pic:Notification>", 1),
            {"text": "document has 200038 attributes, more than the limit of 200000"},
        ),
    }


# ------------------------------------------------------------------------------------------------ the gateway


def _me(directory: Path) -> str:
    """Return the [me] table of MY:DOE, its TEST key copied beside it with the mode a key file must have."""
    key = directory / "MY_DOE.key.pem"
    key.write_bytes((KEYS / "MY_DOE.key.pem").read_bytes())
    key.chmod(0o600)
    return f'[me]\nid = "{RECEIVER}"\nkey = "{key}"\ncertificate = "{KEYS}/MY_DOE.cert.pem"\n\n'


def _write_site(directory: Path, limits: Mapping[str, int]) -> Path:
    """Write a gateway of MY:DOE (TEST keys of samples/keys) with ``limits`` in its [partner] table."""
    directory.mkdir(parents=True, exist_ok=True)
    registry = (KEYS / "partners.toml").read_text()
    registry = re.sub(r'^path = "', f'path = "{KEYS}/', registry, flags=re.MULTILINE)
    (directory / "partners.toml").write_text(_me(directory) + registry)
    tightened = "".join(f"{key} = {value}\n" for key, value in sorted(limits.items()))
    config = directory / "gateway.toml"
    config.write_text(
        '[gateway]\npartners = "partners.toml"\nstore = "sqlite:gateway.db"\n\n'
        f'[partner]\nlisten = "127.0.0.1:0"\n{tightened}\n'
        '[backoffice]\nlisten = "127.0.0.1:0"\ntokens_env = "PICEXCHANGE_TEST_TOKENS"\n'
    )
    return config


@contextlib.contextmanager
def _gateway(directory: Path, limits: Mapping[str, int]) -> Iterator[GatewayNode]:
    """Serve MY:DOE's gateway, configured from a TOML file, on loopback; its clock is the corpus's time."""
    config = load_gateway_config(_write_site(directory, limits))
    token, credentials = backoffice_credentials([RECEIVER])
    running = build(config, credentials=credentials, clock=lambda: ACCEPTED_AT)
    with (
        serve_in_thread(running) as server,
        httpx.Client(base_url=server.backoffice_url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http,
    ):
        yield GatewayNode(
            participant=RECEIVER,
            url=server.partner_url,
            backoffice_url=server.backoffice_url,
            running=running,
            http=http,
            token=token,
        )


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, GatewayNode]]:
    """One gateway per set of limits expected.json asks for, keyed by that set ("" for the defaults)."""
    limit_sets = {json.dumps(entry.get("limits", {}), sort_keys=True) for entry in EXPECTED.values()}
    with contextlib.ExitStack() as stack:
        yield {
            key: stack.enter_context(_gateway(tmp_path_factory.mktemp("hostile-gateway"), json.loads(key)))
            for key in sorted(limit_sets)
        }


@pytest.fixture(scope="module")
def partner() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=120) as http:
        yield http


def _post(http: httpx.Client, node: GatewayNode, raw: bytes) -> httpx.Response:
    return http.post(f"{node.url}/ub/v1/messages", content=raw, headers={"Content-Type": "application/xml"})


def _signed_error(response: httpx.Response) -> Error:
    """Verify ``response`` as the sender would: an Error signed by the gateway's own certificate."""
    assert response.headers["content-type"].startswith("application/xml")
    verified = signing.verify(response.content, trust=hostile_script().trust(), now=ACCEPTED_AT)
    assert verified.signer.id == RECEIVER
    error = verified.envelope.document
    assert isinstance(error, Error)
    return error


def _inbox(node: GatewayNode) -> list[Any]:
    response = node.http.get("/api/v1/inbox", params={"since": 0, "limit": 500})
    assert response.status_code == 200, response.text
    messages: list[Any] = response.json()["messages"]
    return messages


def _refused_as_expected(
    node: GatewayNode, http: httpx.Client, raw: bytes, expected: Mapping[str, Any], *, status: int, code: str
) -> None:
    """POST ``raw``; check the signed Error, and that only an audit line was written."""
    before = node.running.store.counts()
    response = _post(http, node, raw)
    assert response.status_code == status, response.text
    error = _signed_error(response)
    assert error.code.value == code
    assert expected["text"] in error.text
    issue = error.issue[0] if error.issue else None
    if "path" in expected:
        assert issue is not None and issue.path == expected["path"]
    if "line" in expected:
        assert issue is not None and issue.line == expected["line"]
    after = node.running.store.counts()
    assert after.rejected == before.rejected + 1
    assert (after.inbound, after.outbound) == (before.inbound, before.outbound)


# ------------------------------------------------------------------------------------------------ the corpus


def test_expected_json_covers_every_file_of_the_corpus() -> None:
    """A new hostile file without an expected.json entry would be skipped silently below."""
    files = {path.name for path in HOSTILE.iterdir() if path.is_file() and path.name not in {"README.md"}}
    assert files - {"expected.json"} == set(EXPECTED)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_hostile_file_is_refused_over_http_with_its_signed_error(
    name: str, gateways: dict[str, GatewayNode], partner: httpx.Client
) -> None:
    """The status, code, text, path and line of expected.json, as a signed Error; nothing stored, one audit line."""
    expected = EXPECTED[name]
    node = gateways[json.dumps(expected.get("limits", {}), sort_keys=True)]
    raw = (HOSTILE / name).read_bytes()
    _refused_as_expected(node, partner, raw, expected, status=expected["http_status"], code=expected["code"])
    assert _inbox(node) == []


def test_the_tightened_limits_are_what_refuses_them(tmp_path: Path, partner: httpx.Client) -> None:
    """Under the default limits the files that need smaller ones are not refused for their size.

    So the refusals above come from the ``[partner]`` limit keys of the configuration, not from elsewhere.
    """
    with _gateway(tmp_path, {}) as node:
        for name, expected in EXPECTED.items():
            if "limits" in expected:
                response = _post(partner, node, (HOSTILE / name).read_bytes())
                if response.status_code != 200:
                    assert expected["text"] not in _signed_error(response).text


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", GENERATED)
def test_each_generated_flood_is_refused_over_http(
    name: str, gateways: dict[str, GatewayNode], partner: httpx.Client
) -> None:
    """The floods of the parse tests (up to 2 MB), refused as a signed Error ``parse`` by the default gateway."""
    raw, expected = _generated()[name]
    _refused_as_expected(gateways["{}"], partner, raw, expected, status=400, code="parse")


@pytest.mark.timeout(300)
def test_healthz_answers_while_a_flood_of_the_costliest_messages_is_in_flight(
    gateways: dict[str, GatewayNode],
) -> None:
    """Forty costly floods in parallel: each gets a signed parse or busy Error, and /healthz keeps answering.

    Nothing here is timed: the assertion is that /healthz answers ``ok`` while floods are still unanswered.
    """
    node = gateways["{}"]
    floods = _generated()
    costly = [
        floods["namespace-flood (80 000, garbage signature)"][0],
        floods["attributes-spread (6 251 elements of 32)"][0],
        floods["attribute-flood (100 000 on one element)"][0],
        floods["namespace-flood (80 000, genuine signature)"][0],
    ] * 10
    before = node.running.store.counts()
    pending = len(costly)
    lock = threading.Lock()

    def send(raw: bytes) -> tuple[int, str]:
        nonlocal pending
        try:
            with httpx.Client(timeout=300) as http:
                response = _post(http, node, raw)
                return response.status_code, _signed_error(response).code.value
        finally:
            with lock:
                pending -= 1

    answered_during_flood = 0
    with ThreadPoolExecutor(max_workers=len(costly)) as pool, httpx.Client(timeout=300) as health:
        futures = [pool.submit(send, raw) for raw in costly]
        while True:
            with lock:
                in_flight = pending
            if in_flight == 0:
                break
            response = health.get(f"{node.url}/healthz")
            assert response.status_code == 200
            assert response.json() == {"status": "ok", "participant": RECEIVER}
            with lock:
                if pending > 0:
                    answered_during_flood += 1
        outcomes = [future.result() for future in futures]
    assert answered_during_flood >= 1
    assert set(outcomes) <= {(400, "parse"), (503, "busy")}
    after = node.running.store.counts()
    assert after.rejected == before.rejected + len(costly)
    assert after.inbound == before.inbound


# ------------------------------------------------------------------------------------------------ certificates


def _certificate_rows() -> dict[str, str]:
    """Return each hostile certificate's expected message, from the table of its README."""
    readme = (HOSTILE / "certificates" / "README.md").read_text()
    return dict(re.findall(r'^\| `([^`]+\.cert\.pem)` \|[^|]*\| "([^"]+)" \|$', readme, re.MULTILINE))


def test_every_hostile_certificate_has_a_row() -> None:
    assert set(_certificate_rows()) == {path.name for path in (HOSTILE / "certificates").glob("*.cert.pem")}


@pytest.mark.parametrize("name", sorted(_certificate_rows()))
def test_a_gateway_with_a_hostile_partner_certificate_refuses_to_start(name: str, tmp_path: Path) -> None:
    """Registered for a partner, each certificate stops the gateway at start with its own message and key path."""
    config = _write_site(tmp_path, {})
    registry = tmp_path / "partners.toml"
    certificate = HOSTILE / "certificates" / name
    registry.write_text(
        _me(tmp_path)
        + f'[[partner]]\nid = "{RECEIVER}"\nname = "TEST ONLY"\ncountry = "MY"\nrole = "competent-authority"\n'
        f'utility_blocks = ["pic"]\n\n[[partner.certificate]]\npath = "{certificate}"\n'
    )
    _, credentials = backoffice_credentials([RECEIVER])
    with pytest.raises(ConfigurationError) as caught:
        build(load_gateway_config(config), credentials=credentials, clock=lambda: ACCEPTED_AT)
    assert caught.value.field == "partner[1].certificate[1].path"
    assert _certificate_rows()[name] in caught.value.text
    assert not (tmp_path / "gateway.db").exists()  # refused before the store is opened
