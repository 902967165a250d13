"""The PostgreSQL server the tests use: one environment variable, and CI fails where a laptop skips.

``PICEXCHANGE_TEST_POSTGRES``
    the server's libpq URL (default ``postgresql://127.0.0.1:5432/test``: trust authentication, database
    ``test``). Every test works in a fresh schema of its own (:func:`postgres_schema`), so parallel runs on one
    server do not collide.
``PICEXCHANGE_REQUIRE_POSTGRES``
    ``1`` in CI (``.ci/run`` sets it): a server that does not answer fails the run instead of skipping the
    PostgreSQL half of the store suite, so a CI without PostgreSQL cannot pass on SQLite alone. Unset (a
    laptop without PostgreSQL), those tests are skipped with the reason.

This is our test infrastructure, not the vendors' test kit: it lives beside the tests and the wheel does not
ship it (``picexchange.testing`` needs no psycopg). Benchmarks import it too.
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

SERVER_VARIABLE = "PICEXCHANGE_TEST_POSTGRES"
REQUIRE_VARIABLE = "PICEXCHANGE_REQUIRE_POSTGRES"
DEFAULT_SERVER = "postgresql://127.0.0.1:5432/test"

#: The server every PostgreSQL test uses.
PG_SERVER = os.environ.get(SERVER_VARIABLE) or DEFAULT_SERVER
#: Whether a missing server fails the tests (CI) instead of skipping them.
REQUIRED = os.environ.get(REQUIRE_VARIABLE, "").strip() not in ("", "0")


@functools.cache
def unreachable_because(server: str = PG_SERVER) -> str | None:
    """Return why ``server`` cannot be used, or None when it answers (asked once per run: 3 s at most)."""
    try:
        psycopg.connect(server, connect_timeout=3).close()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def missing_server_message(server: str = PG_SERVER) -> str | None:
    """Return the sentence that explains a missing server, or None when it answers."""
    reason = unreachable_because(server)
    if reason is None:
        return None
    return (
        f"PostgreSQL is not reachable at {server} ({reason}); "
        f"point {SERVER_VARIABLE} at a server (trust authentication) to run these tests"
    )


def require_postgres(server: str = PG_SERVER) -> str:
    """Return ``server`` when it answers; otherwise skip the calling test, or fail it when CI requires PostgreSQL."""
    message = missing_server_message(server)
    if message is None:
        return server
    if REQUIRED:
        pytest.fail(f"{message} ({REQUIRE_VARIABLE}=1: the PostgreSQL tests must run)", pytrace=False)
    pytest.skip(message)


@contextlib.contextmanager
def postgres_schema(server: str = PG_SERVER, *, prefix: str = "px_test") -> Iterator[str]:
    """Create a fresh schema on ``server``; yield a store URL confined to it; drop the schema on exit."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in server else "?"
    try:
        yield f"{server}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
