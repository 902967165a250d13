"""End-to-end gateway cost against a floor of bare-library work, every headline figure a ratio measured in one run.

Run by hand: ``.venv/bin/python benchmarks/bench_gateway.py [--quick] [--messages N] [--repeat R] [--baseline SRC]
[--detail [--postgres URL]]``; benchmarks/README.md records the figures and the command.

The gateway runs in a separate process (this script started again with ``--serve CONFIG``: uvicorn, as
``picexchange serve`` runs it), and so does the floor receiver of ``bench_floor.py`` (``--serve-floor``); on a
2-core machine they still share the cores with the sending process. The headline (``headline``): runs of N
sealed Notifications (``samples/messages/plastic-au-my-01-notification.xml``, each its own case) with 8 in
flight, the gateway (``Client.deliver``: POST, accept, case work, store, signed Receipt, the client's check of
it) and the floor (POST, bare work, bare receipt check) alternating, R repetitions; CPU per message of the
receiver (from /proc) and of the sender (``process_time``), throughput, and sealing against a bare sign, each
as the median of the per-pair ratios. Then peak RSS for a 5 MB ExportData in fresh processes (VmHWM) and CPU
per MB at 50 KB, 5 MB and 25 MB (50 MB is over ``codec.Limits.max_bytes``). ``--baseline SRC`` adds a gateway
run from another checkout's ``src`` to the same rotation. ``--detail`` prints the older per-mode table
(sequential, threads, async; SQLite and PostgreSQL) with ``exchange.accept`` alone beside each row.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from picexchange import codec, exchange
from picexchange.client import AsyncClient, Client, ClientConfig, RetryPolicy
from picexchange.models.envelope import Envelope, UtilityBlock
from picexchange.models.export import ExportData
from picexchange.models.pic import Notification
from picexchange.testing import free_port
from picexchange.testpki import TestPki, certificate_pem, file_stem, make_test_pki, partners_toml, private_key_pem

# The tests' PostgreSQL helpers (a scratch schema per run, PICEXCHANGE_TEST_POSTGRES): not in the wheel.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from postgres_server import PG_SERVER, postgres_schema  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_floor import bare_seal, check_receipt, serve_floor  # noqa: E402

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
def gateway(folder: Path, store: str, name: str, *, partner: str = "", source: str | None = None) -> Iterator[Gateway]:
    """Run a gateway process; ``source``: a ``src`` folder of another picexchange checkout to run instead."""
    port = free_port()
    config = folder / f"gateway-{name}.toml"
    if store.startswith("sqlite:///"):  # configuration files write absolute SQLite paths as sqlite:/abs
        store = "sqlite:/" + store.removeprefix("sqlite:").lstrip("/")
    (folder / "tokens.toml").write_text("", encoding="utf-8")  # the benchmark uses no back-office route
    config.write_text(
        f'[gateway]\npartners = "partners.toml"\nstore = "{store}"\n'
        f'[partner]\nlisten = "127.0.0.1:{port}"\n{partner}\n'
        '[backoffice]\nlisten = "127.0.0.1:0"\ntokens = "tokens.toml"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": source} if source else None
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(config)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{url}/healthz", process, f"the gateway on {store}")
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


# ------------------------------------------------------------------------------------------ against the floor

IN_FLIGHT = 8
SIZES = (50_000, 5_000_000, 25_000_000)
#: A 50 MB message is over ``codec.Limits.max_bytes`` (32 MiB), which ``[partner] max_body_bytes`` cannot raise.
EXPORT_SAMPLE = ROOT / "samples" / "messages" / "plastic-au-my-08-export-data.xml"


def process_cpu(pid: int) -> float:
    """Return the user + system CPU seconds of process ``pid`` so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss(pid: int) -> int:
    """Return the peak resident set size of process ``pid`` in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def _wait_until_up(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    """Wait up to 30 s for ``url`` to answer 200; raise if ``process`` ends or the time runs out."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.1)


@contextmanager
def floor_server(folder: Path) -> Iterator[Gateway]:
    """Run the floor receiver of bench_floor.py in its own process (this script with ``--serve-floor``)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve-floor", str(folder), str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{url}/", process, "the floor receiver")
        yield Gateway(url=url, process=process)
    finally:
        process.terminate()
        process.wait(15)


@dataclass
class Load:
    """One run of ``messages`` deliveries with IN_FLIGHT senders: wall time, and CPU of receiver and client."""

    messages: int
    seconds: float
    server_cpu: float
    client_cpu: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def server_ms(self) -> float:
        return self.server_cpu / self.messages * 1000

    @property
    def client_ms(self) -> float:
        return self.client_cpu / self.messages * 1000


def in_flight(server: Gateway, items: Sequence[exchange.Sealed], post: Callable[[int, exchange.Sealed], None]) -> Load:
    """Deliver ``items`` with IN_FLIGHT threads, each posting its share one after the other."""
    shares = [list(items[i::IN_FLIGHT]) for i in range(IN_FLIGHT)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(IN_FLIGHT + 1)

    def work(i: int) -> None:
        barrier.wait()
        try:
            for item in shares[i]:
                post(i, item)
        except BaseException as exc:  # reported by the main thread below
            errors.append(exc)
            raise

    workers = [threading.Thread(target=work, args=(i,)) for i in range(IN_FLIGHT)]
    for worker in workers:
        worker.start()
    server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
    start = time.perf_counter()
    barrier.wait()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - start
    load = Load(len(items), seconds, server.cpu_seconds() - server_cpu, time.process_time() - client_cpu)
    if errors:
        raise errors[0]
    return load


def unique_notifications(document: Notification, n: int, tag: str) -> list[Notification]:
    """Return ``n`` copies of ``document``, each its own case (a notification number of its own)."""
    return [document.model_copy(update={"notification_number": f"BENCH-{tag}-{i}"}) for i in range(n)]


def floor_seal(pki: TestPki, document: Notification) -> bytes:
    """Seal ``document`` with the bare libraries: the same envelope, the project's encode, a bare signature."""
    me = pki[EXPORTER]
    envelope = Envelope.wrap(
        document,
        message_id=uuid.uuid4(),
        conversation_id=document.notification_number,
        sender=EXPORTER,
        receiver=IMPORTER,
        created=_now(),
        utility_block=UtilityBlock.PIC,
    )
    raw = bare_seal(codec.encode(envelope), me.private_key, me.certificate)
    exchange.digest_of(raw)
    return raw


def export_data_of(size: int) -> ExportData:
    """Return the sample ExportData with its goods item repeated until the signed envelope is about ``size`` bytes."""
    sample = codec.from_xml(EXPORT_SAMPLE.read_bytes(), Envelope).document
    assert isinstance(sample, ExportData)
    item = sample.goods_item[0].model_copy(update={"quantity": None})

    def with_items(count: int) -> ExportData:
        items = tuple(item.model_copy(update={"item_number": i + 1}) for i in range(count))
        return sample.model_copy(update={"goods_item": items})

    one, hundred = (len(codec.to_xml(with_items(count), pretty=False)) for count in (1, 101))
    per_item = (hundred - one) / 100
    return with_items(max(1, round((size - one - 2500) / per_item)))


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _spread(values: Sequence[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def headline(n: int, repeat: int, *, quick: bool, baseline: str | None = None) -> None:
    """Print the headline figures, each as a ratio to the floor measured in the same run, interleaved."""
    document = codec.from_xml(SAMPLE.read_bytes(), Envelope).document
    assert isinstance(document, Notification)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        pki = write_pki(folder)
        importer_key = pki[IMPORTER].certificate.public_key()
        assert isinstance(importer_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
        me, trust = pki[EXPORTER].identity, pki.trust()
        size = len(seal_all(pki, document, 1)[0].raw)
        print(
            f"{size} bytes per sealed Notification (RSA-2048), {n} messages per run, {IN_FLIGHT} in flight, "
            f"{repeat} interleaved repetitions, {os.cpu_count()} cores; medians, [min-max] of the per-pair ratios"
        )
        rows: dict[str, list[float]] = {}

        def note(name: str, value: float) -> None:
            rows.setdefault(name, []).append(value)

        store = f"sqlite:///{folder / 'gateway.db'}"
        with contextlib.ExitStack() as stack:
            gw = stack.enter_context(gateway(folder, store, "sqlite"))
            floor = stack.enter_context(floor_server(folder))
            old = None
            if baseline:
                old = stack.enter_context(
                    gateway(folder, f"sqlite:///{folder / 'baseline.db'}", "old", source=baseline)
                )
            clients = [Client(me=me, trust=trust, config=client_config()) for _ in range(IN_FLIGHT)]
            plain = [httpx.Client(timeout=60) for _ in range(IN_FLIGHT)]
            stack.callback(lambda: [client.close() for client in [*clients, *plain]])

            def to(server: Gateway) -> Callable[[int, exchange.Sealed], None]:
                def post(i: int, item: exchange.Sealed) -> None:
                    clients[i].deliver(item, endpoint=f"{server.url}/ub/v1/messages")

                return post

            def to_floor(i: int, item: exchange.Sealed) -> None:
                reply = plain[i].post(floor.url, content=item.raw, headers={"content-type": "application/xml"})
                check_receipt(reply.content, importer_key, item.digest)

            def batch(tag: str) -> list[exchange.Sealed]:
                return [
                    exchange.seal(item, me=me, to=IMPORTER, now=_now())
                    for item in unique_notifications(document, n, tag)
                ]

            servers: list[tuple[str, Gateway, Callable[[int, exchange.Sealed], None]]] = [
                ("gateway", gw, to(gw)),
                ("floor", floor, to_floor),
            ]
            if old is not None:
                servers.append(("baseline", old, to(old)))
            for name, server, post in servers:
                in_flight(server, batch(f"warm-{name}"), post)  # warm up: schemas, pools, caches, connections
            for rep in range(repeat):
                loads = {}
                for name, server, post in servers[rep % len(servers) :] + servers[: rep % len(servers)]:
                    loads[name] = in_flight(server, batch(f"{rep}-{name}"), post)
                ours, bare = loads["gateway"], loads["floor"]
                note("gateway CPU ms/msg", ours.server_ms)
                note("floor CPU ms/msg", bare.server_ms)
                note("gateway CPU / floor", ours.server_ms / bare.server_ms)
                note("client CPU ms/msg", ours.client_ms)
                note("floor client CPU ms/msg", bare.client_ms)
                note("client CPU / floor client", ours.client_ms / bare.client_ms)
                note(
                    "whole exchange CPU / floor", (ours.server_ms + ours.client_ms) / (bare.server_ms + bare.client_ms)
                )
                note("gateway msg/s", ours.rate)
                note("floor msg/s", bare.rate)
                note("throughput / floor", ours.rate / bare.rate)
                if "baseline" in loads:
                    before = loads["baseline"]
                    note("baseline gateway CPU ms/msg", before.server_ms)
                    note("baseline gateway CPU / floor", before.server_ms / bare.server_ms)
                    note("baseline throughput / floor", before.rate / bare.rate)
                    note("gateway CPU / baseline", ours.server_ms / before.server_ms)
                # Sealing on the client against a bare sign of the same document, interleaved too.
                documents = unique_notifications(document, n, f"seal-{rep}")
                for product in (rep % 2 == 0, rep % 2 != 0):
                    start = time.process_time()
                    for item in documents:
                        if product:
                            exchange.seal(item, me=me, to=IMPORTER, now=_now())
                        else:
                            floor_seal(pki, item)
                    note("seal ms" if product else "bare seal ms", (time.process_time() - start) / n * 1000)
                note("seal / bare seal", rows["seal ms"][-1] / rows["bare seal ms"][-1])
        print()
        for name, values in rows.items():
            ratio = "/" in name
            shown = f"{median(values):8.2f}" + (f"   [{_spread(values)}]" if ratio else "")
            print(f"  {name:30} {shown}")
        print()
        sizes(folder, pki, quick=quick, baseline=baseline)


def sizes(folder: Path, pki: TestPki, *, quick: bool, baseline: str | None) -> None:
    """Print peak RSS for a 5 MB ExportData (fresh processes) and the receiver's CPU per MB across sizes."""
    me = pki[EXPORTER].identity
    wanted = SIZES[:2] if quick else SIZES
    print(f"  (a 50 MB message is over codec.Limits.max_bytes, {codec.DEFAULT_LIMITS.max_bytes} bytes: not measured)")
    messages: dict[int, list[exchange.Sealed]] = {}
    for size in wanted:
        document = export_data_of(size)
        copies = 10 if size < 1_000_000 else 2 if size < 10_000_000 else 1
        messages[size] = [exchange.seal(document, me=me, to=IMPORTER, now=_now(), test=True) for _ in range(copies)]
    big = 32 * 1024 * 1024
    warm = exchange.seal(export_data_of(10_000), me=me, to=IMPORTER, now=_now(), test=True)
    cost: dict[tuple[str, int], float] = {}
    peak: dict[str, float] = {}
    kinds = ["gateway", "floor", *(["baseline"] if baseline else [])]
    for kind in kinds:
        limit = f"max_body_bytes = {big}"
        if kind == "floor":
            opened = floor_server(folder)
        else:
            source = baseline if kind == "baseline" else None
            opened = gateway(folder, f"sqlite:///{folder / f'sizes-{kind}.db'}", kind, partner=limit, source=source)
        with opened as server:
            url = server.url if kind == "floor" else f"{server.url}/ub/v1/messages"
            with httpx.Client(timeout=600) as client:

                def post(item: exchange.Sealed, url: str = url) -> None:
                    reply = client.post(url, content=item.raw, headers={"content-type": "application/xml"})
                    if reply.status_code != 200:
                        raise RuntimeError(f"refused: {reply.status_code} {reply.text[:300]}")

                post(warm)  # imports, schemas, the store: the fresh process's one-off costs
                five = next(size for size in wanted if size >= 5_000_000)
                before = peak_rss(server.process.pid)
                post(messages[five][0])
                peak[kind] = (peak_rss(server.process.pid) - before) / len(messages[five][0].raw)
                for size in wanted:
                    items = messages[size][1:] if size == five else messages[size]
                    cpu = server.cpu_seconds()
                    for item in items or messages[size]:
                        post(item)
                    megabytes = sum(len(item.raw) for item in items or messages[size]) / 1e6
                    cost[kind, size] = (server.cpu_seconds() - cpu) / megabytes * 1000
    shown = ", ".join(f"{kind} {peak[kind]:.1f}x" for kind in kinds)
    print(f"  peak RSS increment, 5 MB ExportData, in the document's size: {shown}")
    for size in wanted:
        figures = ", ".join(f"{kind} {cost[kind, size]:6.1f} ms" for kind in kinds)
        ratio = cost["gateway", size] / cost["floor", size]
        print(f"  CPU per MB at {size / 1e6:>5.2f} MB: {figures} (gateway/floor {ratio:.2f})")


# ------------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--serve-floor", nargs=2, metavar=("FOLDER", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="fewer messages and repetitions")
    parser.add_argument("--messages", type=int, default=0, help="messages per run (default 300, quick 100)")
    parser.add_argument("--repeat", type=int, default=0, help="interleaved repetitions (default 5, quick 3)")
    parser.add_argument(
        "--baseline",
        metavar="SRC",
        help="also run, interleaved, a gateway from the src folder of another checkout (before/after a change)",
    )
    parser.add_argument("--detail", action="store_true", help="also the older per-mode table (SQLite, PostgreSQL)")
    parser.add_argument("--postgres", default=PG_SERVER, help="server URL for --detail ('' to skip)")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.serve_floor:
        folder = Path(args.serve_floor[0])
        serve_floor(
            folder,
            int(args.serve_floor[1]),
            folder / f"{file_stem(EXPORTER)}.cert.pem",
            folder / f"{file_stem(IMPORTER)}.key.pem",
        )
        return
    n = args.messages or (100 if args.quick else 300)
    repeat = args.repeat or (3 if args.quick else 5)
    headline(n, repeat, quick=args.quick, baseline=args.baseline)
    if args.detail:
        detail(n, args.postgres)


def detail(n: int, postgres: str) -> None:
    """Print the per-mode table: sequential, threads, async; SQLite and PostgreSQL; bare accept beside it."""
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
        for name in ["sqlite", "postgres"] if postgres else ["sqlite"]:
            with store_url(folder, name, postgres) as url, gateway(folder, url, name) as gw:
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
