"""Run a reference gateway as a real OS process, from a configuration file, for crash tests.

The test writes the partner registry, the keys and the gateway configuration (:func:`write_site`); a
:class:`GatewayProcess` then starts, kills (SIGKILL, no clean-up of any kind) and restarts the process on the
same store, appending its output to ``<name>.log`` beside the configuration. The process is
``picexchange serve --config FILE``, as operators run it.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from picexchange.gateway import Grant, load_gateway_config, new_token, token_sha256
from picexchange.gateway.auth import grant_toml
from picexchange.testing import free_port
from picexchange.testpki import TestPki, certificate_pem, file_stem, partners_toml, private_key_pem

CONSOLE_SCRIPT = Path(sys.executable).parent / "picexchange"
TEST_TOKEN = new_token()
"""The back-office token every site written here accepts (TEST ONLY), for the participant it signs as."""
BACKOFFICE_HEADERS = {"Authorization": f"Bearer {TEST_TOKEN}"}


def serve_command(config: Path) -> list[str]:
    """Return the command line that serves the gateway configured in ``config``: the real CLI entry point."""
    return [str(CONSOLE_SCRIPT), "serve", "--config", str(config)]


def with_endpoints(pki: TestPki, endpoints: dict[str, str]) -> TestPki:
    """Return ``pki`` with the partner endpoints replaced for the participants in ``endpoints``."""
    participants = tuple(
        dataclasses.replace(item, partner=dataclasses.replace(item.partner, endpoint=endpoints[item.id]))
        if item.id in endpoints
        else item
        for item in pki.participants
    )
    return dataclasses.replace(pki, participants=participants)


def write_site(
    directory: Path,
    pki: TestPki,
    *,
    me: str,
    store: str,
    port: int,
    lease_seconds: float = 5.0,
    poll_seconds: float = 0.05,
    concurrency: int = 8,
    batch: int = 16,
) -> Path:
    """Write one gateway's files (keys, certificates, partner registry, gateway.toml); return the config path."""
    directory.mkdir(parents=True, exist_ok=True)
    for item in pki.participants:
        (directory / f"{file_stem(item.id)}.cert.pem").write_bytes(certificate_pem(item.certificate))
    key = directory / f"{file_stem(me)}.key.pem"
    key.write_bytes(private_key_pem(pki[me].private_key))
    key.chmod(0o600)  # the registry loader refuses a private key other users can read
    (directory / "partners.toml").write_text(partners_toml(pki, me=me), encoding="utf-8")
    grant = Grant(client="crash-test", participants=frozenset({me}), sha256=token_sha256(TEST_TOKEN))
    (directory / "tokens.toml").write_text(grant_toml(grant), encoding="utf-8")
    if store.startswith("sqlite:///"):  # configuration files write an absolute SQLite path as sqlite:/abs/path
        store = "sqlite:/" + store.removeprefix("sqlite:").lstrip("/")
    config = directory / "gateway.toml"
    config.write_text(
        "[gateway]\n"
        'partners = "partners.toml"\n'
        f'store = "{store}"\n'
        "\n[partner]\n"
        f'listen = "127.0.0.1:{port}"\n'
        "\n[backoffice]\n"
        f'listen = "127.0.0.1:{free_port()}"\n'
        'tokens = "tokens.toml"\n'
        "\n[outbox]\n"
        f"poll_seconds = {poll_seconds}\n"
        f"lease_seconds = {lease_seconds}\n"
        # A claim must outlive one attempt: short leases (fast recovery in tests) need short timeouts.
        f"connect_timeout_seconds = {min(5.0, lease_seconds / 4)}\n"
        f"read_timeout_seconds = {min(30.0, lease_seconds / 2)}\n"
        f"batch = {batch}\n"
        f"concurrency = {concurrency}\n",
        encoding="utf-8",
    )
    return config


class GatewayProcess:
    """One gateway process, started from a configuration file; it may be killed and started again."""

    def __init__(self, config: Path, *, port: int, name: str) -> None:
        self.config = config
        self.port = port
        self.name = name
        self.url = f"http://127.0.0.1:{port}"
        self.api = f"http://127.0.0.1:{load_gateway_config(config).backoffice.port}"
        """The back-office listener's base URL (send :data:`BACKOFFICE_HEADERS`)."""
        self.log = config.parent / f"{name}.log"
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        """Return the process id of the running process."""
        if self._process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._process.pid

    def start(self, *, timeout: float = 60.0) -> None:
        """Start the process and wait until ``/healthz`` answers ok."""
        if self._process is not None:
            raise RuntimeError(f"{self.name} is already running")
        self.starts += 1
        self._log = self.log.open("ab")
        self._log.write(f"---- start {self.starts}: {' '.join(serve_command(self.config))}\n".encode())
        self._log.flush()
        self._process = subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
            serve_command(self.config),
            cwd=self.config.parent,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=5) as http:
            while True:
                if self._process.poll() is not None:
                    code = self._process.returncode
                    self._reap()
                    raise RuntimeError(f"{self.name} exited with {code} while starting:\n{self.tail()}")
                try:
                    if http.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"{self.name} did not answer /healthz within {timeout} s:\n{self.tail()}")
                time.sleep(0.05)

    def kill(self) -> None:
        """Kill the process with SIGKILL: no shutdown handler, no flush, no lease given back."""
        if self._process is None:
            return
        if self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait(30)
        self._reap()

    def freeze(self) -> None:
        """Stop the process with SIGSTOP: its sockets stay open, nothing it was doing moves on."""
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen process go on (SIGCONT)."""
        os.kill(self.pid, signal.SIGCONT)

    def stop(self, *, timeout: float = 20.0) -> None:
        """Stop the process with SIGTERM (uvicorn shuts down cleanly), killing it if it hangs."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(30)
        self._reap()

    def _reap(self) -> None:
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 40) -> str:
        """Return the end of the process's output, for failure messages."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def metrics(self, http: httpx.Client) -> dict[str, float]:
        """Return the process's /metrics samples as ``{'name{labels}': value}``."""
        response = http.get(f"{self.api}/metrics", headers=BACKOFFICE_HEADERS)
        response.raise_for_status()
        samples: dict[str, float] = {}
        for line in response.text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                samples[key] = float(value)
        return samples
