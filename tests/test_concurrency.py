"""Threads at once through accept, validation and signing: every thread gets exactly its own result.

The gateway runs ``exchange.accept`` (parse, envelope schema, signxml verify, business schema, decode) and
receipt signing in Starlette's thread pool, concurrently. lxml objects shared between those threads — the
compiled ``XMLSchema`` objects in ``schemas``, the XPath bounds in ``codec``, signxml's XML Signature schema —
must neither corrupt memory nor let one message's outcome leak into another's. Each test computes what every
input gives when run alone, then runs the inputs from several threads started together and compares.

A native crash in any of this must leave every thread's stack in the CI log: pytest's faulthandler covers
this process, and ``conftest.py`` sets ``PYTHONFAULTHANDLER`` for the gateway and CLI processes tests start.
"""

from __future__ import annotations

import datetime as dt
import faulthandler
import functools
import os
import random
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from picexchange import codec, exchange, schemas
from picexchange.errors import MessageError
from picexchange.models.envelope import Envelope, Error, Receipt, UtilityBlock, utility_block_of
from picexchange.testpki import TestPki, make_test_pki
from picexchange.trust import Identity, TrustStore

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
THREADS = 8
# One sender and one receiver per Utility Block: who may send what follows the participant's role.
ROUTES = {UtilityBlock.PIC: ("AU:DCCEEW", "MY:DOE"), UtilityBlock.EXPORT: ("AU:ABF", "MY:RMCD")}

Job = tuple[str, Callable[[], str]]


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_test_pki(
        [*ROUTES[UtilityBlock.PIC], *ROUTES[UtilityBlock.EXPORT]],
        not_before=NOW - dt.timedelta(days=30),
        not_after=NOW + dt.timedelta(days=30),
    )


def _outcome(call: Callable[[], object]) -> str:
    """Return a text naming the outcome of ``call`` in full: its result, or its error with every detail."""
    try:
        return repr(call())
    except MessageError as exc:
        issues = exc.issues
        return f"{exc.code} {exc.message_id} {exc.path} {exc.line} {exc.text} {issues!r}"


def _job(name: str, call: Callable[[], object]) -> Job:
    return name, functools.partial(_outcome, call)


def validation_jobs() -> list[Job]:
    """Return schema validation of every invalid and every valid sample."""
    files = sorted((SAMPLES / "invalid").glob("*.xml")) + sorted((SAMPLES / "messages").glob("*.xml"))
    return [
        _job(f"validate {path.parent.name}/{path.name}", functools.partial(schemas.validate, path.read_bytes()))
        for path in files
    ]


def _round_trip(sealed: exchange.Sealed, *, receiver: Identity, sender: Identity, trust: TrustStore) -> object:
    inbound = exchange.accept(sealed.raw, me=receiver, trust=trust, now=NOW)
    # A fixed receipt id, so the same input gives the same receipt bytes in every thread.
    receipt_id = uuid.uuid5(uuid.NAMESPACE_URL, inbound.digest)
    receipt = exchange.receipt_for(inbound, me=receiver, now=NOW, message_id=receipt_id)
    answered = exchange.read_reply(receipt.raw, sent=sealed, me=sender, trust=trust, now=NOW)
    return inbound.envelope, inbound.digest, receipt.raw, answered.receipt


def exchange_jobs(pki: TestPki) -> list[Job]:
    """Return accept + receipt + read_reply of every sample, and three refused variants of each."""
    trust = pki.trust()
    jobs: list[Job] = []
    for index, path in enumerate(sorted((SAMPLES / "messages").glob("*.xml"))):
        document = codec.from_xml(path.read_bytes(), Envelope).document
        if isinstance(document, Receipt | Error):
            continue  # transport replies answer a message; accept refuses them as messages
        block = utility_block_of(type(document))
        assert block is not None
        sender, receiver = (pki[name].identity for name in ROUTES[block])
        sealed = exchange.seal(document, me=sender, to=receiver.participant, now=NOW)
        jobs.append(
            _job(
                f"accept {path.name}",
                functools.partial(_round_trip, sealed, receiver=receiver, sender=sender, trust=trust),
            )
        )
        refused = {
            # A signed byte changed: the digest no longer matches.
            "changed": sealed.raw.replace(b"</env:ConversationId>", b"X</env:ConversationId>", 1),
            # A signature value that is not base64, different in every message: its schema error names it.
            "garbage signature": re.sub(
                rb"<ds:SignatureValue>[^<]*<", b"<ds:SignatureValue>@@%d@@<" % index, sealed.raw, count=1
            ),
            # A Receiver that is not us: refused before the signature, naming the Receiver.
            "misrouted": sealed.raw.replace(
                f"<env:Receiver>{receiver.participant}<".encode(), f"<env:Receiver>ZZ:X{index}<".encode(), 1
            ),
        }
        for kind, raw in refused.items():
            assert raw != sealed.raw
            accept = functools.partial(exchange.accept, raw, me=receiver, trust=trust, now=NOW)
            jobs.append(_job(f"{kind} {path.name}", accept))
    return jobs


def run_together(jobs: list[Job], *, threads: int = THREADS, rounds: int = 1) -> dict[str, set[str]]:
    """Run every job ``rounds`` times in each of ``threads`` threads, each in its own order; return the outcomes."""
    seen: dict[str, set[str]] = {name: set() for name, _ in jobs}
    lock = threading.Lock()
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def worker(seed: int) -> None:
        order = random.Random(seed).sample(jobs, len(jobs))
        try:
            start.wait()
            for _ in range(rounds):
                for name, run in order:
                    outcome = run()
                    with lock:
                        seen[name].add(outcome)
        except BaseException as exc:  # reported below: an exception in a thread must fail the test
            failures.append(exc)

    workers = [threading.Thread(target=worker, args=(seed,), name=f"stress-{seed}") for seed in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert not failures, failures
    return seen


def differences(jobs: list[Job], seen: dict[str, set[str]]) -> dict[str, list[str]]:
    """Return, per job, the outcomes seen that differ from the job's outcome when run alone (after the run)."""
    expected = {name: run() for name, run in jobs}
    return {name: sorted(found - {expected[name]}) for name, found in seen.items() if found != {expected[name]}}


def test_threads_validating_at_once_each_get_the_issues_of_their_own_document() -> None:
    """A compiled XMLSchema keeps one error log: concurrent validations must not read each other's issues."""
    jobs = validation_jobs()
    seen = run_together(jobs, rounds=4)
    assert differences(jobs, seen) == {}


def test_threads_accepting_and_receipting_at_once_each_get_their_own_outcome(pki: TestPki) -> None:
    """Accept, receipt and reply of every sample, and refusals that name their own message, from 8 threads."""
    jobs = exchange_jobs(pki) + validation_jobs()
    seen = run_together(jobs)
    assert differences(jobs, seen) == {}


_COLD_START = """
import sys, threading
from pathlib import Path
from picexchange import schemas

files = sys.argv[1:]
raws = [Path(name).read_bytes() for name in files]
start = threading.Barrier(16)
results = {}

def worker(index):
    start.wait()  # every thread's first validation compiles the schemas at the same moment
    for offset in range(len(raws)):
        position = (index + offset) % len(raws)
        results[(index, position)] = repr(schemas.validate(raws[position]))

threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
for position in range(len(raws)):
    print(len({results[(index, position)] for index in range(16)}), results[(0, position)])
"""


def test_a_fresh_process_whose_first_validations_race_gets_every_result_right() -> None:
    """After a restart under a backlog, 16 threads compile and use the schemas at once (a process of its own)."""
    files = sorted((SAMPLES / "invalid").glob("*.xml"))[:8] + sorted((SAMPLES / "messages").glob("*.xml"))[:8]
    done = subprocess.run(  # noqa: S603 -- our own interpreter and a fixed program
        [sys.executable, "-X", "faulthandler", "-c", _COLD_START, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.splitlines()
    assert lines == [f"1 {schemas.validate(path.read_bytes())!r}" for path in files]


def test_faulthandler_is_on_in_the_test_process() -> None:
    """pytest's faulthandler plugin must stay on (no ``-p no:faulthandler``): a native crash shows the stacks."""
    assert faulthandler.is_enabled()


def test_a_native_crash_in_a_process_a_test_starts_prints_every_threads_stack() -> None:
    """Gateway and CLI processes inherit PYTHONFAULTHANDLER from conftest: a crash names every thread's frames."""
    program = (
        "import faulthandler, threading, time\n"
        "def waiting_worker():\n"
        "    time.sleep(60)\n"
        "threading.Thread(target=waiting_worker, daemon=True).start()\n"
        "time.sleep(0.2)\n"
        "faulthandler._sigsegv()\n"
    )
    done = subprocess.run(  # noqa: S603 -- our own interpreter and a fixed program
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False, env=dict(os.environ)
    )
    assert done.returncode != 0
    assert "Fatal Python error: Segmentation fault" in done.stderr
    assert "waiting_worker" in done.stderr  # the other thread's stack, not only the crashing one


def test_each_thread_validates_with_its_own_compiled_schema() -> None:
    """No compiled schema (nor its error log) is shared, so no thread waits for another's validation.

    With one shared schema behind a lock, a small Notification's full check waited up to 2 s while another
    thread validated 10 MB ExportData documents (benchmarks/bench_threads.py); with one per thread, 5 ms.
    """
    envelope: list[object] = []
    full: list[object] = []

    def compile_and_keep() -> None:
        envelope.append(schemas._compiled("envelope"))
        full.append(schemas._compiled("full"))
        assert schemas._compiled("full") is full[-1]  # compiled once per thread, then reused

    workers = [threading.Thread(target=compile_and_keep) for _ in range(3)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert len({id(schema) for schema in envelope}) == len({id(schema) for schema in full}) == 3
