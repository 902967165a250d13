"""Schema checks from several threads: what one large document's validation costs the others.

Run by hand: ``.venv/bin/python benchmarks/bench_threads.py``. A compiled XMLSchema keeps the error log of its
last validation on the object, so threads sharing one must take turns; ``schemas`` gives each thread its own.
For a small Notification this prints the time of a full check alone, then while another thread keeps
validating a 10 000-item ExportData (about 10 MB): median and worst, as multiples of the check alone, for
``schemas.check_document`` and for one shared compiled schema behind a lock (the way before), in the same run.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_codec import ROOT, best, export_data  # noqa: E402
from lxml import etree  # noqa: E402

from picexchange import codec, schemas  # noqa: E402


def _under_load(check: Callable[[], None], large: Callable[[], None], *, samples: int = 60) -> list[float]:
    """Return the times of ``samples`` calls of ``check`` while another thread runs ``large`` in a loop."""
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            large()

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(0.2)
    times = []
    try:
        for _ in range(samples):
            start = time.perf_counter()
            check()
            times.append(time.perf_counter() - start)
            time.sleep(0.005)  # arrivals spread over the large validations, as requests would be
    finally:
        stop.set()
        thread.join()
    return times


def main() -> None:
    """Print the table."""
    small = codec.parse((ROOT / "samples" / "messages" / "plastic-au-my-01-notification.xml").read_bytes())
    big_raw = export_data(10_000)
    big = codec.parse(big_raw)
    shared = schemas._lxml_schema("full")
    lock = threading.Lock()

    def shared_check(root: etree._Element) -> None:
        with lock:
            shared.validate(root)
            list(shared.error_log)

    t_big = best(lambda: schemas.check_document(big), budget=1.0, rounds=3)
    print(f"full check of the {len(big_raw) / 1e6:.1f} MB ExportData alone: {t_big * 1e3:.1f} ms")
    print(f"{'small Notification, full check':34} {'alone':>9} {'median under load':>18} {'worst under load':>17}")
    for name, check, large in (
        ("one schema per thread (ours)", lambda: schemas.check_document(small), lambda: schemas.check_document(big)),
        ("one shared schema + lock", lambda: shared_check(small), lambda: shared_check(big)),
    ):
        alone = best(check, budget=0.5)
        loaded = _under_load(check, large)
        print(
            f"{name:34} {alone * 1e3:7.3f}ms {statistics.median(loaded) / alone:16.1f}x "
            f"{max(loaded) / alone:15.0f}x ({max(loaded) * 1e3:.0f} ms)"
        )


if __name__ == "__main__":
    main()
