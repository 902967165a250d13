"""The PostgreSQL server of the tests: named by one variable, skipped with the reason on a laptop, required in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

import postgres_server
from picexchange.testing import free_port

ROOT = Path(__file__).resolve().parent.parent


def _nobody_listens() -> str:
    return f"postgresql://127.0.0.1:{free_port()}/test"


def test_the_server_is_the_variables_or_the_local_default() -> None:
    """``PICEXCHANGE_TEST_POSTGRES`` names it; unset, the machine's own server (trust auth, database test)."""
    expected = os.environ.get(postgres_server.SERVER_VARIABLE) or "postgresql://127.0.0.1:5432/test"
    assert postgres_server.PG_SERVER == expected


def test_a_fresh_schema_is_private_to_the_test_and_dropped_afterwards() -> None:
    """Parallel runs on one server do not collide: each test works in its own schema, gone at the end."""
    server = postgres_server.require_postgres()
    with postgres_server.postgres_schema(server, prefix="px_selftest") as url, psycopg.connect(url) as conn:
        schema = conn.execute("SELECT current_schema()").fetchone()
        assert schema is not None and schema[0].startswith("px_selftest_")
    with psycopg.connect(server) as admin:
        left = admin.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema[0],)).fetchall()
    assert left == []


def test_a_missing_server_skips_with_the_reason_when_not_required(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a laptop without PostgreSQL the tests that need it are skipped, and the skip says why and what to set."""
    monkeypatch.setattr(postgres_server, "REQUIRED", False)
    server = _nobody_listens()
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL is not reachable") as skipped:
        postgres_server.require_postgres(server)
    assert server in str(skipped.value) and "PICEXCHANGE_TEST_POSTGRES" in str(skipped.value)


def test_a_missing_server_fails_the_test_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``PICEXCHANGE_REQUIRE_POSTGRES=1`` (CI) the same test fails instead: no green run on SQLite alone."""
    monkeypatch.setattr(postgres_server, "REQUIRED", True)
    with pytest.raises(pytest.fail.Exception, match="PICEXCHANGE_REQUIRE_POSTGRES=1"):
        postgres_server.require_postgres(_nobody_listens())


@pytest.mark.parametrize(("require", "outcome"), [("1", "fails"), ("", "skips")])
def test_a_whole_run_without_its_server(require: str, outcome: str) -> None:
    """Run pytest on a PostgreSQL test against a port nobody listens on: CI's run fails before any test and
    names the server; a laptop's run skips the test with the reason."""
    env = {
        **os.environ,
        postgres_server.SERVER_VARIABLE: _nobody_listens(),
        postgres_server.REQUIRE_VARIABLE: require,
    }
    result = subprocess.run(  # noqa: S603 - this interpreter's pytest on our own tests
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            "tests/test_postgres_server.py",
            "-k",
            "fresh_schema",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    output = result.stdout + result.stderr
    if outcome == "fails":
        assert result.returncode != 0, output
        assert "PostgreSQL is not reachable" in output and "PICEXCHANGE_REQUIRE_POSTGRES=1" in output
        assert "passed" not in output
    else:
        assert result.returncode == 0, output
        assert "1 skipped" in output and "PostgreSQL is not reachable" in output
