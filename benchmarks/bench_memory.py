"""Peak memory of receiving one large ExportData, stage by stage, each figure from a fresh process.

Run by hand: ``.venv/bin/python benchmarks/bench_memory.py [--repeat R] [--sizes 50000,5000000,25000000]
[--baseline SRC]``; benchmarks/README.md records the figures and the command.

Each measurement is its own process (this script started again with ``--measure``): it builds the gateway
(``gateway.server.build`` on a fresh SQLite store), runs the stage once on a small message of the same kind (imports,
compiled schemas, the store's first writes), collects garbage, resets the kernel's peak RSS (``/proc/self/clear_refs``)
and then reads the message's bytes and runs the stage. The figure is the peak RSS (VmHWM) minus the RSS at the
reset, in the document's size: the received bytes themselves count, as they do in a gateway. libxml2 trees are
outside ``tracemalloc``, so only RSS sees them.

The stages grow from a parse to the whole ``Gateway.receive`` (accept, receipt, case work, one store
transaction); ``floor`` is ``bench_floor.FloorReceiver.receive``, the bare-library yardstick. ``--baseline SRC``
runs the same stages with another checkout's ``src`` (``PYTHONPATH``), in the same rotation: gateway and baseline
alternate process by process, R repetitions, and the table shows medians.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

STAGES = (
    "parse",
    "parse+xsd",
    "parse+decode",
    "parse+verify",
    "accept",
    "accept+receipt",
    "receive",
    "served",
    "floor",
)
SIZES = (50_000, 5_000_000, 25_000_000)
_BODY = f"max_body_bytes = {32 * 1024 * 1024}"  # codec.Limits.max_bytes, so 25 MB is received
_STATUS = re.compile(r"^(VmHWM|VmRSS):\s+(\d+) kB$", re.MULTILINE)


def _status(pid: str = "self") -> dict[str, int]:
    text = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    return {name: int(kb) * 1024 for name, kb in _STATUS.findall(text)}


def _reset_peak(pid: str = "self") -> int:
    """Reset VmHWM to the current RSS (Linux clear_refs 5) and return that RSS."""
    Path(f"/proc/{pid}/clear_refs").write_text("5", encoding="ascii")
    return _status(pid)["VmRSS"]


def _stage(name: str, folder: Path) -> Callable[[bytes], object]:
    """Return the work of one stage on the received bytes, wired to a gateway built from ``folder``."""
    from bench_floor import FloorReceiver
    from bench_gateway import EXPORTER, IMPORTER
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from picexchange import codec, exchange, schemas, signing
    from picexchange.gateway import build, load_gateway_config
    from picexchange.models.envelope import Envelope
    from picexchange.testpki import file_stem

    running = build(load_gateway_config(folder / "gateway.toml"))
    gateway = running.gateway

    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def parse_xsd(raw: bytes) -> object:
        root = codec.parse(raw)
        schemas.check_envelope(root)
        schemas.check_document(root)
        return root

    def parse_decode(raw: bytes) -> object:
        return codec.decode(codec.parse(raw), Envelope)

    def parse_verify(raw: bytes) -> object:
        root = codec.parse(raw)
        partner = gateway.trust.partner(EXPORTER)
        assert partner is not None
        certificate = partner.certificates[0].certificate
        algorithm = signing.SignatureAlgorithm.RSA_SHA256
        return signing._signxml_verify(
            root, certificate, now=now(), algorithm=algorithm, policy=signing.DEFAULT_POLICY, sender=EXPORTER
        )

    def accept(raw: bytes) -> object:
        return exchange.accept_for(raw, hosted=gateway.hosted, trust=gateway.trust, now=now(), policy=gateway.policy)

    def accept_receipt(raw: bytes) -> object:
        inbound = accept(raw)
        assert isinstance(inbound, exchange.Inbound)
        return exchange.receipt_for(inbound, me=gateway.me, now=now())

    def receive(raw: bytes) -> object:
        status, body = gateway.receive(raw, now())
        if status != 200:
            raise RuntimeError(f"refused: {status} {body[:300]!r}")
        return body

    receivers: list[FloorReceiver] = []  # made on the warm-up call, before the peak is reset

    def floor(raw: bytes) -> object:
        if not receivers:
            sender = x509.load_pem_x509_certificate((folder / f"{file_stem(EXPORTER)}.cert.pem").read_bytes())
            public = sender.public_key()
            key = serialization.load_pem_private_key((folder / f"{file_stem(IMPORTER)}.key.pem").read_bytes(), None)
            assert isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
            assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
            database = folder / f"floor-{os.getpid()}.db"
            receivers.append(FloorReceiver(sender_key=public, key=key, database=database))
        return receivers[0].receive(raw)

    return {
        "parse": codec.parse,
        "parse+xsd": parse_xsd,
        "parse+decode": parse_decode,
        "parse+verify": parse_verify,
        "accept": accept,
        "accept+receipt": accept_receipt,
        "receive": receive,
        "floor": floor,
    }[name]


def measure(stage: str, folder: Path, message: Path, warm: Path) -> None:
    """Print the peak RSS increment of ``stage`` on ``message``, in its size (the child process)."""
    work = _stage(stage, folder)
    work(warm.read_bytes())
    gc.collect()
    base = _reset_peak()
    raw = message.read_bytes()
    size = len(raw)
    work(raw)
    print(f"{(_status()['VmHWM'] - base) / size:.3f}")


def served(folder: Path, message: Path, warm: Path, source: str | None, store: Path) -> float:
    """Return the peak RSS increment of a gateway process (uvicorn, as served) receiving ``message`` over HTTP."""
    import httpx
    from bench_gateway import gateway

    from picexchange.gateway.partner import XML

    with gateway(folder, f"sqlite:///{store}", "served", partner=_BODY, source=source) as server:
        with httpx.Client(timeout=600) as client:

            def post(path: Path) -> None:
                body = path.read_bytes()
                reply = client.post(f"{server.url}/ub/v1/messages", content=body, headers={"content-type": XML})
                if reply.status_code != 200:
                    raise RuntimeError(f"refused: {reply.status_code} {reply.text[:300]}")

            post(warm)
            pid = str(server.process.pid)
            base = _reset_peak(pid)
            post(message)
            return (_status(pid)["VmHWM"] - base) / message.stat().st_size


def prepare(folder: Path, sizes: tuple[int, ...]) -> dict[int, list[Path]]:
    """Write the PKI, the gateway configuration and sealed ExportData messages (one per measurement)."""
    from bench_gateway import EXPORTER, IMPORTER, export_data_of, write_pki

    from picexchange import exchange

    pki = write_pki(folder)
    (folder / "tokens.toml").write_text("", encoding="utf-8")
    (folder / "gateway.toml").write_text(
        '[gateway]\npartners = "partners.toml"\nstore = "sqlite:/STORE"\n'
        f'[partner]\nlisten = "127.0.0.1:0"\n{_BODY}\n'
        '[backoffice]\nlisten = "127.0.0.1:0"\ntokens = "tokens.toml"\n',
        encoding="utf-8",
    )
    me = pki[EXPORTER].identity
    now = dt.datetime.now(dt.UTC)
    written: dict[int, list[Path]] = {}
    for size in (10_000, *sizes):
        document = export_data_of(size)
        sealed = exchange.seal(document, me=me, to=IMPORTER, now=now, test=True)
        path = folder / f"export-{size}.xml"
        path.write_bytes(sealed.raw)
        written[size] = [path]
        print(f"  sealed {len(sealed.raw) / 1e6:.2f} MB for {size / 1e6:g} MB", flush=True)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", nargs=4, metavar=("STAGE", "FOLDER", "MESSAGE", "WARM"), help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per figure (default 3)")
    parser.add_argument("--sizes", default=",".join(str(size) for size in SIZES), help="envelope sizes in bytes")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"stages to measure (of {', '.join(STAGES)})")
    parser.add_argument("--baseline", metavar="SRC", help="also run the stages with another checkout's src folder")
    args = parser.parse_args()
    if args.measure:
        stage, folder, message, warm = args.measure
        measure(stage, Path(folder), Path(message), Path(warm))
        return
    sizes = tuple(int(item) for item in args.sizes.split(","))
    stages = tuple(args.stages.split(","))
    kinds = {"after": None, **({"before": args.baseline} if args.baseline else {})}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        messages = prepare(folder, sizes)
        figures: dict[tuple[str, str, int], list[float]] = {}
        for round_ in range(args.repeat):
            for size in sizes:
                for stage in stages:
                    kinds_now = list(kinds.items())
                    if round_ % 2:
                        kinds_now.reverse()  # alternate who goes first
                    for kind, source in kinds_now:
                        if stage == "floor" and kind == "before":
                            continue  # the floor does not depend on the checkout
                        store = folder / f"store-{kind}-{stage}-{size}-{round_}.db"
                        if stage == "served":
                            figures.setdefault((kind, stage, size), []).append(
                                served(folder, messages[size][0], messages[10_000][0], source, store)
                            )
                            continue
                        config = (folder / "gateway.toml").read_text(encoding="utf-8")
                        (folder / "gateway.toml").write_text(
                            re.sub(r'store = "[^"]*"', f'store = "sqlite:{store}"', config), encoding="utf-8"
                        )
                        env = {**os.environ, "PYTHONPATH": source} if source else None
                        command = [sys.executable, __file__, "--measure", stage, str(folder)]
                        command += [str(messages[size][0]), str(messages[10_000][0])]
                        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
                        if done.returncode != 0:
                            raise RuntimeError(f"{kind} {stage} {size}: {done.stderr[-2000:]}")
                        figures.setdefault((kind, stage, size), []).append(float(done.stdout.split()[-1]))
            print(f"  round {round_ + 1} of {args.repeat} done", flush=True)
        print()
        header = " | ".join(f"{kind} {size / 1e6:g} MB" for size in sizes for kind in kinds)
        print(f"| stage | {header} |")
        print("|---|" + "---|" * (len(sizes) * len(kinds)))
        for stage in stages:
            cells = []
            for size in sizes:
                for kind in kinds:
                    values = figures.get((kind, stage, size))
                    cells.append(f"{statistics.median(values):.1f}×" if values else "—")
            print(f"| {stage} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
