"""A sample flow as data: its manifest (``flow.toml``) as a typed model, and the loader that checks it.

A flow is a PIC case played between Single Windows, step by step, with what each step must lead to. Its folder
holds ``flow.toml`` and one envelope file per message sent. The manifest names the Single Windows and the
participants each hosts, then the steps in order::

    name = "plastic-au-my"
    title = "Plastic waste (Y48 PET flakes), Australia to Malaysia"
    based_on = "what the flow rests on: the law, the States' published policies"
    notification = "AU2026-0107"
    start = 2026-02-02                      # day 0 of the simulated clock (midnight UTC)

    [single_windows]
    AU = ["AU:DCCEEW", "AU:ABF"]
    MY = ["MY:DOE", "MY:RMCD"]

    [waived_written_consent]                # optional: transit competent authorities that waived written
    "KR:ME" = 60                            # consent (Art. 6(4)), with their tacit-consent period in days

    [[step]]
    name = "AU:DCCEEW notifies MY:DOE"
    day = 0                                 # simulated days after start; never backwards
    from = "AU:DCCEEW"
    to = "MY:DOE"
    message = "01-notification.xml"         # or: redeliver = 3 (post step 3's signed bytes again)
    via = "back-office"                     # or "partner": signed and posted straight to the receiver
    tamper = false                          # with via = "partner": change the bytes after signing
    answers = 1                             # optional: the step whose message this one answers
    expect.outcome = "receipted"            # or "refused"
    expect.error = "case-violation"         # the refusal's code (back office problem or signed Error)
    expect.rules = ["export.case.unknown"]  # rule ids the refusal must list
    expect.clearance = "held"               # an automatic ClearanceResult the sender must get
    expect.findings = ["pic.consent.missing"]
    expect.case.state = "notified"          # the case at the receiving Single Window after the step
    expect.case.blocked = true
    expect.case.shipments_used = 1
    expect.case.shipments = ["exported"]
    expect.case.decisions = { MY = "consented" }
    expect.case.single_window = "AU"        # read the case at another Single Window

:func:`load_flow` reads a folder (packaged or on disk) and refuses a manifest that cannot be replayed — an
unknown participant, a missing or invalid message file, a step going back in time — with a
:class:`~picexchange.errors.FlowError` reading ``file:line: message``, before anything is sent.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from picexchange import codec
from picexchange.errors import FlowError, MessageError
from picexchange.models.envelope import Envelope
from picexchange.models.export import ExportData

__all__ = [
    "CaseExpectation",
    "Expectation",
    "FlowManifest",
    "FlowStep",
    "LoadedFlow",
    "load_flow",
]

_PARTICIPANT = re.compile(r"[A-Z]{2}:[A-Z0-9][A-Z0-9_-]*")
_KEY_LINE = re.compile(r'^\s*("[^"]+"|[A-Za-z0-9_.-]+)\s*=')
_TOML_PLACE = re.compile(r"\s*\(at line (\d+), column \d+\)")
_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, populate_by_name=True)


class CaseExpectation(_Strict):
    """What the PIC case must show after a step (each key optional; only those given are checked)."""

    single_window: str | None = None
    """The Single Window (its key in ``[single_windows]``) whose case view is read; the receiver's by default."""
    state: Literal["awaited", "notified", "cancelled"] | None = None
    """The notification's state."""
    blocked: bool | None = None
    """Whether a violation stops a new shipment."""
    shipments_used: Annotated[int, Field(ge=0)] | None = None
    """Shipments exported so far."""
    shipments: Annotated[tuple[str, ...], Field(strict=False)] | None = None
    """Each shipment's state, in serial order (``exported``, ``held``, ``received``, ``disposed``, ...)."""
    decisions: dict[str, str] = {}
    """A State's decision by country (``consented``, ``objected``, ``withdrawn``, ...)."""


class Expectation(_Strict):
    """The expected outcome of one step."""

    outcome: Literal["receipted", "refused"] = "receipted"
    """``receipted``: the receiver's signed Receipt for exactly the bytes sent; ``refused``: a refusal."""
    error: str | None = None
    """The refusal's code: ``case-violation`` from the sender's back office, or the signed Error's code."""
    rules: Annotated[tuple[str, ...], Field(strict=False)] = ()
    """Rule ids the refusal must list (each must be among them)."""
    clearance: Literal["held", "released"] | None = None
    """The ClearanceResult the receiving Customs must answer an ExportData with, automatically."""
    findings: Annotated[tuple[str, ...], Field(strict=False)] = ()
    """Rule ids that ClearanceResult's findings must include."""
    case: CaseExpectation | None = None
    """The case after the step."""


class FlowStep(_Strict):
    """One step: who sends which message to whom, on which simulated day, and what must come of it."""

    name: Annotated[str, Field(min_length=1)]
    """What the step does, in a sentence (the JUnit test case's name)."""
    day: Annotated[int, Field(ge=0)]
    """Simulated days after the flow's start."""
    sender: str = Field(alias="from")
    """The sending participant."""
    receiver: str = Field(alias="to")
    """The receiving participant."""
    message: str | None = None
    """The message file (an envelope; its document is sent with a fresh id and Created)."""
    redeliver: Annotated[int, Field(ge=1)] | None = None
    """Post the signed bytes of this earlier step to its receiver again."""
    via: Literal["back-office", "partner"] = "back-office"
    """``back-office``: submitted to the sender's Single Window; ``partner``: signed and posted straight to the
    receiver's partner endpoint, as a Single Window that does not check cases would."""
    tamper: bool = False
    """Change the signed bytes before posting (``via = "partner"`` only)."""
    answers: Annotated[int, Field(ge=1)] | None = None
    """The earlier step whose message this one answers (its RefToMessageId)."""
    expect: Expectation = Expectation()
    """What must come of the step."""


class FlowManifest(_Strict):
    """A flow's ``flow.toml``."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    """The flow's name (its folder's)."""
    title: Annotated[str, Field(min_length=1)]
    """One line saying what the flow shows."""
    based_on: Annotated[str, Field(min_length=1)]
    """What the flow rests on: the Convention's articles, the States' published policies."""
    notification: Annotated[str, Field(min_length=1)]
    """The notification number of the case the flow plays."""
    start: dt.date
    """Day 0 of the simulated clock (midnight UTC)."""
    single_windows: dict[str, Annotated[tuple[str, ...], Field(strict=False)]]
    """Each Single Window (by country) and the participants it hosts, the first being its own."""
    waived_written_consent: dict[str, Annotated[int, Field(ge=1, le=60)]] = {}
    """Competent authorities of transit Parties that waived written consent (Art. 6(4)), each with the days after
    its complete acknowledgement after which it is deemed to consent; every Single Window of the replay applies
    it, as each would read it from its registry (``deemed_consent_days``)."""
    step: Annotated[tuple[FlowStep, ...], Field(min_length=1, strict=False)]
    """The steps in order."""

    def single_window_of(self, participant: str) -> str | None:
        """Return the Single Window hosting ``participant``, or None."""
        for country, hosts in self.single_windows.items():
            if participant in hosts:
                return country
        return None


@dataclass(frozen=True, slots=True)
class LoadedFlow:
    """A checked flow, ready to replay.

    Attributes:
        manifest: the manifest.
        source: the manifest's name for messages (``<folder>/flow.toml``).
        messages: each step's message (by step number, 1-based; redeliveries have none).
        lines: each step's line in the manifest (by step number).

    """

    manifest: FlowManifest
    source: str
    messages: dict[int, Envelope]
    lines: dict[int, int]

    @property
    def name(self) -> str:
        """Return the flow's name."""
        return self.manifest.name


class _Lines:
    """Where each key of a manifest is written: the line of a key path, or of the nearest table above it."""

    def __init__(self, text: str) -> None:
        self.keys: dict[tuple[str | int, ...], int] = {}
        counts: dict[str, int] = {}
        table: tuple[str | int, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                parts: tuple[str | int, ...] = tuple(header.group(2).split("."))
                if header.group(1) == "[[":
                    name = header.group(2)
                    counts[name] = counts.get(name, 0) + 1
                    parts = (*parts, counts[name] - 1)
                table = parts
                self.keys.setdefault(table, number)
                continue
            key = _KEY_LINE.match(line)
            if key:
                written = key.group(1)
                # A quoted key ("KR:ME") is one key, dots and colons included.
                parts = (written[1:-1],) if written.startswith('"') else tuple(written.split("."))
                path = (*table, *parts)
                for end in range(len(table) + 1, len(path) + 1):
                    self.keys.setdefault(path[:end], number)

    def of(self, location: tuple[str | int, ...]) -> int | None:
        """Return the line of ``location`` (pydantic's loc), or of the closest enclosing key written."""
        for end in range(len(location), 0, -1):
            line = self.keys.get(tuple(location[:end]))
            if line is not None:
                return line
        return None


_ALIASES = {"sender": "from", "receiver": "to"}


def _where(location: tuple[str | int, ...]) -> str:
    words: list[str] = []
    for part in location:
        if isinstance(part, int):
            words[-1] = f"{words[-1]}[{part + 1}]" if words else f"[{part + 1}]"
        else:
            words.append(_ALIASES.get(part, part))
    return ".".join(words)


def load_flow(folder: Traversable, *, display: str | None = None) -> LoadedFlow:
    """Read and check the flow in ``folder`` (its ``flow.toml`` and message files).

    Args:
        folder: the flow's folder, packaged (:func:`picexchange.resources.flow_folder`) or a path on disk.
        display: how to name the folder in messages (its name by default).

    Raises:
        FlowError: ``file:line: message`` for the first thing that makes the flow impossible to replay.

    """
    base = display if display is not None else folder.name
    source = f"{base}/flow.toml"
    manifest_file = folder.joinpath("flow.toml")
    if not manifest_file.is_file():
        raise FlowError("no flow.toml: a flow's folder holds its manifest and message files", source=source)
    try:
        text = manifest_file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlowError(f"not UTF-8 text ({exc.reason})", source=source) from exc
    lines = _Lines(text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11 writes the place into the text only: "Invalid value (at line 2, column 9)".
        place = _TOML_PLACE.search(str(exc))
        reason = _TOML_PLACE.sub("", str(exc)).strip()
        raise FlowError(
            f"not valid TOML: {reason}", source=source, line=int(place.group(1)) if place else None
        ) from exc
    try:
        manifest = FlowManifest.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = tuple(error["loc"])
        where = _where(location)
        raise FlowError(
            f"{where}: {error['msg']}" if where else error["msg"], source=source, line=lines.of(location)
        ) from exc

    def fail(text: str, *location: str | int) -> FlowError:
        return FlowError(text, source=source, line=lines.of(location))

    hosted: dict[str, str] = {}
    for country, hosts in manifest.single_windows.items():
        for participant in hosts:
            if not _PARTICIPANT.fullmatch(participant):
                raise fail(
                    f"{participant!r} is not a participant id (COUNTRY:NAME, e.g. AU:ABF)", "single_windows", country
                )
            if participant[:2] != country:
                raise fail(
                    f"{participant} is not of {country}: a Single Window hosts its own country's participants",
                    "single_windows",
                    country,
                )
            if participant in hosted:
                raise fail(
                    f"{participant} is hosted twice ({hosted[participant]} and {country})", "single_windows", country
                )
            hosted[participant] = country
        if not hosts:
            raise fail(f"Single Window {country} hosts no participant", "single_windows", country)
    if len(manifest.single_windows) < 2:
        raise fail("a flow needs at least two Single Windows", "single_windows")
    for participant in manifest.waived_written_consent:
        if participant not in hosted:
            known = ", ".join(sorted(hosted))
            raise fail(
                f"{participant} waived written consent but is hosted by no Single Window; hosted: {known}",
                "waived_written_consent",
                participant,
            )

    messages: dict[int, Envelope] = {}
    step_lines: dict[int, int] = {}
    previous_day = 0
    for index, step in enumerate(manifest.step):
        number = index + 1
        step_lines[number] = lines.of(("step", index)) or 0

        def at(*keys: str, index: int = index) -> tuple[str | int, ...]:
            return ("step", index, *keys)

        for key, participant in (("from", step.sender), ("to", step.receiver)):
            if participant not in hosted:
                known = ", ".join(sorted(hosted))
                raise fail(f"step {number}: unknown participant {participant}; hosted: {known}", *at(key))
        if hosted[step.sender] == hosted[step.receiver]:
            raise fail(
                f"step {number}: {step.sender} and {step.receiver} are both hosted by Single Window "
                f"{hosted[step.sender]}; a flow's messages go between Single Windows",
                *at("to"),
            )
        if step.day < previous_day:
            raise fail(
                f"step {number}: day {step.day} is before the day of the step before it ({previous_day})", *at("day")
            )
        previous_day = step.day
        if (step.message is None) == (step.redeliver is None):
            raise fail(f"step {number}: give either message (a file to send) or redeliver (an earlier step)", *at())
        if step.tamper and step.via != "partner":
            raise fail(
                f'step {number}: tamper needs via = "partner" (the bytes are changed after signing)', *at("tamper")
            )
        for key, earlier in (("redeliver", step.redeliver), ("answers", step.answers)):
            if earlier is not None and not 1 <= earlier < number:
                raise fail(f"step {number}: {key} = {earlier} is not an earlier step", *at(key))
        if step.redeliver is not None:
            original = manifest.step[step.redeliver - 1]
            if original.redeliver is not None or original.expect.outcome != "receipted":
                raise fail(
                    f"step {number}: step {step.redeliver} delivered nothing to redeliver "
                    "(it must send a message that is receipted)",
                    *at("redeliver"),
                )
            if (original.sender, original.receiver) != (step.sender, step.receiver):
                raise fail(f"step {number}: a redelivery goes from and to whom step {step.redeliver} went", *at("to"))
        expect = step.expect
        if expect.outcome == "refused" and expect.error is None:
            raise fail(f"step {number}: a refusal needs expect.error (its code)", *at("expect", "outcome"))
        if expect.outcome == "receipted" and (expect.error is not None or expect.rules):
            raise fail(f"step {number}: expect.error and expect.rules describe a refusal", *at("expect", "error"))
        if expect.findings and expect.clearance is None:
            raise fail(f"step {number}: expect.findings needs expect.clearance", *at("expect", "findings"))
        if expect.case is not None and expect.case.single_window is not None:
            if expect.case.single_window not in manifest.single_windows:
                raise fail(
                    f"step {number}: no Single Window {expect.case.single_window}",
                    *at("expect", "case", "single_window"),
                )
        if step.message is not None:
            envelope = _message(
                folder, base, step.message, prefix=f"step {number}: ", source=source, line=lines.of(at("message"))
            )
            header = envelope.header
            if (header.sender, header.receiver) != (step.sender, step.receiver):
                raise fail(
                    f"step {number}: {step.message} is from {header.sender} to {header.receiver}, "
                    f"not from {step.sender} to {step.receiver}",
                    *at("message"),
                )
            if header.conversation_id != manifest.notification:
                raise fail(
                    f"step {number}: {step.message} belongs to case {header.conversation_id}, "
                    f"not {manifest.notification}",
                    *at("message"),
                )
            if expect.clearance is not None and not isinstance(envelope.document, ExportData):
                raise fail(f"step {number}: only export data is answered by a clearance", *at("expect", "clearance"))
            messages[number] = envelope
    return LoadedFlow(manifest=manifest, source=source, messages=messages, lines=step_lines)


def _message(folder: Traversable, base: str, name: str, *, prefix: str, source: str, line: int | None) -> Envelope:
    """Read the message file ``name`` of a flow as an envelope.

    A name that is no file of the folder is the manifest's mistake (``source``:``line``); a file that is no
    valid envelope is the file's (its own name and line).
    """

    def fail(text: str) -> FlowError:
        return FlowError(f"{prefix}{text}", source=source, line=line)

    if "/" in name or "\\" in name or name.startswith("."):
        raise fail(f"{name!r} is not a file name in the flow's folder")
    item = folder.joinpath(name)
    if not item.is_file():
        raise fail(f"missing message file {name}")
    try:
        return codec.from_xml(item.read_bytes(), Envelope)
    except MessageError as exc:
        issue = exc.issues[0] if exc.issues else None
        line = issue.line if issue is not None else None
        raise FlowError(f"{issue.text if issue else exc}", source=f"{base}/{name}", line=line) from exc
