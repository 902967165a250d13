"""Replay a sample flow: one gateway per Single Window, a simulated clock, every step checked.

:func:`replay` starts a real gateway for each Single Window of a flow (SQLite store, test PKI, loopback) with a
:class:`SimulatedClock` they all read, so that sixty days pass at once: before each step the clock jumps to the
step's day, and every Created stamp, certificate check, consent date and deadline sees that day. Each step's
message goes out with a fresh MessageId and a Created of the moment it is sent, either

- through the sender's back office (``via = "back-office"``): the sender's Single Window checks the case and
  may refuse the submission (``422 case-violation``), or its outbox delivers the message and keeps the
  receiver's signed Receipt; or
- straight to the receiver's partner endpoint (``via = "partner"``), signed with the sender's test key, as a
  Single Window that does not check cases would; ``tamper`` changes the signed bytes first; ``redeliver``
  posts an earlier step's signed bytes again.

Then the step's expectation is checked: the outcome (receipted for exactly the bytes sent, or refused with the
code and rule ids expected), the automatic ClearanceResult the sender's Customs must receive, and the PIC case
as the receiving (or named) Single Window shows it. The first step that does not meet its expectation ends
the flow; the steps after it are reported as skipped. TEST ONLY, like :mod:`picexchange.testing`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from picexchange import codec, exchange
from picexchange.cases import CasePolicy
from picexchange.errors import PicExchangeError, RemoteError
from picexchange.flowspec import FlowStep, LoadedFlow
from picexchange.models.envelope import Envelope, Receipt
from picexchange.models.export import ClearanceResult
from picexchange.testing import GatewayNetwork, GatewayNode, gateway_network

__all__ = ["FlowResult", "SimulatedClock", "StepResult", "replay"]

#: How long (real seconds) a step may wait for a delivery or an automatic answer.
STEP_TIMEOUT = 30.0


class SimulatedClock:
    """A clock that stands on a chosen day and runs at real speed within it (callable: aware UTC now).

    Days only go forward: :meth:`advance_to` a later day starts that day's clock at ``start`` + ``day`` days;
    an earlier or the same day leaves the clock running.
    """

    def __init__(self, start: dt.datetime) -> None:
        self._start = start
        self._day = 0
        self._since = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        """Return the simulated now."""
        with self._lock:
            return self._start + dt.timedelta(days=self._day, seconds=time.monotonic() - self._since)

    @property
    def day(self) -> int:
        """Return the simulated day (days after the start)."""
        return self._day

    def advance_to(self, day: int) -> None:
        """Jump to the start of ``day`` if it is later than the current one."""
        with self._lock:
            if day > self._day:
                self._day = day
                self._since = time.monotonic()


@dataclass(frozen=True, slots=True, kw_only=True)
class StepResult:
    """What became of one step.

    Attributes:
        number: the step's number (1-based).
        name: the step's name.
        day: its simulated day.
        line: its line in the manifest.
        ok: whether it met its expectation.
        skipped: not run, because a step before it failed.
        expected: the expectation, in words.
        happened: what happened, in words.
        seconds: real time the step took.
        message_id: the id of the message sent, if one was.

    """

    number: int
    name: str
    day: int
    line: int
    ok: bool
    skipped: bool = False
    expected: str
    happened: str
    seconds: float = 0.0
    message_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowResult:
    """A replayed flow: its steps' results in order."""

    name: str
    title: str
    source: str
    steps: tuple[StepResult, ...]

    @property
    def ok(self) -> bool:
        """Return whether every step met its expectation."""
        return all(step.ok for step in self.steps)


class _Failed(Exception):
    """A step did not meet its expectation: ``happened`` says what happened instead."""

    def __init__(self, happened: str) -> None:
        super().__init__(happened)
        self.happened = happened


@dataclass(slots=True)
class _Sent:
    message_id: str
    receiver: str
    raw: bytes | None = None


@dataclass(slots=True)
class _Outcome:
    message_id: str | None
    refused: bool
    code: str | None = None
    rules: tuple[str, ...] = ()
    text: str = ""
    raw: bytes | None = None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if not self.refused:
            return f"receipted ({self.message_id})"
        rules = f" [{', '.join(self.rules)}]" if self.rules else ""
        return f"refused: {self.code}{rules}{': ' + self.text if self.text else ''}"


def expectation_text(step: FlowStep) -> str:
    """Return a step's expectation in words."""
    expect = step.expect
    parts: list[str] = [expect.outcome]
    if expect.error:
        parts[0] += f" with {expect.error}"
    if expect.rules:
        parts.append(f"rules {', '.join(expect.rules)}")
    if expect.clearance:
        found = f" with findings {', '.join(expect.findings)}" if expect.findings else ""
        parts.append(f"a ClearanceResult {expect.clearance}{found}")
    if expect.case is not None:
        shown = expect.case.model_dump(exclude_none=True, exclude_defaults=True)
        parts.append("case " + ", ".join(f"{key} = {json.dumps(value)}" for key, value in shown.items()))
    return "; ".join(parts)


def replay(
    flow: LoadedFlow,
    directory: Path,
    *,
    on_step: Callable[[StepResult], None] = lambda result: None,
) -> FlowResult:
    """Replay ``flow`` with its gateways' stores in ``directory``; return every step's result.

    Args:
        flow: a flow checked by :func:`picexchange.flowspec.load_flow`.
        directory: an empty folder for the stores (left as it is afterwards).
        on_step: called after each step, for live output.

    """
    manifest = flow.manifest
    start = dt.datetime.combine(manifest.start, dt.time(1), tzinfo=dt.UTC)
    clock = SimulatedClock(start)
    last_day = max(step.day for step in manifest.step)
    results: list[StepResult] = []
    directory.mkdir(parents=True, exist_ok=True)
    with gateway_network(
        directory,
        list(manifest.single_windows.values()),
        clock=clock,
        valid_until=start + dt.timedelta(days=last_day + 60),
        case_policy=CasePolicy(waived_written_consent=manifest.waived_written_consent),
    ) as network:
        run = _Run(flow, network, clock)
        failed = False
        for number, step in enumerate(manifest.step, start=1):
            line = flow.lines.get(number, 0)
            expected = expectation_text(step)
            if failed:
                result = StepResult(
                    number=number,
                    name=step.name,
                    day=step.day,
                    line=line,
                    ok=False,
                    skipped=True,
                    expected=expected,
                    happened="not run: a step before it failed",
                )
            else:
                clock.advance_to(step.day)
                began = time.monotonic()
                message_id: str | None = None
                try:
                    message_id, happened = run.step(number, step)
                    ok = True
                except _Failed as exc:
                    ok, happened = False, exc.happened
                failed = not ok
                result = StepResult(
                    number=number,
                    name=step.name,
                    day=step.day,
                    line=line,
                    ok=ok,
                    expected=expected,
                    happened=happened,
                    seconds=time.monotonic() - began,
                    message_id=message_id,
                )
            results.append(result)
            on_step(result)
    return FlowResult(name=manifest.name, title=manifest.title, source=flow.source, steps=tuple(results))


class _Run:
    """The state of one replay: the network, the clock and what each step sent."""

    def __init__(self, flow: LoadedFlow, network: GatewayNetwork, clock: SimulatedClock) -> None:
        self.flow = flow
        self.network = network
        self.clock = clock
        self.sent: dict[int, _Sent] = {}

    def step(self, number: int, step: FlowStep) -> tuple[str | None, str]:
        """Run one step; return its message id and what happened; raise :class:`_Failed` if unmet."""
        try:
            if step.redeliver is not None:
                outcome = self._redeliver(step)
            elif step.via == "partner":
                outcome = self._post(number, step)
            else:
                outcome = self._submit(number, step)
        except (httpx.HTTPError, PicExchangeError) as exc:
            raise _Failed(f"{type(exc).__name__}: {exc}") from exc
        if outcome.message_id is not None and not outcome.refused:
            self.sent[number] = _Sent(outcome.message_id, step.receiver, outcome.raw)
        expect = step.expect
        happened = [outcome.describe()]
        if (expect.outcome == "refused") != outcome.refused:
            raise _Failed("; ".join(happened))
        if outcome.refused:
            if expect.error is not None and outcome.code != expect.error:
                raise _Failed("; ".join(happened))
            missing = [rule for rule in expect.rules if rule not in outcome.rules]
            if missing:
                raise _Failed(f"{outcome.describe()} (missing {', '.join(missing)})")
        if expect.clearance is not None and outcome.message_id is not None:
            happened.append(self._clearance(step, outcome.message_id))
        if expect.case is not None:
            happened.append(self._case(step))
        return outcome.message_id, "; ".join(happened)

    # ------------------------------------------------------------------------------------ sending

    def _ref_to(self, step: FlowStep) -> str | None:
        if step.answers is None:
            return None
        earlier = self.sent.get(step.answers)
        if earlier is None:
            raise _Failed(f"step {step.answers}, which this step answers, sent nothing that was receipted")
        return earlier.message_id

    def _submit(self, number: int, step: FlowStep) -> _Outcome:
        node = self.network.of(step.sender)
        document = self.flow.messages[number].document
        body: dict[str, Any] = {
            "receiver": step.receiver,
            "document": json.loads(codec.to_json(document)),
            "ref_to_message_id": self._ref_to(step),
            "sender": step.sender,
        }
        response = node.http.post("/api/v1/outbox", json=body)
        if response.status_code != 202:
            problem = _json(response)
            rules = tuple(str(item.get("rule_id")) for item in problem.get("issues", []) if item.get("rule_id"))
            code = str(problem.get("code", response.status_code))
            return _Outcome(None, refused=True, code=code, rules=rules, text=f"HTTP {response.status_code}")
        queued = response.json()
        message_id = str(queued["message_id"])
        status = self._final(node, message_id)
        if status["state"] != "receipted":
            text = str(status.get("last_error") or "")
            code = text.split(":", 1)[0] if text else status["state"]
            return _Outcome(message_id, refused=True, code=code, text=text)
        receipt = codec.from_xml(str(status["receipt_xml"]).encode("utf-8"), Envelope)
        document_of_receipt = receipt.document
        if not isinstance(document_of_receipt, Receipt) or receipt.header.sender != step.receiver:
            raise _Failed(f"message {message_id} was receipted by {receipt.header.sender}, not {step.receiver}")
        if document_of_receipt.received_digest.value != queued["digest"]:
            raise _Failed(f"the receipt of {message_id} quotes another digest than the bytes sent")
        return _Outcome(message_id, refused=False)

    def _final(self, node: GatewayNode, message_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            status = node.status(message_id)
            if status["final"]:
                return status
            if time.monotonic() > deadline:
                raise _Failed(f"message {message_id} still {status['state']} after {STEP_TIMEOUT:.0f} s")
            time.sleep(0.02)

    def _post(self, number: int, step: FlowStep) -> _Outcome:
        identity = self.network.pki[step.sender].identity
        ref_to = self._ref_to(step)
        sealed = exchange.seal(
            self.flow.messages[number].document,
            me=identity,
            to=step.receiver,
            now=self.clock(),
            ref_to=None if ref_to is None else _uuid(ref_to),
        )
        raw = _tampered(sealed.raw) if step.tamper else sealed.raw
        return self._deliver(step, exchange.Sealed(envelope=sealed.envelope, raw=raw, digest=exchange.digest_of(raw)))

    def _redeliver(self, step: FlowStep) -> _Outcome:
        assert step.redeliver is not None  # noqa: S101 - the loader checked it
        earlier = self.sent.get(step.redeliver)
        if earlier is None:
            raise _Failed(f"step {step.redeliver} delivered nothing to redeliver")
        raw = earlier.raw if earlier.raw is not None else self._received_bytes(step.receiver, earlier.message_id)
        envelope = codec.from_xml(raw, Envelope)
        outcome = self._deliver(step, exchange.Sealed(envelope=envelope, raw=raw, digest=exchange.digest_of(raw)))
        if outcome.message_id != earlier.message_id:
            raise _Failed(f"the redelivery answered {outcome.message_id}, not {earlier.message_id}")
        return outcome

    def _received_bytes(self, receiver: str, message_id: str) -> bytes:
        for entry in self._inbox(self.network.of(receiver)):
            if entry["message_id"] == message_id:
                return str(entry["xml"]).encode("utf-8")
        raise _Failed(f"message {message_id} is not in the inbox of {receiver}'s Single Window")

    def _deliver(self, step: FlowStep, sealed: exchange.Sealed) -> _Outcome:
        target = self.network.of(step.receiver)
        sender = self.network.of(step.sender)
        response = httpx.post(
            f"{target.url}/ub/v1/messages",
            content=sealed.raw,
            headers={"Content-Type": "application/xml"},
            timeout=STEP_TIMEOUT,
        )
        message_id = str(sealed.message_id)
        try:
            exchange.read_reply(
                response.content,
                sent=sealed,
                me=self.network.pki[step.sender].identity,
                trust=sender.running.gateway.trust,
                now=self.clock(),
            )
        except RemoteError as exc:
            rules = tuple(issue.rule_id for issue in exc.issues if issue.rule_id)
            return _Outcome(message_id, refused=True, code=exc.code, rules=rules, text=str(exc))
        return _Outcome(message_id, refused=False, raw=sealed.raw)

    # ------------------------------------------------------------------------------------ checking

    def _inbox(self, node: GatewayNode) -> Iterator[dict[str, Any]]:
        since = 0
        while True:
            page = node.inbox(since=since, limit=100)
            yield from page["messages"]
            if not page["has_more"]:
                return
            since = page["next"]

    def _clearance(self, step: FlowStep, message_id: str) -> str:
        expect = step.expect
        node = self.network.of(step.sender)
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            for entry in self._inbox(node):
                if entry["message_type"] == "ClearanceResult" and entry["ref_to_message_id"] == message_id:
                    result = codec.from_xml(str(entry["xml"]).encode("utf-8"), Envelope).document
                    assert isinstance(result, ClearanceResult)  # noqa: S101 - its message type says so
                    rules = [item.rule_id for item in result.finding]
                    found = f"ClearanceResult {result.status.value} [{', '.join(rules)}] from {entry['sender']}"
                    missing = [rule for rule in expect.findings if rule not in rules]
                    if result.status.value != expect.clearance or missing:
                        raise _Failed(found)
                    return found
            if time.monotonic() > deadline:
                raise _Failed(f"no ClearanceResult answered {message_id} within {STEP_TIMEOUT:.0f} s")
            time.sleep(0.05)

    def _case(self, step: FlowStep) -> str:
        expected = step.expect.case
        assert expected is not None  # noqa: S101 - the caller checked it
        manifest = self.flow.manifest
        country = expected.single_window or manifest.single_window_of(step.receiver)
        node = self.network.of(manifest.single_windows[str(country)][0])
        response = node.http.get(f"/api/v1/cases/{manifest.notification}")
        if response.status_code == 404:
            raise _Failed(f"Single Window {country} has no case {manifest.notification}")
        response.raise_for_status()
        shown = response.json()
        summary, case = shown["summary"], shown["case"]
        actual: dict[str, Any] = {
            "state": summary["state"],
            "blocked": summary["blocked"],
            "shipments_used": summary["shipments_used"],
            "shipments": tuple(item["state"] for item in case.get("shipments", [])),
            "decisions": {item["country"]: item["decision"] for item in case.get("states", [])},
        }
        wrong = []
        for key in ("state", "blocked", "shipments_used", "shipments"):
            want = getattr(expected, key)
            if want is not None and actual[key] != want:
                wrong.append(f"{key} = {json.dumps(actual[key])}")
        for state, decision in expected.decisions.items():
            if actual["decisions"].get(state) != decision:
                wrong.append(f"decision of {state} = {json.dumps(actual['decisions'].get(state))}")
        seen = (
            f"case at {country}: {actual['state']}, {'blocked' if actual['blocked'] else 'not blocked'}, "
            f"{actual['shipments_used']} shipment(s) used"
        )
        if wrong:
            raise _Failed(f"{seen}; but {', '.join(wrong)}")
        return seen


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {"code": str(response.status_code)}
    return data if isinstance(data, dict) else {"code": str(response.status_code)}


def _uuid(text: str) -> uuid.UUID:
    return uuid.UUID(text)


_FIRST_NUMBER = re.compile(rb">(\d)")


def _tampered(raw: bytes) -> bytes:
    """Return ``raw`` with the first digit of the Body's text changed, as a forger would after signing."""
    body = raw.find(b"Body")
    match = _FIRST_NUMBER.search(raw, body if body >= 0 else 0)
    if match is None:  # pragma: no cover - every business document carries a number
        return raw.replace(b"</", b" </", 1)
    digit = match.group(1)[0] - ord("0")
    return raw[: match.start(1)] + str((digit + 1) % 10).encode("ascii") + raw[match.end(1) :]
