"""The two listeners under load: does a flood of partner messages starve /healthz or the back office?

Run by hand: ``.venv/bin/python benchmarks/bench_listeners.py [--seconds 8] [--flood 32]``.

A gateway runs as ``picexchange serve`` in its own process (SQLite store). The script floods its partner
listener with ``--flood`` concurrent senders of valid signed Notifications and, meanwhile, measures the
latency of ``GET /healthz`` (partner listener) and of an authenticated, audited ``GET /api/v1/inbox?limit=1``
(back office), against the same measurements on the idle gateway. It runs twice: with the default
verification pool and with a small one (``verify_concurrency = 1``, ``verify_queue = 2``) to count the
``busy`` answers. Last, a client dripping header bytes shows when the header deadline cuts it off.
"""

from __future__ import annotations

import argparse
import datetime as dt
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from picexchange import codec, exchange
from picexchange.gateway import Grant, new_token, token_sha256
from picexchange.gateway.auth import grant_toml
from picexchange.models.envelope import Envelope
from picexchange.testing import free_port
from picexchange.testpki import TestPki, certificate_pem, file_stem, make_test_pki, partners_toml, private_key_pem

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "messages" / "plastic-au-my-01-notification.xml"
EXPORTER, IMPORTER = "AU:DCCEEW", "MY:DOE"
CLI = Path(sys.executable).parent / "picexchange"


def _site(folder: Path, token: str, partner_extra: str) -> tuple[Path, int, int]:
    now = dt.datetime.now(dt.UTC)
    pki = make_test_pki(
        [EXPORTER, IMPORTER], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=3)
    )
    _write_pki(folder, pki)
    grant = Grant(client="bench", participants=frozenset({IMPORTER}), sha256=token_sha256(token))
    (folder / "tokens.toml").write_text(grant_toml(grant), encoding="utf-8")
    partner, backoffice = free_port(), free_port()
    config = folder / "gateway.toml"
    config.write_text(
        '[gateway]\npartners = "partners.toml"\nstore = "sqlite:gw.db"\n'
        f'[partner]\nlisten = "127.0.0.1:{partner}"\nheader_timeout_seconds = 2\n{partner_extra}'
        f'[backoffice]\nlisten = "127.0.0.1:{backoffice}"\ntokens = "tokens.toml"\n',
        encoding="utf-8",
    )
    return config, partner, backoffice


def _write_pki(folder: Path, pki: TestPki) -> None:
    for item in pki.participants:
        key = folder / f"{file_stem(item.id)}.key.pem"
        key.write_bytes(private_key_pem(item.private_key))
        key.chmod(0o600)
        (folder / f"{file_stem(item.id)}.cert.pem").write_bytes(certificate_pem(item.certificate))
    (folder / "partners.toml").write_text(partners_toml(pki, me=IMPORTER), encoding="utf-8")


@contextmanager
def _gateway(config: Path, partner: int) -> Iterator[None]:
    process = subprocess.Popen(  # noqa: S603 -- our own console script
        [str(CLI), "serve", "--config", str(config), "--log-level", "warning"], stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{partner}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        process.wait(30)


def _latencies(url: str, headers: dict[str, str], stop: threading.Event) -> list[float]:
    found: list[float] = []
    with httpx.Client(headers=headers, timeout=60) as http:
        while not stop.is_set():
            started = time.perf_counter()
            http.get(url).raise_for_status()
            found.append((time.perf_counter() - started) * 1000)
            time.sleep(0.05)
    return found


def _probe(into: dict[str, list[float]], name: str, url: str, headers: dict[str, str], stop: threading.Event) -> None:
    into[name] = _latencies(url, headers, stop)


def _row(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    median = statistics.median(values)
    return f"{name:<34} n={len(values):>4}  p50 {median:7.1f} ms  p99 {p99:7.1f} ms  max {max(values):7.1f} ms"


def _run(folder: Path, *, seconds: float, flood: int, partner_extra: str, label: str) -> None:
    token = new_token()
    config, partner, backoffice = _site(folder, token, partner_extra)
    from picexchange.files.registry import load_identity

    sender = load_identity(
        key=folder / f"{file_stem(EXPORTER)}.key.pem",
        certificate=folder / f"{file_stem(EXPORTER)}.cert.pem",
        participant=EXPORTER,
    )
    document = codec.from_xml(SAMPLE.read_bytes(), Envelope).document
    messages = [exchange.seal(document, me=sender, to=IMPORTER, now=dt.datetime.now(dt.UTC)).raw for _ in range(400)]
    health_url, inbox_url = f"http://127.0.0.1:{partner}/healthz", f"http://127.0.0.1:{backoffice}/api/v1/inbox?limit=1"
    auth = {"Authorization": f"Bearer {token}"}
    with _gateway(config, partner):
        for phase in ("idle", "flooded"):
            stop = threading.Event()
            statuses: Counter[int] = Counter()

            def send(offset: int, stop: threading.Event = stop, statuses: Counter[int] = statuses) -> None:
                with httpx.Client(timeout=120) as http:
                    index = offset
                    while not stop.is_set():
                        response = http.post(
                            f"http://127.0.0.1:{partner}/ub/v1/messages",
                            content=messages[index % len(messages)],
                            headers={"Content-Type": "application/xml"},
                        )
                        statuses[response.status_code] += 1
                        index += flood

            senders = [threading.Thread(target=send, args=(i,)) for i in range(flood if phase == "flooded" else 0)]
            results: dict[str, list[float]] = {}

            probes = [
                threading.Thread(target=_probe, args=(results, "health", health_url, {}, stop)),
                threading.Thread(target=_probe, args=(results, "inbox", inbox_url, auth, stop)),
            ]
            for thread in senders + probes:
                thread.start()
            time.sleep(seconds)
            stop.set()
            for thread in senders + probes:
                thread.join(120)
            print(f"{label}, {phase}: partner answers {dict(sorted(statuses.items()))}")
            print("  " + _row("GET /healthz (partner)", results["health"]))
            print("  " + _row("GET /api/v1/inbox (back office)", results["inbox"]))
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", partner), timeout=0.2) as sock:
            cut = False
            for byte in b"POST /ub/v1/messages HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 2000:
                try:
                    sock.sendall(bytes([byte]))
                    if sock.recv(1) == b"":
                        cut = True
                        break
                except TimeoutError:
                    continue
                except OSError:
                    cut = True
                    break
        print(f"  slow headers (header_timeout_seconds = 2): cut off={cut} after {time.monotonic() - started:.2f} s")


def main() -> None:
    """Run both pool settings and print the latencies."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--flood", type=int, default=32)
    args = parser.parse_args()
    for label, extra in (
        ("default pool", ""),
        ("pool of 1 + queue of 2", "verify_concurrency = 1\nverify_queue = 2\n"),
    ):
        with tempfile.TemporaryDirectory() as folder:
            _run(Path(folder), seconds=args.seconds, flood=args.flood, partner_extra=extra, label=label)


if __name__ == "__main__":
    main()
