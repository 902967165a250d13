"""The back office behind its own door, over real HTTP on loopback (issue 8, and the back-office half of issue 7).

Each gateway here is a real server with both listeners on 127.0.0.1 and a real SQLite store: the partner
listener serves partners only, the back office authenticates every request, audits it, and answers every
refusal as problem details.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from picexchange import codec, exchange
from picexchange.errors import ConfigurationError, MessageError, RequestError
from picexchange.gateway import (
    BackofficeConfig,
    Credentials,
    GatewayConfig,
    GatewayServer,
    Grant,
    PartnerConfig,
    build,
    new_token,
    token_sha256,
)
from picexchange.gateway.config import ServerTls
from picexchange.models.envelope import Envelope
from picexchange.models.pic import Notification
from picexchange.testing import serve_in_thread
from picexchange.testpki import TestPki, make_test_pki
from picexchange.trust import TrustStore
from postgres_server import PG_SERVER, postgres_schema, require_postgres

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"
EXPORTER, IMPORTER, CUSTOMS = "AU:DCCEEW", "MY:DOE", "MY:RMCD"
PROBLEM = "application/problem+json"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class Site:
    """A running importer gateway and the tokens its back office knows."""

    partner_url: str
    backoffice_url: str
    running: Any
    tokens: dict[str, str]  # good, expired, other (bound to a participant this gateway does not host)

    def client(self, token: str | None = "good", **options: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens.get(token, token)}"} if token else {}
        return httpx.Client(base_url=self.backoffice_url, headers=headers, timeout=30, **options)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    now = _now()
    return make_test_pki(
        [EXPORTER, IMPORTER, CUSTOMS], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30)
    )


@pytest.fixture(scope="module")
def notification() -> Notification:
    document = codec.from_xml((SAMPLES / "plastic-au-my-01-notification.xml").read_bytes(), Envelope).document
    assert isinstance(document, Notification)
    return document


def _credentials() -> tuple[dict[str, str], Credentials]:
    tokens = {name: new_token() for name in ("good", "expired", "other")}
    past = _now() - dt.timedelta(minutes=1)
    grants = (
        Grant(client="erp", participants=frozenset({IMPORTER}), sha256=token_sha256(tokens["good"])),
        Grant(
            client="old-erp", participants=frozenset({IMPORTER}), sha256=token_sha256(tokens["expired"]), expires=past
        ),
        Grant(client="customs", participants=frozenset({CUSTOMS}), sha256=token_sha256(tokens["other"])),
    )
    return tokens, Credentials(tokens=grants)


@contextlib.contextmanager
def _site(
    directory: Path,
    pki: TestPki,
    *,
    partner: PartnerConfig | None = None,
    store: str | None = None,
    **backoffice: Any,
) -> Iterator[Site]:
    trust = TrustStore.of([pki[EXPORTER].partner, pki[IMPORTER].partner], me=pki[IMPORTER].identity)
    config = GatewayConfig(
        partners=directory / "partners.toml",
        store=store or f"sqlite:///{directory / 'my.db'}",
        partner=partner or PartnerConfig(port=0),
        backoffice=BackofficeConfig(port=0, **backoffice),
    )
    tokens, credentials = _credentials()
    running = build(config, trust=trust, credentials=credentials)
    with serve_in_thread(running) as server:
        yield Site(partner_url=server.partner_url, backoffice_url=server.backoffice_url, running=running, tokens=tokens)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def site(request: pytest.FixtureRequest, pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The importer's gateway on each store (PostgreSQL refuses NUL characters the way SQLite does not)."""
    with contextlib.ExitStack() as stack:
        store = None
        if request.param == "postgres":
            require_postgres()
            store = stack.enter_context(postgres_schema(PG_SERVER, prefix="px_bo"))
        directory = tmp_path_factory.mktemp(f"site-{request.param}")
        yield stack.enter_context(
            _site(directory, pki, store=store, max_body_bytes=64 * 1024, body_timeout_seconds=2.0)
        )


def _submission(notification: Notification, **extra: Any) -> dict[str, Any]:
    """Return a submission the site (MY:DOE) may queue: an integration-test message, which no PIC case judges.

    A real Notification from the importing authority would be refused as a case violation (only the exporting
    authority sends one); tests/test_gateway_cases.py covers the case checks of submissions.
    """
    return {"receiver": EXPORTER, "document": json.loads(codec.to_json(notification)), "test": True, **extra}


def _routes(notification: Notification) -> list[tuple[str, str, Any]]:
    """Every back-office route, with a request that would succeed given the right token."""
    return [
        ("POST", "/api/v1/outbox", _submission(notification)),
        ("GET", f"/api/v1/outbox/{uuid.uuid4()}", None),
        ("GET", "/api/v1/inbox", None),
        ("POST", "/api/v1/inbox/ack", {"sequences": [1]}),
        ("GET", f"/api/v1/inbox/{EXPORTER}/{uuid.uuid4()}", None),
        ("GET", "/api/v1/audit", None),
        ("GET", "/metrics", None),
        ("GET", "/openapi.json", None),
        ("GET", "/docs", None),
    ]


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check that ``response`` is a problem-details answer with ``status`` and ``code``; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code", "issues"} <= set(body)
    assert (body["status"], body["code"], body["type"]) == (status, code, f"urn:picexchange:problem:{code}")
    return body


def _audit(site: Site) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    since = 0
    with site.client() as http:
        while True:
            page = http.get("/api/v1/audit", params={"since": since, "limit": 500}).json()
            entries += page["actions"]
            since = page["next"]
            if not page["has_more"]:
                return entries


# ------------------------------------------------------------------------------------------------ two listeners


@pytest.mark.parametrize("path", ["/api/v1/inbox", "/api/v1/outbox", "/metrics", "/docs", "/openapi.json", "/redoc"])
def test_the_partner_listener_has_no_back_office(site: Site, path: str) -> None:
    """A partner (or anyone on the internet) reaches only the message endpoint and /healthz."""
    with httpx.Client(base_url=site.partner_url, timeout=30) as partner:
        response = partner.get(path, headers={"Authorization": f"Bearer {site.tokens['good']}"})
        _problem(response, 404, "not-found")
        assert partner.get("/healthz").json() == {"status": "ok", "participant": IMPORTER}


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/ub/v1/messages"), ("PUT", "/ub/v1/messages"), ("POST", "/healthz")]
)
def test_the_partner_listener_refuses_another_method_with_a_problem(site: Site, method: str, path: str) -> None:
    """A route asked with a method it does not take answers a 405 problem, as the back office does."""
    with httpx.Client(base_url=site.partner_url, timeout=30) as partner:
        _problem(partner.request(method, path, content=b"<x/>"), 405, "method-not-allowed")


def test_the_back_office_listener_has_no_partner_endpoint(site: Site) -> None:
    with site.client() as http:
        _problem(http.post("/ub/v1/messages", json={}), 404, "not-found")


@pytest.mark.parametrize(("listener", "path"), [("partner", "/ub/v1/messages/"), ("backoffice", "/api/v1/inbox/")])
def test_a_trailing_slash_is_a_404_never_a_redirect_reflecting_the_host(site: Site, listener: str, path: str) -> None:
    """A redirect to ``http://<Host>/...`` would send a client wherever its Host header said."""
    base = site.partner_url if listener == "partner" else site.backoffice_url
    with httpx.Client(base_url=base, timeout=30, follow_redirects=False) as http:
        response = http.get(path, headers={"Host": "evil.example", "Authorization": f"Bearer {site.tokens['good']}"})
    assert response.status_code == 404 and "location" not in response.headers


# ------------------------------------------------------------------------------------------------ authentication


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        (None, 401, "unauthorized"),
        ("pxb_wrong", 401, "unauthorized"),
        ("expired", 401, "unauthorized"),
        ("other", 403, "forbidden"),
    ],
)
def test_every_back_office_route_is_refused_without_a_valid_token_for_a_hosted_participant(
    site: Site, notification: Notification, token: str | None, status: int, code: str
) -> None:
    before = len(_audit(site))
    routes = _routes(notification)
    with site.client(token) as http:
        for method, path, body in routes:
            response = http.request(method, path, json=body)
            _problem(response, status, code)
            if status == 401:
                assert response.headers["www-authenticate"] == "Bearer"
    refused = [entry for entry in _audit(site)[before:] if entry["outcome"] == code]
    assert len(refused) == len(routes)  # every refusal is audited, with who tried
    assert {entry["client"] for entry in refused} == ({"customs"} if token == "other" else {"anonymous"})


def test_a_stranger_is_refused_at_the_door_before_routing_or_reading_the_body(site: Site) -> None:
    """Without a credential nothing else is looked at: no 404 for unknown paths, no 422 for a broken body."""
    with site.client(None) as http:
        for response in (
            http.get("/api/v1/no-such-thing"),
            http.post("/api/v1/inbox/ack", content=b"{broken", headers={"Content-Type": "application/json"}),
            http.post("/api/v1/inbox/ack", content=b"x" * 100_000, headers={"Content-Type": "text/plain"}),
            http.get("/api/v1/inbox/MY%00DOE/x"),
        ):
            # A simple refusal lists no issues on the wire: its detail says it all.
            assert _problem(response, 401, "unauthorized")["issues"] == []
    refused = [entry for entry in _audit(site) if entry["action"] == "auth"][-4:]
    assert [entry["target"] for entry in refused] == [
        "GET /api/v1/no-such-thing",
        "POST /api/v1/inbox/ack",
        "POST /api/v1/inbox/ack",
        "GET /api/v1/inbox/MY?DOE/x",
    ]


def test_a_token_is_stored_only_as_its_hash() -> None:
    token = new_token()
    assert len(token.removeprefix("pxb_")) >= 43  # 32 random bytes, base64
    credentials = Credentials(
        tokens=(Grant(client="erp", participants=frozenset({IMPORTER}), sha256=token_sha256(token)),)
    )
    assert token not in repr(credentials)
    assert credentials.authenticate(bearer=token, certificate=None, now=_now()).name == "erp"


def test_the_openapi_description_declares_bearer_authentication_and_the_docs_page_is_offline(site: Site) -> None:
    with site.client() as http:
        spec = http.get("/openapi.json").json()
        page = http.get("/docs")
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert spec["paths"]["/api/v1/inbox"]["get"]["security"] == [{"HTTPBearer": []}]
    assert {"/api/v1/outbox", "/api/v1/inbox", "/api/v1/audit", "/metrics"} <= set(spec["paths"])
    assert "/ub/v1/messages" not in spec["paths"]
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text and "http" not in page.text.replace("HTTPBearer", "")


def test_the_openapi_schemas_do_not_reuse_a_document_name_of_the_library(site: Site) -> None:
    """A client generated from the OpenAPI description imports the library too: ``Acknowledgement`` is Basel's."""
    import picexchange

    with site.client() as http:
        spec = http.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert schemas["InboxAcknowledgement"]["properties"]["sequences"]["type"] == "array"  # the body's JSON shape
    assert not set(schemas) & set(picexchange.__all__)


# ------------------------------------------------------------------------------------------------ audit


def test_every_back_office_action_is_audited_with_who_what_and_outcome(site: Site, notification: Notification) -> None:
    before = len(_audit(site))
    with site.client() as http:
        queued = http.post("/api/v1/outbox", json=_submission(notification)).json()
        http.get(f"/api/v1/outbox/{queued['message_id']}")
        http.get("/api/v1/inbox", params={"since": 0})
        http.get(f"/api/v1/outbox/{uuid.uuid4()}")
    entries = [entry for entry in _audit(site)[before:] if entry["action"] != "audit.read"]
    seen = [(e["client"], e["action"], e["outcome"], e["participant"]) for e in entries]
    assert seen[:4] == [
        ("erp", "outbox.submit", "ok", IMPORTER),
        ("erp", "outbox.status", "ok", IMPORTER),
        ("erp", "inbox.read", "ok", None),
        ("erp", "outbox.status", "not-found", IMPORTER),
    ]
    assert entries[0]["target"] == queued["message_id"] and entries[2]["target"] == "since=0"


# ------------------------------------------------------------------------------------------------ bad input, never 500


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/api/v1/inbox?since={2**63}", None),
        ("GET", f"/api/v1/audit?since={2**63}", None),
        ("POST", "/api/v1/inbox/ack", {"sequences": [2**63]}),
        ("POST", "/api/v1/inbox/ack", {"sequences": []}),
        ("GET", f"/api/v1/inbox/MY%00DOE/{uuid.uuid4()}", None),
        ("GET", "/api/v1/outbox/not-a-uuid", None),
    ],
)
def test_out_of_range_values_and_nul_characters_are_422_never_500(
    site: Site, method: str, path: str, body: Any
) -> None:
    with site.client() as http:
        problem = _problem(http.request(method, path, json=body), 422, "invalid-request")
    assert problem["issues"] and problem["issues"][0]["path"]


def test_a_body_over_the_back_office_limit_is_413_and_a_wrong_type_415(site: Site) -> None:
    with site.client() as http:
        _problem(
            http.post(
                "/api/v1/inbox/ack", content=b"{" + b" " * 70_000 + b"}", headers={"Content-Type": "application/json"}
            ),
            413,
            "too-large",
        )
        _problem(
            http.post("/api/v1/inbox/ack", content=b"sequences=1", headers={"Content-Type": "text/plain"}),
            415,
            "unsupported-media-type",
        )
        _problem(http.put("/api/v1/inbox/ack", json={"sequences": [1]}), 405, "method-not-allowed")
        _problem(
            http.post("/api/v1/inbox/ack", content=b"{not json", headers={"Content-Type": "application/json"}),
            422,
            "invalid-request",
        )


def test_a_back_office_body_that_does_not_arrive_in_time_is_408(site: Site) -> None:
    host, port = site.backoffice_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(
            f"POST /api/v1/inbox/ack HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {site.tokens['good']}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["code"] == "body-timeout"


def test_a_store_outage_is_503_with_retry_after_on_both_listeners(
    pki: TestPki, notification: Notification, tmp_path: Path
) -> None:
    with _site(tmp_path, pki) as down:
        down.running.store.close()
        with down.client() as http:
            for method, path, body in [
                ("POST", "/api/v1/outbox", _submission(notification)),
                ("GET", "/api/v1/inbox", None),
                ("POST", "/api/v1/inbox/ack", {"sequences": [1]}),
                ("GET", "/metrics", None),
            ]:
                response = http.request(method, path, json=body)
                problem = _problem(response, 503, "unavailable")
                assert response.headers["retry-after"] == "5"
                assert "closed" not in problem["detail"] and "SQLite" not in problem["detail"]
        health = httpx.get(f"{down.partner_url}/healthz", timeout=30)
        assert health.status_code == 503 and health.json() == {"status": "unavailable"}


def test_healthz_is_unavailable_when_the_store_cannot_write(pki: TestPki, tmp_path: Path) -> None:
    """A store that still reads but cannot write (here: its size limit reached) is not healthy."""
    with _site(tmp_path, pki) as full:
        store: Any = full.running.store
        with store._lock:  # test only: fill the database to its limit, as a full disk would
            (pages,) = store._db.execute("PRAGMA page_count").fetchone()
            store._db.execute(f"PRAGMA max_page_count = {pages}")
        health = httpx.get(f"{full.partner_url}/healthz", timeout=30)
    assert health.status_code == 503 and health.json() == {"status": "unavailable"}


def test_a_full_database_while_reading_the_inbox_is_503_with_retry_after(
    pki: TestPki, notification: Notification, tmp_path: Path
) -> None:
    """Reading the inbox writes (entries become delivered): a full disk is an outage, not a 500."""
    with _site(tmp_path, pki) as full:
        for _ in range(20):
            sealed = exchange.seal(notification, me=pki[EXPORTER].identity, to=IMPORTER, now=_now())
            posted = httpx.post(
                f"{full.partner_url}/ub/v1/messages",
                content=sealed.raw,
                headers={"Content-Type": "application/xml"},
                timeout=30,
            )
            assert posted.status_code == 200
        store: Any = full.running.store
        with store._lock:  # test only: no page left, as on a full disk (SQLITE_FULL)
            store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            (pages,) = store._db.execute("PRAGMA page_count").fetchone()
            store._db.execute(f"PRAGMA max_page_count = {pages}")
        with full.client() as http:
            response = http.get("/api/v1/inbox")
        problem = _problem(response, 503, "unavailable")
        assert response.headers["retry-after"] == "5" and "SQLite" not in problem["detail"]


def test_a_utf16_message_shows_as_sent_in_the_inbox(pki: TestPki, notification: Notification, site: Site) -> None:
    sealed = exchange.seal(notification, me=pki[EXPORTER].identity, to=IMPORTER, now=_now())
    text = sealed.raw.decode("utf-8")
    if text.startswith("<?xml"):
        text = text.split("?>", 1)[1].lstrip()
    text = "<?xml version='1.0' encoding='UTF-16'?>\n" + text
    raw = text.encode("utf-16")  # the signature covers the canonical form, the same in any encoding
    response = httpx.post(
        f"{site.partner_url}/ub/v1/messages", content=raw, headers={"Content-Type": "application/xml"}, timeout=30
    )
    assert response.status_code == 200, response.text
    with site.client() as http:
        page = http.get("/api/v1/inbox", params={"limit": 500}).json()
    [shown] = [m for m in page["messages"] if m["message_id"] == str(sealed.message_id)]
    assert shown["xml"] == text


# ------------------------------------------------------------------------------------------------ idempotency


def test_a_retried_submission_with_the_same_key_queues_once_and_gets_the_original_answer(
    site: Site, notification: Notification
) -> None:
    key = f"erp-{uuid.uuid4()}"
    before = sum(site.running.store.counts().outbound.values())
    with site.client() as http:
        first = http.post("/api/v1/outbox", json=_submission(notification), headers={"Idempotency-Key": key})
        again = http.post("/api/v1/outbox", json=_submission(notification), headers={"Idempotency-Key": key})
        changed = _submission(notification, test=False)
        other = http.post("/api/v1/outbox", json=changed, headers={"Idempotency-Key": key})
        bad = http.post("/api/v1/outbox", json=_submission(notification), headers={"Idempotency-Key": "a b"})
    assert first.status_code == again.status_code == 202
    assert again.json()["message_id"] == first.json()["message_id"]
    assert again.json()["digest"] == first.json()["digest"]
    assert (first.json()["replayed"], again.json()["replayed"]) == (False, True)
    assert sum(site.running.store.counts().outbound.values()) == before + 1
    assert first.json()["message_id"] in _problem(other, 409, "idempotency-conflict")["detail"]
    _problem(bad, 422, "invalid-request")


def test_a_client_submits_only_as_a_participant_it_is_bound_to(site: Site, notification: Notification) -> None:
    """A sender this gateway does not host is a 422 naming body.sender (a hosted one not the client's is a 403)."""
    with site.client() as http:
        refused = http.post("/api/v1/outbox", json=_submission(notification, sender=CUSTOMS))
        body = _problem(refused, 422, "invalid-request")
        assert [issue["path"] for issue in body["issues"]] == ["body.sender"] and CUSTOMS in body["detail"]
        assert http.post("/api/v1/outbox", json=_submission(notification, sender=IMPORTER)).status_code == 202


# ------------------------------------------------------------------------------------------------ verification pool


def test_slow_verifications_never_starve_healthz_and_a_full_queue_is_busy(
    pki: TestPki, notification: Notification, tmp_path: Path
) -> None:
    """Two slots (one worker, one queue place) taken by slow messages: /healthz answers, a third is busy."""
    with _site(tmp_path, pki, partner=PartnerConfig(port=0, verify_concurrency=1, verify_queue=1)) as busy:
        release = threading.Event()
        store = busy.running.store
        record = store.record_inbound

        def slow_record(*args: Any, **kwargs: Any) -> Any:  # an accept that takes as long as the test wants
            release.wait(30)
            return record(*args, **kwargs)

        store.record_inbound = slow_record
        messages = [exchange.seal(notification, me=pki[EXPORTER].identity, to=IMPORTER, now=_now()) for _ in range(3)]
        results: list[httpx.Response] = []

        def post(raw: bytes) -> None:
            results.append(
                httpx.post(
                    f"{busy.partner_url}/ub/v1/messages",
                    content=raw,
                    headers={"Content-Type": "application/xml"},
                    timeout=60,
                )
            )

        threads = [threading.Thread(target=post, args=(m.raw,)) for m in messages[:2]]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while busy.running.gateway.pool.taken < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert busy.running.gateway.pool.taken == 2
        health = httpx.get(f"{busy.partner_url}/healthz", timeout=30)
        assert health.status_code == 200
        third = httpx.post(
            f"{busy.partner_url}/ub/v1/messages",
            content=messages[2].raw,
            headers={"Content-Type": "application/xml"},
            timeout=30,
        )
        release.set()
        for thread in threads:
            thread.join(60)
    assert third.status_code == 503 and third.headers["retry-after"] == "5"
    reply = codec.from_xml(third.content, Envelope).document
    assert reply.code.value == "busy"  # type: ignore[union-attr]
    assert [r.status_code for r in results] == [200, 200]


# ------------------------------------------------------------------------------------------------ start-up


def test_a_back_office_beyond_loopback_without_tls_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="beyond loopback, without TLS"):
        GatewayConfig(partners=Path("p.toml"), store="sqlite://:memory:", backoffice=BackofficeConfig(host="0.0.0.0"))  # noqa: S104


def test_a_busy_port_is_a_configuration_error_naming_the_setting(pki: TestPki, tmp_path: Path) -> None:
    with _site(tmp_path, pki) as first:
        port = int(first.backoffice_url.rsplit(":", 1)[1])
        trust = TrustStore.of([pki[EXPORTER].partner], me=pki[IMPORTER].identity)
        config = GatewayConfig(
            partners=tmp_path / "p.toml",
            store=f"sqlite:///{tmp_path / 'other.db'}",
            partner=PartnerConfig(port=0),
            backoffice=BackofficeConfig(port=port),
        )
        running = build(config, trust=trust, credentials=Credentials())
        with pytest.raises(ConfigurationError, match="cannot listen on 127.0.0.1") as caught:
            GatewayServer(running)
        assert caught.value.field == "backoffice.listen"
        running.store.close()


def test_a_missing_tls_file_names_the_file_and_its_setting(pki: TestPki, tmp_path: Path) -> None:
    trust = TrustStore.of([pki[EXPORTER].partner], me=pki[IMPORTER].identity)
    config = GatewayConfig(
        partners=tmp_path / "p.toml",
        store=f"sqlite:///{tmp_path / 'x.db'}",
        partner=PartnerConfig(tls=ServerTls(certificate=tmp_path / "server.pem", key=tmp_path / "server.key")),
    )
    with pytest.raises(ConfigurationError, match="server.pem") as caught:
        build(config, trust=trust, credentials=Credentials())
    assert caught.value.field == "partner.tls.certificate"


# ------------------------------------------------------------------------------------------------ one error model


def _codes(root: type[Exception]) -> set[str]:
    found: set[str] = set()
    for cls in root.__subclasses__():
        found |= {cls.code} | _codes(cls)  # type: ignore[attr-defined]
    return found


REACHED: dict[str, str] = {
    # code: the test that reaches it over HTTP
    "parse": "test_gateway.py::test_a_body_that_is_not_well_formed_is_refused_with_400_parse",
    "too-large": "test_a_body_over_the_back_office_limit_is_413_and_a_wrong_type_415",
    "schema": "test_gateway.py::test_a_schema_error_in_the_business_document_is_refused_with_400_schema_and_its_path",
    "signature": "test_gateway.py::test_a_changed_byte_is_refused_with_403_signature",
    "trust": "test_gateway.py::test_a_message_for_another_receiver_is_refused_with_403_trust",
    "conflict": "test_gateway.py::test_the_same_id_with_other_bytes_is_a_409_conflict_and_the_original_stays",
    "business-rule": "test_gateway.py::test_a_genuinely_signed_breach_of_a_business_rule_is_refused_with_422",
    "body-timeout": "test_a_back_office_body_that_does_not_arrive_in_time_is_408",
    "unsupported-media-type": "test_a_body_over_the_back_office_limit_is_413_and_a_wrong_type_415",
    "unavailable": "test_a_store_outage_is_503_with_retry_after_on_both_listeners",
    "busy": "test_slow_verifications_never_starve_healthz_and_a_full_queue_is_busy",
    "internal": "test_a_defect_is_a_500_without_internals_on_both_listeners",
    "unauthorized": "test_every_back_office_route_is_refused_without_a_valid_token_for_a_hosted_participant",
    "forbidden": "test_every_back_office_route_is_refused_without_a_valid_token_for_a_hosted_participant",
    "not-found": "test_the_partner_listener_has_no_back_office",
    "unknown-partner": "test_gateway.py::test_submitting_to_an_unknown_partner_is_a_404",
    "method-not-allowed": "test_a_body_over_the_back_office_limit_is_413_and_a_wrong_type_415",
    "idempotency-conflict": "test_a_retried_submission_with_the_same_key_queues_once_and_gets_the_original_answer",
    "not-acknowledged": "test_gateway.py::test_acknowledging_an_unknown_sequence_is_a_409_and_acknowledges_nothing",
    "outbox-action-refused": "test_console.py::test_the_api_retries_and_gives_up_with_the_same_rules",
    "invalid-request": "test_out_of_range_values_and_nul_characters_are_422_never_500",
    "not-a-document": "test_gateway.py::test_submitting_a_transport_reply_or_no_document_is_a_422",
    "sender-not-allowed": "test_gateway_cases.py::test_an_exporting_authority_may_not_send_an_acknowledgement",
    "case-violation": "test_gateway_cases.py::test_a_second_export_declaration_for_one_serial_is_refused_at_submission",
}


def test_every_error_code_in_the_tree_is_reached_by_a_test() -> None:
    """Each code names the test that provokes it over HTTP; a new code without one fails here."""
    assert _codes(MessageError) | _codes(RequestError) == set(REACHED)
    here = Path(__file__).read_text()
    for test in REACHED.values():
        module, _, name = test.rpartition("::")
        source = (Path(__file__).parent / module).read_text() if module else here
        assert f"def {name}(" in source, test


def test_a_defect_is_a_500_without_internals_on_both_listeners(
    pki: TestPki, notification: Notification, tmp_path: Path
) -> None:
    with _site(tmp_path, pki) as broken:
        store = broken.running.store

        def defect(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("secret internals /var/lib/x")

        store.record_inbound = defect
        store.outbound_status = defect
        store.outbox_message = defect
        sealed = exchange.seal(notification, me=pki[EXPORTER].identity, to=IMPORTER, now=_now())
        response = httpx.post(
            f"{broken.partner_url}/ub/v1/messages",
            content=sealed.raw,
            headers={"Content-Type": "application/xml"},
            timeout=30,
        )
        assert response.status_code == 500
        error = codec.from_xml(response.content, Envelope).document
        assert error.code.value == "internal" and "secret" not in response.text  # type: ignore[union-attr]
        with broken.client() as http:
            problem = _problem(http.get(f"/api/v1/outbox/{uuid.uuid4()}"), 500, "internal")
        assert "secret" not in json.dumps(problem)


# ------------------------------------------------------------------------------------------------ transport limits


def _drip_headers(url: str, *, seconds: float) -> bool:
    """Send a request's headers one byte at a time for up to ``seconds``; return whether the server hung up."""
    host, port = url.removeprefix("http://").split(":")
    head = b"POST /ub/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n" + b"X-Slow: " + b"a" * 1000
    with socket.create_connection((host, int(port)), timeout=0.2) as sock:
        deadline = time.monotonic() + seconds
        for byte in head:
            if time.monotonic() > deadline:
                return False
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(1024) == b"":
                    return True
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                return True
    return False


def test_a_client_sending_headers_slowly_is_cut_off_at_the_header_deadline(pki: TestPki, tmp_path: Path) -> None:
    """Slowloris: a byte every 0.2 s keeps uvicorn's own timers quiet; the header deadline does not."""
    with _site(tmp_path, pki, partner=PartnerConfig(port=0, header_timeout_seconds=1.0)) as slow:
        assert _drip_headers(slow.partner_url, seconds=30)
        # The listener still serves everyone else.
        assert httpx.get(f"{slow.partner_url}/healthz", timeout=30).status_code == 200


def test_an_idle_connection_is_closed_after_the_keep_alive_time(pki: TestPki, tmp_path: Path) -> None:
    with _site(tmp_path, pki, partner=PartnerConfig(port=0, keep_alive_seconds=1)) as idle:
        host, port = idle.partner_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        assert received.startswith(b"HTTP/1.1 200")  # answered, then closed while idle (recv returned b"")
