r"""Run accept, receipt signing and validation from many threads at once; check every result is its own.

The jobs and the check are those of ``tests/test_concurrency.py`` (accept + receipt + reply of every sample,
refused variants naming their own message, schema validation of every valid and invalid sample), run for
longer and from more threads. The process is fresh, so the first round also races the schemas' first
compilation, as after a restart under a backlog. Run it under the native-memory checks, for example::

    PYTHONMALLOC=debug PYTHONFAULTHANDLER=1 MALLOC_CHECK_=3 \
    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libc_malloc_debug.so \
    python -X faulthandler scripts/stress_threads.py --threads 16 --rounds 20

(glibc 2.34 and later read ``MALLOC_CHECK_`` only with ``libc_malloc_debug.so`` preloaded.) Exit status 0:
every outcome matched the single-threaded one; 1: a mismatch, printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from picexchange.models.envelope import UtilityBlock  # noqa: E402
from picexchange.testpki import make_test_pki  # noqa: E402
from test_concurrency import NOW, ROUTES, differences, exchange_jobs, run_together, validation_jobs  # noqa: E402


def main() -> int:
    """Run the jobs; print what differed and the counts; return 1 if any outcome differed."""
    parser = argparse.ArgumentParser(description="threaded accept/validate/sign stress")
    parser.add_argument("--threads", type=int, default=16, help="threads started together")
    parser.add_argument("--rounds", type=int, default=5, help="passes over every job, per thread")
    options = parser.parse_args()
    pki = make_test_pki(
        [*ROUTES[UtilityBlock.PIC], *ROUTES[UtilityBlock.EXPORT]],
        not_before=NOW - dt.timedelta(days=30),
        not_after=NOW + dt.timedelta(days=30),
    )
    jobs = exchange_jobs(pki) + validation_jobs()
    began = time.perf_counter()
    seen = run_together(jobs, threads=options.threads, rounds=options.rounds)
    seconds = time.perf_counter() - began
    wrong = differences(jobs, seen)
    for name, outcomes in sorted(wrong.items()):
        print(f"MISMATCH {name}: {outcomes[0][:400]}")
    calls = len(jobs) * options.threads * options.rounds
    print(f"threads={options.threads} jobs={len(jobs)} calls={calls} seconds={seconds:.1f} mismatched={len(wrong)}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
