"""Back-office credentials: who a request comes from and which participants it may act for.

Every back-office request authenticates, with a bearer token or a TLS client certificate. Each credential is
bound to a named client and to the participant ids that client may act for: it submits only as those and
reads only messages to or from them. Tokens are never stored in clear: the credentials file holds the SHA-256
of each (a token is 32 random bytes, so a plain hash is as good as a slow one), and a presented token's hash
is compared in constant time with every stored one. The credentials file (TOML)::

    [[token]]
    client = "customs-declarations"     # who: written in the audit log
    as = ["MY:RMCD"]                    # the participants it may act for
    sha256 = "9f2c..."                  # hex SHA-256 of the token (picexchange token new writes this)
    expires = 2027-06-30T00:00:00Z      # optional

    [[certificate]]
    client = "erp"
    as = ["MY:DOE"]
    sha256 = "ab01..."                  # hex SHA-256 of the client certificate (DER): its fingerprint
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picexchange.errors import ConfigurationError, Unauthorized
from picexchange.trust import is_participant_id

__all__ = [
    "BackofficeClient",
    "Credentials",
    "Grant",
    "acting_as",
    "grant_toml",
    "load_credentials",
    "new_token",
    "token_sha256",
]

TOKEN_PREFIX = "pxb_"  # noqa: S105 -- a prefix, not a secret
"""Tokens start with this, so a leaked one is recognisable (secret scanners, logs)."""


def new_token() -> str:
    """Return a new back-office token: the prefix and 32 random bytes, URL-safe base64."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_sha256(token: str) -> str:
    """Return the hex SHA-256 under which a token is stored (the credentials file never holds the token)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class BackofficeClient:
    """An authenticated back-office client.

    Attributes:
        name: the client's name, as the audit log records it.
        participants: the participant ids it may act for.
        expires: when its credential stops working (aware), or None (a console session ends then too).
        credential: hex SHA-256 of the grant it authenticated with (the token's hash, or the client
            certificate's fingerprint); a console session keeps it to check that the grant is still accepted.

    """

    name: str
    participants: frozenset[str]
    expires: dt.datetime | None = None
    credential: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """One credential: the hash of a token or a certificate fingerprint, bound to a client and participants.

    Attributes:
        client: the client's name.
        participants: the participant ids it may act for.
        sha256: hex SHA-256 of the token, or of the client certificate's DER bytes.
        expires: when the credential stops working (aware), or None.

    """

    client: str
    participants: frozenset[str]
    sha256: str
    expires: dt.datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """Every back-office credential the gateway accepts.

    Attributes:
        tokens: bearer-token grants.
        certificates: client-certificate grants (the listener needs ``[backoffice.tls] client_ca``).

    """

    tokens: tuple[Grant, ...] = ()
    certificates: tuple[Grant, ...] = ()

    def authenticate(self, *, bearer: str | None, certificate: bytes | None, now: dt.datetime) -> BackofficeClient:
        """Return the client a request's bearer token (else client certificate) belongs to.

        Raises:
            Unauthorized: no credential, an unknown one, or an expired one.

        """
        if bearer is not None:
            grant = _match(self.tokens, token_sha256(bearer))
        elif certificate is not None:
            grant = _match(self.certificates, hashlib.sha256(certificate).hexdigest())
        else:
            raise Unauthorized("a bearer token (Authorization: Bearer ...) or a client certificate is required")
        if grant is None:
            raise Unauthorized("the credential is not known to this gateway")
        if grant.expires is not None and now >= grant.expires:
            raise Unauthorized(f"the credential of {grant.client} expired at {grant.expires.isoformat()}")
        return BackofficeClient(
            name=grant.client, participants=grant.participants, expires=grant.expires, credential=grant.sha256
        )

    def still_accepts(self, client: BackofficeClient, *, now: dt.datetime) -> bool:
        """Return whether the grant ``client`` authenticated with is still here, unchanged and unexpired.

        A console session is checked with this on every use: a token removed from the credentials file (or given
        other participants) ends the sessions it opened once the gateway runs with the new file.
        """
        grant = _match((*self.tokens, *self.certificates), client.credential) if client.credential else None
        return (
            grant is not None
            and grant.client == client.name
            and grant.participants == client.participants
            and (grant.expires is None or now < grant.expires)
        )

    @classmethod
    def from_toml_text(cls, text: str, *, source: str) -> Credentials:
        """Parse a credentials file.

        Raises:
            ConfigurationError: not TOML, or a grant without client, participants or a well-formed hash.

        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"not valid TOML: {exc}", source=source) from exc
        unknown = set(data) - {"token", "certificate"}
        if unknown:
            raise ConfigurationError(
                f"unknown table {sorted(unknown)[0]!r}; known: [[token]], [[certificate]]", source=source
            )
        return cls(
            tokens=tuple(_grant(item, f"token[{i}]", source) for i, item in enumerate(_list(data, "token", source))),
            certificates=tuple(
                _grant(item, f"certificate[{i}]", source) for i, item in enumerate(_list(data, "certificate", source))
            ),
        )


def _match(grants: Iterable[Grant], digest: str) -> Grant | None:
    found = None
    for grant in grants:
        # Compare with every grant, in constant time each, so the time taken says nothing about the hashes.
        if hmac.compare_digest(grant.sha256, digest):
            found = grant
    return found


def _list(data: Mapping[str, Any], key: str, source: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ConfigurationError(f"{key} must be an array of tables ([[{key}]])", source=source, field=key)
    return value


def _grant(item: Any, where: str, source: str) -> Grant:
    if not isinstance(item, dict):
        raise ConfigurationError("must be a table", source=source, field=where)
    unknown = set(item) - {"client", "as", "sha256", "expires"}
    if unknown:
        raise ConfigurationError(
            f"unknown setting {sorted(unknown)[0]!r}; known: as, client, expires, sha256", source=source, field=where
        )
    client, participants, digest = item.get("client"), item.get("as"), item.get("sha256")
    if not isinstance(client, str) or not client.strip() or len(client) > 64:
        raise ConfigurationError("client must be a name of 1 to 64 characters", source=source, field=f"{where}.client")
    if (
        not isinstance(participants, list)
        or not participants
        or not all(isinstance(p, str) and is_participant_id(p) for p in participants)
    ):
        raise ConfigurationError(
            "as must list the participant ids the client may act for, e.g. as = ['MY:DOE']",
            source=source,
            field=f"{where}.as",
        )
    if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ConfigurationError(
            "sha256 must be 64 lower-case hex digits (the token's hash, never the token)",
            source=source,
            field=f"{where}.sha256",
        )
    expires = item.get("expires")
    if expires is not None:
        if isinstance(expires, dt.datetime) and expires.tzinfo is not None:
            expires = expires.astimezone(dt.UTC)
        elif isinstance(expires, dt.date) and not isinstance(expires, dt.datetime):
            expires = dt.datetime.combine(expires, dt.time(), tzinfo=dt.UTC)
        else:
            raise ConfigurationError(
                "expires must be a date or a date-time with its offset, e.g. 2027-06-30T00:00:00Z",
                source=source,
                field=f"{where}.expires",
            )
    return Grant(client=client, participants=frozenset(participants), sha256=digest, expires=expires)


def grant_toml(grant: Grant, *, kind: str = "token") -> str:
    """Return the TOML table that stores ``grant`` in a credentials file (to append to it)."""
    lines = [
        f"[[{kind}]]",
        f"client = {_toml_string(grant.client)}",
        "as = [" + ", ".join(_toml_string(p) for p in sorted(grant.participants)) + "]",
        f'sha256 = "{grant.sha256}"',
    ]
    if grant.expires is not None:
        lines.append(f"expires = {grant.expires.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}")
    return "\n".join(lines) + "\n"


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def load_credentials(
    *, path: Path | None, env_name: str | None, environ: Mapping[str, str], source: str | None = None
) -> Credentials:
    """Read the back-office credentials from the file ``path`` or the environment variable ``env_name``.

    Args:
        path: the credentials file (``[backoffice] tokens``), or None.
        env_name: the variable named by ``[backoffice] tokens_env``, or None.
        environ: the environment as the CLI read it (the library never reads the environment itself).
        source: the configuration file, for messages.

    Raises:
        ConfigurationError: the file cannot be read (naming it and the key that points to it), the variable
            is not set, or the content is not a credentials file.

    """
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigurationError(
                f"cannot read the back-office credentials file {path}: {reason}",
                source=source,
                field="backoffice.tokens",
            ) from exc
        return Credentials.from_toml_text(text, source=str(path))
    if env_name is not None:
        if env_name not in environ:
            raise ConfigurationError(
                f"the environment variable {env_name} (named by [backoffice] tokens_env) is not set",
                source=source,
                field="backoffice.tokens_env",
            )
        return Credentials.from_toml_text(environ[env_name], source=f"${env_name}")
    return Credentials()


def acting_as(client: BackofficeClient, hosted: Collection[str]) -> frozenset[str]:
    """Return the hosted participants ``client`` may act for (empty: it may do nothing here)."""
    return client.participants & frozenset(hosted)
