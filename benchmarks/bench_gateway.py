"""End-to-end gateway throughput: client -> gateway -> store -> signed receipt verified, on SQLite and PostgreSQL.

Run by hand: ``.venv/bin/python benchmarks/bench_gateway.py [--quick] [--messages N] [--postgres URL]``.

The gateway runs in a separate process (this script started again with ``--serve CONFIG``: uvicorn, as
``picexchange serve`` runs it), so the client's CPU is not the gateway's; on a 2-core machine both still
share the cores. The messages are the ~5 KB Notification of ``samples/messages/plastic-au-my-01-notification.xml``
sealed beforehand with fresh ids (sealing is the sender's work, not the delivery's). Each delivery is one
``Client.deliver``: POST, the gateway's ``exchange.accept`` + one store transaction + signed Receipt, and the
client's check of that receipt (signature, signer, digest of the bytes sent).

Next to each row, in the same run, the bare cost of the same messages: ``exchange.accept`` alone (parse +
verify + validate, no HTTP, no store), and the whole exchange without HTTP and store (accept + receipt_for
+ read_reply). This machine's speed drifts up to 2x within seconds, so the ratio is the number to compare.
The gateway's CPU per message is read from /proc for its process.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from picexchange import codec, exchange
from picexchange.client import AsyncClient, Client, ClientConfig, RetryPolicy
from picexchange.models.envelope import Envelope
from picexchange.models.pic import Notification
from picexchange.testing import free_port
from picexchange.testpki import TestPki, certificate_pem, file_stem, make_test_pki, partners_toml, private_key_pem

# The tests' PostgreSQL helpers (a scratch schema per run, PICEXCHANGE_TEST_POSTGRES): not in the wheel.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from postgres_server import PG_SERVER, postgres_schema  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "messages" / "plastic-au-my-01-notification.xml"
EXPORTER, IMPORTER = "AU:DCCEEW", "MY:DOE"
CONCURRENCY = 16
TICKS = os.sysconf("SC_CLK_TCK")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ------------------------------------------------------------------------------------------ the gateway process


def serve(config: str) -> None:
    """Run one gateway until killed (the child process)."""
    from picexchange.gateway import load_gateway_config
    from picexchange.gateway import serve as run

    run(load_gateway_config(config))


def write_pki(folder: Path) -> TestPki:
    now = _now()
    pki = make_test_pki(
        [EXPORTER, IMPORTER], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30)
    )
    for item in pki.participants:
        key = folder / f"{file_stem(item.id)}.key.pem"
        key.write_bytes(private_key_pem(item.private_key))
        key.chmod(0o600)  # the registry refuses keys others can read
        (folder / f"{file_stem(item.id)}.cert.pem").write_bytes(certificate_pem(item.certificate))
    (folder / "partners.toml").write_text(partners_toml(pki, me=IMPORTER), encoding="utf-8")
    return pki


@dataclass
class Gateway:
    url: str
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


@contextmanager
def gateway(folder: Path, store: str, name: str) -> Iterator[Gateway]:
    port = free_port()
    config = folder / f"gateway-{name}.toml"
    if store.startswith("sqlite:///"):  # configuration files write absolute SQLite paths as sqlite:/abs
        store = "sqlite:/" + store.removeprefix("sqlite:").lstrip("/")
    (folder / "tokens.toml").write_text("", encoding="utf-8")  # the benchmark uses no back-office route
    config.write_text(
        f'[gateway]\npartners = "partners.toml"\nstore = "{store}"\n'
        f'[partner]\nlisten = "127.0.0.1:{port}"\n[backoffice]\nlisten = "127.0.0.1:0"\ntokens = "tokens.toml"\n',
        encoding="utf-8",
    )
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(config)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway on {store} did not start")
            time.sleep(0.1)
        yield Gateway(url=url, process=process)
    finally:
        process.terminate()
        process.wait(15)


# ------------------------------------------------------------------------------------------ measurements


@dataclass
class Run:
    messages: int
    seconds: float
    latencies: list[float]
    gateway_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def seal_all(pki: TestPki, document: Notification, n: int) -> list[exchange.Sealed]:
    me = pki[EXPORTER].identity
    return [exchange.seal(document, me=me, to=IMPORTER, now=_now()) for _ in range(n)]


def client_config() -> ClientConfig:
    return ClientConfig(retry=RetryPolicy(max_attempts=1))


def deliver_sequential(pki: TestPki, url: str, sealed: Sequence[exchange.Sealed]) -> Run:
    endpoint = f"{url}/ub/v1/messages"
    latencies = []
    with Client(me=pki[EXPORTER].identity, trust=pki.trust(), config=client_config()) as client:
        client.deliver(sealed[0], endpoint=endpoint)  # connect outside the timing
        start = time.perf_counter()
        for item in sealed[1:]:
            t0 = time.perf_counter()
            client.deliver(item, endpoint=endpoint)
            latencies.append(time.perf_counter() - t0)
        return Run(len(sealed) - 1, time.perf_counter() - start, latencies)


def deliver_threads(pki: TestPki, url: str, sealed: Sequence[exchange.Sealed], threads: int) -> Run:
    endpoint = f"{url}/ub/v1/messages"
    clients = [Client(me=pki[EXPORTER].identity, trust=pki.trust(), config=client_config()) for _ in range(threads)]
    shares = [list(sealed[i::threads]) for i in range(threads)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def work(i: int) -> None:
        try:
            clients[i].deliver(shares[i][0], endpoint=endpoint)  # connect outside the timing
            barrier.wait()
            for item in shares[i][1:]:
                t0 = time.perf_counter()
                clients[i].deliver(item, endpoint=endpoint)
                latencies[i].append(time.perf_counter() - t0)
        except BaseException as exc:  # reported by the main thread below
            errors.append(exc)
            raise

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - start
    for client in clients:
        client.close()
    if errors:
        raise errors[0]
    flat = [x for part in latencies for x in part]
    return Run(len(flat), seconds, flat)


def deliver_async(pki: TestPki, url: str, sealed: Sequence[exchange.Sealed], tasks: int) -> Run:
    endpoint = f"{url}/ub/v1/messages"

    async def main() -> Run:
        latencies: list[float] = []
        async with AsyncClient(me=pki[EXPORTER].identity, trust=pki.trust(), config=client_config()) as client:
            await asyncio.gather(*(client.deliver(item, endpoint=endpoint) for item in sealed[:tasks]))
            queue = list(sealed[tasks:])

            async def worker() -> None:
                while queue:
                    item = queue.pop()
                    t0 = time.perf_counter()
                    await client.deliver(item, endpoint=endpoint)
                    latencies.append(time.perf_counter() - t0)

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(tasks)))
            return Run(len(latencies), time.perf_counter() - start, latencies)

    return asyncio.run(main())


def bare_accept(pki: TestPki, sealed: Sequence[exchange.Sealed]) -> Run:
    """exchange.accept alone: parse + signature + schema + models, no HTTP, no store."""
    me, trust = pki[IMPORTER].identity, pki.trust()
    latencies = []
    start = time.perf_counter()
    for item in sealed:
        t0 = time.perf_counter()
        exchange.accept(item.raw, me=me, trust=trust, now=_now())
        latencies.append(time.perf_counter() - t0)
    return Run(len(sealed), time.perf_counter() - start, latencies)


def bare_exchange(pki: TestPki, sealed: Sequence[exchange.Sealed]) -> Run:
    """accept + receipt_for (sign) + read_reply (verify the receipt): the whole exchange minus HTTP and store."""
    importer, exporter, trust = pki[IMPORTER].identity, pki[EXPORTER].identity, pki.trust()
    latencies = []
    start = time.perf_counter()
    for item in sealed:
        t0 = time.perf_counter()
        inbound = exchange.accept(item.raw, me=importer, trust=trust, now=_now())
        receipt = exchange.receipt_for(inbound, me=importer, now=_now())
        exchange.read_reply(receipt.raw, sent=item, me=exporter, trust=trust, now=_now())
        latencies.append(time.perf_counter() - t0)
    return Run(len(sealed), time.perf_counter() - start, latencies)


def measured(gw: Gateway, deliver: Callable[[list[exchange.Sealed]], Run], sealed: list[exchange.Sealed]) -> Run:
    cpu = gw.cpu_seconds()
    run = deliver(sealed)
    run.gateway_cpu = gw.cpu_seconds() - cpu
    return run


# ------------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="fewer messages")
    parser.add_argument("--messages", type=int, default=0, help="messages per row (default 400, quick 100)")
    parser.add_argument("--postgres", default=PG_SERVER, help="server URL ('' to skip)")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    n = args.messages or (100 if args.quick else 400)

    document = codec.from_xml(SAMPLE.read_bytes(), Envelope).document
    assert isinstance(document, Notification)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        pki = write_pki(folder)
        size = len(seal_all(pki, document, 1)[0].raw)
        print(f"{size} bytes per signed Notification (RSA-2048), {n} messages per row, {os.cpu_count()} cores")
        print()
        header = (
            f"{'store':9} {'mode':34} {'msg/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'gw CPU ms/msg':>13} "
            f"{'bare accept/s':>13} {'e2e/bare':>8} {'bare exch/s':>11}"
        )
        print(header)
        print("-" * len(header))
        for name in ["sqlite", "postgres"] if args.postgres else ["sqlite"]:
            with store_url(folder, name, args.postgres) as url, gateway(folder, url, name) as gw:
                deliver_sequential(pki, gw.url, seal_all(pki, document, 30))  # warm up: schemas, pools, caches
                rows: list[tuple[str, Callable[[list[exchange.Sealed]], Run]]] = [
                    ("sequential, 1 Client", lambda s: deliver_sequential(pki, gw.url, s)),
                    (f"{CONCURRENCY} threads, a Client each", lambda s: deliver_threads(pki, gw.url, s, CONCURRENCY)),
                    (f"{CONCURRENCY} tasks, one AsyncClient", lambda s: deliver_async(pki, gw.url, s, CONCURRENCY)),
                ]
                for label, deliver in rows:
                    sealed = seal_all(pki, document, n + CONCURRENCY)
                    bare = bare_accept(pki, sealed[:n])
                    whole = bare_exchange(pki, sealed[:n])
                    run = measured(gw, deliver, sealed)
                    bare_after = bare_accept(pki, sealed[:n])
                    bare_rate = (bare.rate + bare_after.rate) / 2
                    print(
                        f"{name:9} {label:34} {run.rate:7.0f} {run.percentile(50):7.1f} {run.percentile(99):7.1f} "
                        f"{run.gateway_cpu / run.messages * 1000:13.2f} {bare_rate:13.0f} "
                        f"{run.rate / bare_rate:8.2f} {whole.rate:11.0f}"
                    )
        print()
        bare = bare_accept(pki, seal_all(pki, document, n))
        whole = bare_exchange(pki, seal_all(pki, document, n))
        print(
            f"bare, in this process: exchange.accept p50 {bare.percentile(50):.2f} ms, "
            f"p99 {bare.percentile(99):.2f} ms; accept + receipt_for + read_reply p50 {whole.percentile(50):.2f} ms, "
            f"mean {statistics.mean(whole.latencies) * 1000:.2f} ms"
        )


@contextmanager
def store_url(folder: Path, name: str, postgres: str) -> Iterator[str]:
    if name == "sqlite":
        yield f"sqlite:///{folder / 'gateway.db'}"
        return
    with postgres_schema(postgres, prefix="px_bench_gw") as url:
        yield url


if __name__ == "__main__":
    main()
