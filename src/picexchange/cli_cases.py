"""The ``case`` commands: ``check`` folds message files offline; ``list`` and ``show`` read a gateway's store.

Registered on the main ``picexchange`` app by :mod:`picexchange.cli`. A shell like the rest of the CLI: it
reads the files, the partner registry and the clock, and leaves every decision to :mod:`picexchange.cases`
(the fold, the rules, the case view), :mod:`picexchange.codec` and :mod:`picexchange.schemas` (parsing and
validation) and :mod:`picexchange.signing` (signatures).

``case check`` exit codes: 0 nothing blocks a shipment, 1 a violation does, 2 a file is unreadable or not a
valid message (or not genuine, with ``--registry``), or a usage error.

``case list`` and ``case show NOTIFICATION-NO`` read the store of the gateway a ``gateway.toml`` names, without
changing it (no migration, no write): the case rows, and one case folded again from its stored messages. Exit
codes: 0 shown, 1 the store cannot be read (or, for ``show``, has no such case), 2 a usage or configuration
error.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from lxml import etree
from rich.console import Console

from picexchange import codec, schemas, signing
from picexchange.cases import (
    ALLOWED_SENDERS,
    OVERDUE_RULES,
    Agency,
    Case,
    CaseDocument,
    CaseEvent,
    CaseFinding,
    Direction,
    case_view,
    fold_case,
)
from picexchange.cli_streams import STANDARD_STREAM, display_name
from picexchange.errors import ConfigurationError, MessageError, StoreError
from picexchange.files.registry import load_case_policy, load_trust
from picexchange.models.envelope import Envelope, MessageType
from picexchange.trust import ParticipantRole, TrustStore

__all__ = ["case_app", "case_check_command", "register"]

EXIT_OK = 0
EXIT_BLOCKED = 1
EXIT_INVALID = 2

_out = Console(highlight=False, soft_wrap=True, emoji=False)
_err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

case_app = typer.Typer(
    name="case",
    help="PIC cases: fold message files into their cases and check them against the Basel rules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _usage(message: str) -> typer.Exit:
    _err.print(f"error: {message}", markup=False)
    return typer.Exit(EXIT_INVALID)


# ------------------------------------------------------------------------------------------- reading files


@dataclass(frozen=True, slots=True)
class _Problem:
    """A file that is not a message of a case: where, the error code and what is wrong."""

    file: str
    line: int
    path: str
    code: str
    text: str

    def __str__(self) -> str:
        # No line (0) when the file has none to point at (empty, not XML at all): ``file: path``, never ``file:0``.
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: [{self.code}] {self.text}"

    def json(self) -> dict[str, Any]:
        line = self.line or None
        return {"file": self.file, "line": line, "path": self.path, "code": self.code, "text": self.text}


@dataclass(slots=True)
class _Read:
    """What the files gave: each case message with the file and tree it came from, and what went wrong."""

    events: list[CaseEvent] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    """Message id -> the file it was read from (the first, in path order, when several hold it)."""
    trees: dict[str, etree._Element] = field(default_factory=dict)
    """File -> its parsed tree, to find a finding's line."""
    problems: list[_Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if str(path) == STANDARD_STREAM:
            yield path
        elif path.is_dir():
            yield from (p for p in path.rglob("*.xml") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise _usage(f"{path}: no such file or directory")


def agency_by_message_type(message_type: MessageType) -> Agency:
    """Return the agency that sends ``message_type``: Customs for what only Customs may send, else the authority.

    The roles are those of the Utility Blocks (:data:`picexchange.cases.ALLOWED_SENDERS`): ExportData comes from
    export Customs, ClearanceResult from import Customs, every other case message from a competent authority.
    """
    roles = ALLOWED_SENDERS[message_type]
    return Agency.CUSTOMS if all(role.value.startswith("customs-") for role in roles) else Agency.COMPETENT_AUTHORITY


def _problems(name: str, exc: MessageError) -> list[_Problem]:
    return [_Problem(name, issue.line or 0, issue.path or "/", exc.code, issue.text) for issue in exc.issues]


def _read_one(path: Path, trust: TrustStore | None, read: _Read) -> None:
    """Read one message file into ``read``: its event, or the problems that keep it out of the case."""
    name = display_name(path)
    try:
        raw = sys.stdin.buffer.read() if str(path) == STANDARD_STREAM else path.read_bytes()
    except OSError as exc:
        read.problems.append(_Problem(name, 0, "/", "io", f"cannot read: {exc.strerror}"))
        return
    try:
        root = codec.parse(raw)
        if _local(root) != "Envelope":
            # The case needs the header: who sent it, when, under which notification number.
            text = f"a message file holds an Envelope (signed or not), not a bare {_local(root)}"
            read.problems.append(_Problem(name, root.sourceline or 0, f"/{_local(root)}", "schema", text))
            return
        if trust is None:
            schemas.check_envelope(root)
            schemas.check_document(root)
            envelope = codec.decode(root, Envelope)
            agency = None
        else:
            schemas.check_envelope(root)
            created = signing.read_header(root).created
            # A signature is checked with the certificates registered and valid when the sender created the
            # message: an archived case stays checkable after a key rollover.
            verified = signing.verify(root, trust=trust, now=created or dt.datetime.now(dt.UTC))
            envelope = verified.envelope
            is_customs = verified.signer.role is ParticipantRole.CUSTOMS
            agency = Agency.CUSTOMS if is_customs else Agency.COMPETENT_AUTHORITY
    except MessageError as exc:
        read.problems.extend(_problems(name, exc))
        return
    document = envelope.document
    if not isinstance(document, CaseDocument):
        kind = type(document).__name__
        read.notes.append(f"{name}: {kind} {envelope.header.message_id} is a transport reply, not a message of a case")
        return
    if agency is None:
        agency = agency_by_message_type(envelope.header.message_type)
    event = CaseEvent.from_envelope(envelope, direction=Direction.INBOUND, sender_agency=agency)
    if event.message_id in read.files:
        read.notes.append(f"{name}: message {event.message_id} is also in {read.files[event.message_id]}; read once")
        return
    read.events.append(event)
    read.files[event.message_id] = name
    read.trees[name] = root


def read_messages(paths: Iterable[Path], trust: TrustStore | None) -> _Read:
    """Read every message file (directories are searched for ``*.xml``), in path order whatever the order given."""
    read = _Read()
    for path in sorted(set(_files(paths))):
        _read_one(path, trust, read)
    return read


# ------------------------------------------------------------------------------------ where a finding points

_STEP = re.compile(r"^(?P<name>[\w.-]+)(?:\[(?P<index>\d+)\])?$")


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _document_element(root: etree._Element) -> etree._Element:
    """Return the Body's business document of an envelope (the root itself if there is no Body)."""
    for child in root:
        if _local(child) == "Body":
            return next((item for item in child if isinstance(item.tag, str)), root)
    return root


def line_of(root: etree._Element, field_path: str) -> int:
    """Return the source line of the element a finding's field names (``/ExportData/GoodsItem[1]/HsCode``).

    ``[n]`` is the n-th element of that name among its siblings; an attribute step (``@unit``) is its
    element's line. Where the path leaves the document, the deepest element found on the way counts; a path
    about another document than the file's points at the file's document element.
    """
    element = _document_element(root)
    steps = [step for step in field_path.split("/") if step]
    if not steps or steps[0] != _local(element):
        return element.sourceline or root.sourceline or 0
    for step in steps[1:]:
        match = _STEP.match(step)
        if match is None:  # an attribute (@unit) or anything else: the element holding it
            break
        same = [child for child in element if _local(child) == match["name"]]
        index = int(match["index"] or 1) - 1
        if index >= len(same):
            break
        element = same[index]
    return element.sourceline or 0


def _place(item: CaseFinding, case: Case, read: _Read) -> tuple[str, int]:
    """Return the file and line a finding points at.

    A finding about one message points into that message's file; one about the case (a State's decision, a
    cancellation, the notification's consistency) into the first file, in the procedure's order, holding the
    document its field names, or else the case's first file.
    """
    file = read.files.get(item.message_id) if item.message_id is not None else None
    if file is None:
        kind = item.field.split("/")[1] if item.field.count("/") else ""
        ours = [read.files[mid] for mid in case.message_ids if mid in read.files]
        of_kind = [name for name in ours if _local(_document_element(read.trees[name])) == kind]
        file = (of_kind or ours or [""])[0]
    if not file:
        return "-", 0
    return file, line_of(read.trees[file], item.field)


def finding_line(item: CaseFinding, file: str, line: int) -> str:
    """Return a finding as ``file:line: path: [rule-id] severity: text (expected ...; found ...)``."""
    return (
        f"{file}:{line}: {item.field}: [{item.rule_id}] {item.severity.value}: {item.text} "
        f"(expected {item.expected}; found {item.found})"
    )


# --------------------------------------------------------------------------------------------- printing


def _quantity(amounts: Mapping[str, str] | None) -> str:
    """Return a quantity of the case view (``{"TNE": "19.84"}``) in words: ``19.84 TNE``."""
    return " / ".join(f"{value} {unit}" for unit, value in amounts.items()) if amounts else "-"


def _standing(state: Mapping[str, Any]) -> str:
    """Return one State's standing in words."""
    head = f"{state['country']} {state['role']:<7} {state['competent_authority']:<10}"
    if state["role"] == "export":
        return f"{head} notifier"
    acknowledged = f" {state['acknowledged_on']}" if state["acknowledged_on"] is not None else ""
    parts = [f"acknowledgement {state['acknowledgement']}{acknowledged}"]
    decision = state["decision"]
    if decision == "withdrawn":
        parts.append(f"withdrawn from {state['withdrawn_from']} (decided {state['decided_on']})")
    elif decision == "deemed-consented":
        parts.append(f"deemed to consent from {state['decided_on']} (Art. 6(4))")
    elif decision == "undecided":
        parts.append("no decision")
    else:
        parts.append(f"{decision} {state['decided_on']}")
    if state["valid_from"] is not None and decision != "objected":
        parts.append(f"valid {state['valid_from']} to {state['valid_until']}")
    if state["max_shipments"] is not None:
        parts.append(f"at most {state['max_shipments']} shipments")
    if state["max_quantity"] is not None:
        parts.append(f"at most {_quantity(state['max_quantity'])}")
    if state["conditions"]:
        parts.append(f"{len(state['conditions'])} conditions")
    if state["information_requested"]:
        parts.append(f"information requested: {', '.join(state['information_requested'])}")
    return f"{head} " + "; ".join(parts)


def _case_lines(view: Mapping[str, Any]) -> Iterator[str]:
    """Yield the case's state in words: States, shipments and quantity used and left, each shipment."""
    verdict = "a violation blocks new shipments" if view["blocked"] else "nothing blocks a new shipment"
    state = view["state"]
    if view["cancelled_on"] is not None:
        # The files may hold a cancellation dated after the day the case is seen on.
        when = view["cancelled_on"]
        state = f"cancelled on {when}" if when <= view["as_of"] else f"notified (cancelled from {when})"
    yield f"{view['notification_number']} as of {view['as_of']}: {state}; {verdict}"
    for state in view["states"]:
        yield f"  {_standing(state)}"
    notified = view["notified"]
    if notified is not None:
        unit = view["quantity_unit"]
        used = view["quantity_used"].get(unit, "0")
        yield (
            f"  shipments: {view['shipments_used']} used, {view['shipments_left']} left "
            f"({notified['shipments']} notified)"
        )
        others = "".join(f", {value} {other} used" for other, value in view["quantity_used"].items() if other != unit)
        yield (
            f"  quantity: {used} {unit} used, {view['quantity_left']} {unit} left "
            f"({_quantity(notified['quantity'])} notified){others}"
        )
    for shipment in view["shipments"]:
        facts = [shipment["state"]]
        if shipment["declaration_id"] is not None:
            facts.append(
                f"declaration {shipment['declaration_id']}, shipped {shipment['shipped_on']}, "
                f"{_quantity(shipment['quantity'])}"
            )
        if shipment["received_on"] is not None:
            facts.append(f"received {shipment['received_on']}")
        if shipment["completed_on"] is not None:
            facts.append(f"completed {shipment['completed_on']}")
        yield f"  shipment {shipment['serial']}: " + "; ".join(facts)
    for item in view["pending"]:
        yield f"  pending: {item['message_type']} {item['message_id']} waits for {item['waiting_for']}"


def _at(text: str | None) -> dt.datetime:
    """Read ``--at``: a date, the case is seen on that day; by default today (UTC)."""
    if text is None:
        return dt.datetime.now(dt.UTC)
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise _usage(f"--at must be a date (2026-05-10), not {text!r}") from None
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


@case_app.command("check")
def case_check_command(
    paths: Annotated[
        list[Path], typer.Argument(help="Message files (signed or not), or folders of *.xml; - reads standard input.")
    ],
    at: Annotated[str | None, typer.Option("--at", help="See the cases on this date (YYYY-MM-DD); today.")] = None,
    registry: Annotated[
        Path | None,
        typer.Option(
            "--registry",
            help="Partner registry (TOML): verify signatures, take each sender's agency and the case policy.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the case views and findings as JSON.")] = False,
) -> None:
    r"""Fold message files, in any order, into their PIC cases; print each case's state and findings.

    Findings print as file:line: path: \[rule-id] message. Exit codes: 0 nothing blocks a shipment, 1 a
    violation does, 2 a file is unreadable or not a valid (or, with --registry, genuine) message.
    """
    now = _at(at)
    trust = None
    policy = None
    if registry is not None:
        try:
            trust = load_trust(registry)
            policy = load_case_policy(registry)
        except ConfigurationError as exc:
            raise _usage(str(exc)) from exc
    read = read_messages(paths, trust)
    if trust is None:
        _err.print(
            "note: signatures were not checked (no --registry); each sender's agency is taken from its message type",
            markup=False,
        )
    for note in read.notes:
        _err.print(f"note: {note}", markup=False)
    if not read.events and not read.problems:
        raise _usage("no message of a case in the files given")
    cases = fold_case(read.events, now=now, policy=policy)
    blocked = any(case.blocked for case in cases.values())
    if as_json:
        views = []
        for case in cases.values():
            view = case_view(case)
            for item, shown in zip(case.findings, view["findings"], strict=True):
                shown["file"], shown["line"] = _place(item, case, read)
            view["overdue"] = [shown for shown in view["findings"] if shown["rule_id"] in OVERDUE_RULES]
            view["files"] = {mid: read.files[mid] for mid in case.message_ids if mid in read.files}
            views.append(view)
        report = {
            "as_of": now.date().isoformat(),
            "signatures_checked": trust is not None,
            "blocked": blocked,
            "cases": views,
            "problems": [problem.json() for problem in read.problems],
        }
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    else:
        for problem in read.problems:
            _out.print(str(problem), markup=False)
        for case in cases.values():
            for line in _case_lines(case_view(case)):
                _out.print(line, markup=False)
            # Violations first, as the fold orders them; within a rule, in file and line order.
            placed = [(item, *_place(item, case, read)) for item in case.findings]
            placed.sort(key=lambda entry: (not entry[0].blocks, entry[0].rule_id, entry[1], entry[2]))
            for item, file, number in placed:
                _out.print(finding_line(item, file, number), markup=False)
    if read.problems:
        raise typer.Exit(EXIT_INVALID)
    raise typer.Exit(EXIT_BLOCKED if blocked else EXIT_OK)


# ------------------------------------------------------------------------------------- a gateway's store


def require_existing_store(store: str, config: Path) -> None:
    """Exit 1 naming the file when ``store`` is a SQLite file the gateway has not made yet.

    Opening a missing SQLite file would create it: a command that reads a gateway's store must not write, so it
    says what is missing instead. A PostgreSQL store is the server's to report.
    """
    path = store.removeprefix("sqlite://") if store.startswith("sqlite://") else None
    if path is not None and path != ":memory:" and not Path(path).is_file():
        _err.print(
            f"error: no store at {path} (gateway.store of {display_name(config)}): the gateway creates it "
            "when it first starts",
            markup=False,
        )
        raise typer.Exit(EXIT_BLOCKED)


def _open(config: Path) -> tuple[Any, TrustStore]:
    """Return the gateway's store (not migrated: read only) and its partner registry."""
    from picexchange.gateway import load_gateway_config
    from picexchange.store import open_store

    try:
        settings = load_gateway_config(config)
        trust = load_trust(settings.partners)
    except ConfigurationError as exc:
        raise _usage(str(exc)) from exc
    require_existing_store(settings.store, config)
    try:
        return open_store(settings.store), trust
    except ConfigurationError as exc:
        raise _usage(str(exc)) from exc
    except StoreError as exc:
        raise _store_failed(exc) from exc


def _keeper(config: Path, store: Any, trust: TrustStore) -> Any:
    """Return the case keeper the gateway of ``config`` runs: its registry's case policy (deemed consent days)."""
    from picexchange.gateway import load_gateway_config
    from picexchange.gateway.casework import CaseKeeper

    try:
        policy = load_case_policy(load_gateway_config(config).partners)
    except ConfigurationError as exc:  # pragma: no cover - _open read the same files a moment ago
        raise _usage(str(exc)) from exc
    return CaseKeeper(store=store, trust=trust, policy=policy)


def _current_cases(
    store: Any, keeper: Any, *, now: dt.datetime, limit: int, blocked: bool | None, **filters: Any
) -> tuple[list[Any], bool]:
    """Return up to ``limit`` case rows as of ``now`` that pass the filters, and whether more follow.

    A row whose ``blocked`` may have changed since it was written (its review day has come, or ``now`` is
    before the day it was written) is computed again from the case's messages, and the ``blocked`` filter is
    applied to that; nothing is written.
    """
    found: list[Any] = []
    cursor = 0
    while True:
        page = store.cases(since=cursor, limit=limit + 1, **filters)
        for row in page.cases:
            current = keeper.current(row, now=now)
            if blocked is not None and current.blocked is not blocked:
                continue
            if len(found) == limit:
                return found, True
            found.append(current)
        if not page.has_more:
            return found, False
        cursor = page.next


def _store_failed(exc: StoreError) -> typer.Exit:
    _err.print(
        f"error: the store cannot be read: {exc} (a store older than schema 5 is upgraded by the gateway)",
        markup=False,
    )
    return typer.Exit(EXIT_BLOCKED)


def _summary_line(summary: Any) -> str:
    route = f"{summary.export_country or '?'}->{summary.import_country or '?'}"
    notified = "?" if summary.shipments_notified is None else summary.shipments_notified
    return (
        f"{summary.notification_number}  {summary.state:<9} {route:<6} "
        f"{'blocked' if summary.blocked else 'open':<7} violations {summary.violations}  warnings "
        f"{summary.warnings}  shipments {summary.shipments_used}/{notified}  messages {summary.message_count}  "
        f"updated {summary.updated_at.isoformat() if summary.updated_at else '-'}"
    )


def _summary_json(summary: Any) -> dict[str, Any]:
    return {
        "notification_number": summary.notification_number,
        "state": summary.state,
        "export_country": summary.export_country,
        "import_country": summary.import_country,
        "blocked": summary.blocked,
        "violations": summary.violations,
        "warnings": summary.warnings,
        "shipments_used": summary.shipments_used,
        "shipments_notified": summary.shipments_notified,
        "message_count": summary.message_count,
        "updated_at": summary.updated_at.isoformat() if summary.updated_at else None,
        "version": summary.version,
        "change": summary.change,
    }


@case_app.command("list")
def case_list_command(
    config: Annotated[Path, typer.Option("--config", help="Gateway configuration (TOML): its store is read.")],
    state: Annotated[str | None, typer.Option("--state", help="awaited, notified or cancelled.")] = None,
    country: Annotated[str | None, typer.Option("--country", help="State of export or import (MY).")] = None,
    blocked: Annotated[
        bool | None, typer.Option("--blocked/--not-blocked", help="Only blocked, or only unblocked, cases.")
    ] = None,
    updated_since: Annotated[
        str | None, typer.Option("--updated-since", help="Only cases changed since (2026-03-01 or a time).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="The most cases printed.")] = 100,
    at: Annotated[
        str | None, typer.Option("--at", help="Whether blocked on this date (YYYY-MM-DD); today, UTC.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the case rows as JSON.")] = False,
) -> None:
    """List the PIC cases in a gateway's store, in order of creation, with the filters given.

    Blocked is each case's on --at (today by default): a row whose decisions, consents, departures or
    cancellation may have changed it since it was written is computed again from the case's messages; the store
    is not written. Exit codes: 0 listed (even none), 1 the store cannot be read, 2 a usage or configuration
    error.
    """
    if state is not None and state not in ("awaited", "notified", "cancelled"):
        raise _usage(f"--state must be awaited, notified or cancelled, not {state!r}")
    if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
        raise _usage(f"--country must be an ISO 3166-1 code such as MY, not {country!r}")
    since = None
    if updated_since is not None:
        try:
            since = dt.datetime.fromisoformat(updated_since)
        except ValueError:
            raise _usage(f"--updated-since must be a date or a time (2026-03-01), not {updated_since!r}") from None
        since = since if since.tzinfo is not None else since.replace(tzinfo=dt.UTC)
    now = _at(at)
    store, trust = _open(config)
    try:
        with store:
            rows, has_more = _current_cases(
                store,
                _keeper(config, store, trust),
                now=now,
                limit=limit,
                blocked=blocked,
                state=state,
                country=country,
                updated_since=since,
            )
    except StoreError as exc:
        raise _store_failed(exc) from exc
    if as_json:
        sys.stdout.write(json.dumps([_summary_json(item) for item in rows], indent=2) + "\n")
        sys.stdout.flush()
    else:
        for item in rows:
            _out.print(_summary_line(item), markup=False)
        if has_more:
            _out.print(f"... more cases follow (raise --limit above {limit})", markup=False)
    raise typer.Exit(EXIT_OK)


@case_app.command("show")
def case_show_command(
    notification_number: Annotated[str, typer.Argument(help="The case's notification number (AU2026-0042).")],
    config: Annotated[Path, typer.Option("--config", help="Gateway configuration (TOML): its store is read.")],
    at: Annotated[str | None, typer.Option("--at", help="See the case on this date (YYYY-MM-DD); today.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the case view and its messages as JSON.")] = False,
) -> None:
    """Show one PIC case from a gateway's store: States, shipments, used and left, findings, every message.

    Exit codes: 0 shown, 1 no such case or the store cannot be read, 2 a usage or configuration error.
    """
    now = _at(at)
    store, trust = _open(config)
    try:
        with store:
            keeper = _keeper(config, store, trust)
            loaded = keeper.load(notification_number)
            messages = store.case_messages(notification_number)
            summary = keeper.current(loaded.summary, now=now) if loaded.summary is not None else None
    except StoreError as exc:
        raise _store_failed(exc) from exc
    if summary is None:
        _err.print(f"error: no case {notification_number} in the store", markup=False)
        raise typer.Exit(EXIT_BLOCKED)
    case = loaded.fold.case(now=now)
    view = case_view(case)
    listed = [
        {
            "position": item.position,
            "message_id": item.message.message_id,
            "message_type": item.message.message_type,
            "direction": item.message.direction.value,
            "sender": item.message.sender,
            "receiver": item.message.receiver,
            "at": item.message.at.isoformat(),
        }
        for item in messages
    ]
    if as_json:
        report = {"summary": _summary_json(summary), "case": view, "messages": listed}
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        raise typer.Exit(EXIT_OK)
    for line in _case_lines(view):
        _out.print(line, markup=False)
    for item in case.findings:
        _out.print(
            f"  {item.severity.value}: {item.field}: [{item.rule_id}] {item.text} "
            f"(expected {item.expected}; found {item.found})",
            markup=False,
        )
    for shown in listed:
        _out.print(
            f"  {shown['position']:>4} {shown['at']} {shown['direction']:<3} {shown['message_type']:<24} "
            f"{shown['sender']} -> {shown['receiver']}  {shown['message_id']}",
            markup=False,
        )
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add the ``case`` commands to the main ``picexchange`` app."""
    app.add_typer(case_app, name="case")
