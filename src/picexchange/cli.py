"""The ``picexchange`` command: the only place that reads files and the environment for the user.

Exit codes (:mod:`picexchange.cli_streams`, README "Exit codes"): 0 success, 1 the input is not valid (or not
genuine), 2 usage error (bad option, missing file, a directory where a file is expected), 3 not delivered
(safe to run the same command again), 4 refused by the partner. ``-`` reads standard input or writes
standard output wherever a command takes a file.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import logging
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from picexchange import cli_cases, cli_conformance, cli_flows, cli_keys, cli_streams, codec
from picexchange.cli_streams import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNDELIVERED,
    EXIT_USAGE,
    display_name,
    read_input,
    write_output,
)
from picexchange.errors import (
    ConfigurationError,
    DeliveryError,
    MessageError,
    MissingExtraError,
    PicExchangeError,
    RemoteError,
    StoreError,
)
from picexchange.models.base import XmlModel
from picexchange.schemas import Engine, validate

__all__ = ["app", "main"]

app = typer.Typer(
    name="picexchange",
    help="Exchange Basel Convention PIC notifications, consents and Customs export data as signed XML.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_out = Console(highlight=False, soft_wrap=True, emoji=False)
_err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


class Format(StrEnum):
    """Target format of ``convert``."""

    JSON = "json"
    XML = "xml"


_usage = cli_streams.usage
_read = read_input


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if str(path) == cli_streams.STANDARD_STREAM:
            yield path
        elif path.is_dir():
            yield from sorted(p for p in path.rglob("*.xml") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise _usage(f"{path}: no such file or directory")


@app.command("validate")
def validate_command(
    paths: Annotated[
        list[Path], typer.Argument(help="XML files or directories (searched for *.xml); - reads standard input.")
    ],
    engine: Annotated[str, typer.Option(help="Schema engine: lxml (fast) or xmlschema.")] = "lxml",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only problems.")] = False,
) -> None:
    """Validate messages against their XSD and model rules; print every problem as file:line: path: message."""
    if engine not in ("lxml", "xmlschema"):
        raise _usage(f"--engine must be lxml or xmlschema, not {engine!r}")
    chosen: Engine = "xmlschema" if engine == "xmlschema" else "lxml"
    files = list(_files(paths))
    if not files:
        raise _usage("no XML files found")
    invalid = 0
    for path in files:
        report = validate(_read(path), engine=chosen)
        if report.ok:
            if not quiet:
                kind = type(report.document).__name__
                inner = getattr(report.document, "document", None)
                detail = f"{kind} ({type(inner).__name__})" if inner is not None else kind
                _out.print(f"{display_name(path)}: valid {detail}", markup=False)
        else:
            invalid += 1
            for line in report.lines(display_name(path)):
                _out.print(line, markup=False)
    if len(files) > 1 and not quiet:
        _out.print(f"{len(files) - invalid} of {len(files)} valid")
    raise typer.Exit(EXIT_INVALID if invalid else EXIT_OK)


@app.command("convert")
def convert_command(
    path: Annotated[Path, typer.Argument(help="An XML or JSON message file; - reads standard input.")],
    to: Annotated[Format, typer.Option("--to", help="Target format.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout (- is stdout).")
    ] = None,
) -> None:
    """Convert a message between XML and JSON, losslessly; the input is validated first."""
    model = _load_model(path)
    result = codec.to_json(model) + b"\n" if to is Format.JSON else codec.to_xml(model)
    write_output(output, result)


@app.command("tour")
def tour_command(
    samples: Annotated[Path, typer.Argument(help="The samples folder.")] = Path("samples"),
) -> None:
    """Walk the sample messages: validate each with both engines, convert to JSON and back, and report."""
    messages = sorted((samples / "messages").glob("*.xml"))
    invalid = sorted((samples / "invalid").glob("*.xml"))
    if not messages:
        raise _usage(f"{samples / 'messages'}: no sample messages")
    table = Table(title=f"{len(messages)} sample messages", show_lines=False)
    for column in (
        "file",
        "document",
        "UB",
        "from → to",
        "bytes",
        "lxml ms",
        "xmlschema ms",
        "JSON round trip",
    ):
        table.add_column(column)
    failures = 0
    for path in messages:
        raw = path.read_bytes()
        started = time.perf_counter()
        report = validate(raw)
        fast = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        second = validate(raw, engine="xmlschema")
        slow = (time.perf_counter() - started) * 1000
        model = report.document
        same = model is not None and codec.from_json(codec.to_json(model)) == model
        if not (report.ok and second.ok and same):
            failures += 1
        header = getattr(model, "header", None)
        table.add_row(
            path.name,
            type(getattr(model, "document", model)).__name__ if model is not None else "[red]invalid[/]",
            str(header.utility_block.value) if header is not None else "",
            f"{header.sender} → {header.receiver}" if header is not None else "",
            str(len(raw)),
            f"{fast:.2f}",
            f"{slow:.1f}",
            "[green]same[/]" if same else "[red]differs[/]",
        )
    _out.print(table)
    caught = 0
    for path in invalid:
        report = validate(path.read_bytes())
        if report.ok:
            failures += 1
            _out.print(f"[red]{path.name}: accepted, but it is invalid[/]")
        else:
            caught += 1
            first = report.issues[0]
            _out.print(
                f"{path.name}: [yellow]{report.stage}[/] line {first.line or '-'}: {first.path or '/'}: {first.text}",
                markup=True,
            )
    _out.print(f"{len(messages)} valid samples checked, {caught} of {len(invalid)} invalid samples rejected")
    raise typer.Exit(EXIT_INVALID if failures else EXIT_OK)


cli_keys.register(app)  # keys init, sign, verify
cli_cases.register(app)  # case check
cli_flows.register(app)  # replay, flows list
cli_conformance.register(app)  # conformance


class _JsonLines(logging.Formatter):
    """Log records as JSON lines with their structured fields (message ids, codes); never key material."""

    _standard = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self._standard and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


@app.command("serve")
def serve_command(
    config: Annotated[Path, typer.Option("--config", help="Gateway configuration (TOML).")],
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the reference gateway: partner listener, back-office listener, outbox worker; logs are JSON lines.

    Exit codes: 0 stopped by SIGINT/SIGTERM, 1 the store cannot be used, 2 the configuration, a file it names,
    or a listener address (busy port) is wrong; nothing was started.
    """
    import os

    from picexchange.gateway import load_gateway_config, serve

    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise _usage(f"--log-level must be debug, info, warning or error, not {log_level!r}")
    try:
        settings = load_gateway_config(config)
        _configure_logging(log_level)
        # The CLI reads the environment for [backoffice] tokens_env; the library is only handed it.
        serve(settings, environ=dict(os.environ))
    except ConfigurationError as exc:
        _err.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from exc
    except StoreError as exc:
        _err.print(f"error: the store cannot be used: {exc}", markup=False)
        raise typer.Exit(EXIT_INVALID) from exc


@app.command("backup")
def backup_command(
    target: Annotated[Path, typer.Argument(help="The new file to write (never replaced).")],
    config: Annotated[Path, typer.Option("--config", help="Gateway configuration (TOML): its store is copied.")],
) -> None:
    """Copy a gateway's SQLite store into a new file, one consistent snapshot, while the gateway runs.

    Every message, receipt, outbox entry and PIC case committed before the copy began is in it, none half; the
    copy is checked (SQLite's integrity check) before it is named TARGET, and is readable by its owner only. To
    restore, stop the gateway and put the copy at gateway.store's path (docs/gateway.md, "Stores"). A PostgreSQL
    store is backed up with pg_dump. Exit codes: 0 written, 1 the store cannot be read or the copy written, 2 a
    usage or configuration error (TARGET exists, a PostgreSQL store).
    """
    from picexchange.gateway import load_gateway_config
    from picexchange.store import open_store
    from picexchange.store.sqlite import SqliteStore

    try:
        settings = load_gateway_config(config)
    except ConfigurationError as exc:
        raise _usage(str(exc)) from exc
    if not settings.store.startswith("sqlite://"):
        raise _usage(f'the store of {config} is PostgreSQL: back it up with pg_dump (docs/gateway.md, "Stores")')
    if target.exists():
        raise _usage(f"{target} exists: a backup never replaces a file, name a new one")
    cli_cases.require_existing_store(settings.store, config)
    try:
        with open_store(settings.store) as store:
            if not isinstance(store, SqliteStore):  # pragma: no cover - a sqlite:// URL opens a SqliteStore
                raise _usage(f"the store of {config} is not SQLite")
            copy = store.backup(target)
    except StoreError as exc:
        _err.print(f"error: no backup written: {exc}", markup=False)
        raise typer.Exit(EXIT_INVALID) from exc
    _out.print(
        f"{copy.path}: {copy.size:,} bytes, schema {copy.schema_version}; received {copy.received:,}, "
        f"sent {copy.sent:,}, PIC cases {copy.cases:,}; integrity ok",
        markup=False,
    )


token_app = typer.Typer(help="Back-office tokens: make one, bound to a client and participants.", no_args_is_help=True)
app.add_typer(token_app, name="token")


def _expiry(text: str) -> dt.datetime:
    """Read ``--expires``: a date (midnight UTC) or a date-time with its offset."""
    try:
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise _usage(f"--expires must be a date (2027-06-30) or a date-time with offset, not {text!r}") from exc
    if value.tzinfo is None:
        raise _usage("--expires needs an offset (2027-06-30T12:00:00Z), or give a date")
    return value.astimezone(dt.UTC)


@token_app.command("new")
def token_new_command(
    client: Annotated[str, typer.Option("--client", help="The client's name, as the audit log shows it.")],
    participants: Annotated[
        list[str], typer.Option("--as", help="A participant id the client may act for (repeat for several).")
    ],
    file: Annotated[Path, typer.Option("--file", help="The credentials file the hash is appended to.")],
    expires: Annotated[str | None, typer.Option("--expires", help="Date (or date-time) it stops working.")] = None,
) -> None:
    """Make a back-office token: append its SHA-256 to the credentials file and print the token, once.

    Exit codes: 0 made, 2 a bad option or an unreadable or invalid credentials file (nothing written).
    """
    from picexchange.gateway.auth import Credentials, Grant, grant_toml, new_token, token_sha256
    from picexchange.trust import is_participant_id

    bad = [p for p in participants if not is_participant_id(p)]
    if bad:
        raise _usage(f"--as {bad[0]!r} is not a participant id (CC:AUTHORITY, e.g. MY:DOE)")
    if not client.strip() or len(client) > 64:
        raise _usage("--client must be a name of 1 to 64 characters")
    until = _expiry(expires) if expires is not None else None
    if until is not None and until <= dt.datetime.now(dt.UTC):
        raise _usage(f"--expires {expires} is in the past")
    token = new_token()
    grant = Grant(client=client, participants=frozenset(participants), sha256=token_sha256(token), expires=until)
    try:
        existing = file.read_text(encoding="utf-8") if file.exists() else ""
        Credentials.from_toml_text(existing, source=str(file))  # never append to a file the gateway cannot read
        text = (existing.rstrip("\n") + "\n\n" if existing.strip() else "") + grant_toml(grant)
        Credentials.from_toml_text(text, source=str(file))
        file.touch(mode=0o600, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    except ConfigurationError as exc:
        raise _usage(str(exc)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise _usage(f"cannot write {file}: {exc}") from exc
    _err.print(f"token for {client} (as {', '.join(sorted(participants))}) added to {file}; it is shown only once:")
    _out.print(token, markup=False)


def _is_xml(raw: bytes) -> bool:
    """Return whether ``raw`` is XML rather than JSON (its first character past a BOM and spaces is ``<``)."""
    return raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def _load_model(path: Path, raw: bytes | None = None) -> XmlModel:
    """Read an XML (validated) or JSON message file; print every problem and exit 1 if it is not valid."""
    raw = _read(path) if raw is None else raw
    name = display_name(path)
    if _is_xml(raw):
        report = validate(raw)
        if not report.ok or report.document is None:
            for line in report.lines(name):
                _err.print(line, markup=False)
            raise typer.Exit(EXIT_INVALID)
        return report.document
    try:
        return codec.from_json(raw)
    except MessageError as exc:
        for issue in exc.issues:
            where = f"{name}:{issue.line}" if issue.line else name  # no line 0 for a problem of the whole file
            _err.print(f"{where}: {issue.path or '/'}: {issue.text}", markup=False)
        raise typer.Exit(EXIT_INVALID) from exc


_DSIG_SIGNATURE = "{http://www.w3.org/2000/09/xmldsig#}Signature"


def _sealed_copy(file: Path, sealed_out: Path | None) -> Path | None:
    """Return where the signed bytes are kept for a retry: ``--sealed-out``, else beside the input."""
    if sealed_out is not None:
        return None if str(sealed_out) == cli_streams.STANDARD_STREAM else sealed_out
    if str(file) == cli_streams.STANDARD_STREAM:
        return None
    stem = file.name.removesuffix(".xml").removesuffix(".json")
    return file.with_name(f"{stem}.sealed.xml")


def _message_id(text: str | None) -> uuid.UUID | None:
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise _usage(f"--message-id {text!r} is not a UUID") from None


@app.command("send")
def send_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="A business document (XML or JSON), an unsigned envelope, or an envelope we signed "
            "(sent unchanged); - reads standard input."
        ),
    ],
    config: Annotated[Path, typer.Option("--config", help="Gateway configuration (TOML).")],
    to: Annotated[
        str | None,
        typer.Option("--to", help="Participant id of the partner, e.g. MY:DOE; by default an envelope's Receiver."),
    ] = None,
    test: Annotated[bool, typer.Option("--test", help="Mark as an integration test message.")] = False,
    as_: Annotated[
        str | None,
        typer.Option("--as", help="The hosted participant to send as; needed when the registry hosts several."),
    ] = None,
    message_id: Annotated[
        str | None,
        typer.Option("--message-id", help="The MessageId to sign with (a UUID); by default the envelope's own."),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="A new message: new MessageId and Created now (e.g. to post a sample)."),
    ] = False,
    resign: Annotated[
        bool, typer.Option("--resign", help="Replace the signature of a signed envelope (keeps its MessageId).")
    ] = False,
    sealed_out: Annotated[
        Path | None,
        typer.Option(
            "--sealed-out",
            help="Keep the signed bytes here (default: NAME.sealed.xml beside the input); a retry resends them.",
        ),
    ] = None,
) -> None:
    """Sign a document as a participant of our Single Window, deliver it to a partner now, and print the receipt.

    A retry is a redelivery: the MessageId of an envelope is kept, the signed bytes are kept in a sealed copy
    beside the input (``--sealed-out``), and running the same command again sends that copy unchanged, which
    the partner answers with its original receipt. A signed envelope is sent as it is, after checking that we
    signed it; ``--resign`` replaces its signature and ``--fresh`` makes it a new message.

    Exit codes: 0 receipted; 1 the input is not valid, or signed by someone else; 2 usage or configuration;
    3 not delivered (run the same command again); 4 refused by the partner.
    """
    from picexchange import exchange
    from picexchange.client import Client
    from picexchange.files.registry import load_trust
    from picexchange.gateway import load_gateway_config
    from picexchange.models.envelope import Envelope, Error, Receipt

    if fresh and message_id is not None:
        raise _usage("--fresh makes a new MessageId; do not give --message-id with it")
    chosen_id = _message_id(message_id)
    raw = _read(file)
    name = display_name(file)
    loaded = _load_model(file, raw)
    envelope = loaded if isinstance(loaded, Envelope) else None
    document = envelope.document if envelope is not None else loaded
    if isinstance(document, Receipt | Error):
        raise _usage("send a business document, not a transport reply")
    # Only an XML envelope can carry a signature (the JSON form has none); _load_model parsed it already.
    signed = envelope is not None and _is_xml(raw) and codec.parse(raw).find(_DSIG_SIGNATURE) is not None
    header = envelope.header if envelope is not None else None
    receiver = to or (header.receiver if header is not None else None)
    if receiver is None:
        raise _usage("--to is needed for a bare business document (an envelope names its Receiver)")
    if header is not None and to is not None and to != header.receiver and not fresh:
        raise _usage(f"{name} is addressed to {header.receiver}, not {to}: give --fresh to send it elsewhere")
    now = dt.datetime.now(dt.UTC)
    try:
        settings = load_gateway_config(config)
        trust = load_trust(settings.partners)
        if trust.hosted is None:
            raise ConfigurationError("the partner registry has no [[me]] table", source=str(settings.partners))
        sender = as_ or (header.sender if header is not None and header.sender in trust.hosted else None)
        if sender is None and len(trust.hosted) > 1:
            hosted = ", ".join(item.participant for item in trust.hosted)
            raise _usage(f"the registry hosts {hosted}: say which one sends with --as")
        me = trust.hosted.first if sender is None else trust.hosted.identity(sender)
        if me is None:
            raise _usage(f"--as {as_} is not hosted by the registry {settings.partners} ([[me]])")
        if header is not None and header.sender != me.participant and not fresh:
            raise _usage(f"{name} is from {header.sender}, not from {me.participant}: give --fresh to send it as ours")
        if trust.partner(receiver) is None:
            raise _usage(f"{receiver} is not in the partner registry {settings.partners}")
        keep = _sealed_copy(file, sealed_out)
        sealed: exchange.Sealed | None = None
        if signed and not (resign or fresh):
            # Sent as it is: a new signature (ECDSA differs on every signing) would make the partner see other
            # bytes under the same MessageId, a conflict, where the same bytes are a redelivery.
            if chosen_id is not None and header is not None and chosen_id != header.message_id:
                raise _usage(f"{name} is signed with MessageId {header.message_id}: give --resign to change it")
            if test and header is not None and not header.test_indicator:
                raise _usage(f"{name} is signed without TestIndicator: give --resign to mark it a test")
            try:
                sealed = exchange.reopen(raw, me=trust.hosted, now=now)
            except MessageError as exc:
                _err.print(f"{name}: is signed, but not a genuine envelope of ours ({exc.code}): {exc}", markup=False)
                _err.print("give --resign to replace its signature with ours", markup=False)
                raise typer.Exit(EXIT_INVALID) from exc
            _err.print(f"sending {name} unchanged: signed by {sealed.sender}, MessageId {sealed.message_id}")
            keep = None
        elif keep is not None and keep.is_file():
            # The same command run again: the message sealed last time, if it is this document to this partner
            # (with --fresh under any new MessageId, else under the one this run would sign with).
            expected = None if fresh else chosen_id or (header.message_id if header is not None else None)
            sealed = _earlier_copy(keep, document=document, to=receiver, me=me, message_id=expected, now=now)
            if sealed is not None:
                _err.print(
                    f"resending {keep}, sealed by an earlier run (MessageId {sealed.message_id}): a redelivery; "
                    "delete it to send a new message",
                    markup=False,
                )
                keep = None
        if sealed is None:
            kept_id = None if fresh else chosen_id or (header.message_id if header is not None else None)
            sealed = exchange.seal(
                document,  # type: ignore[arg-type]
                me=me,
                to=receiver,
                now=now,
                message_id=kept_id,
                conversation_id=header.conversation_id if header is not None else None,
                ref_to=header.ref_to_message_id if header is not None else None,
                test=test or bool(header is not None and header.test_indicator),
            )
            if fresh:
                _err.print(
                    f"--fresh: new MessageId {sealed.message_id}, Created {now.isoformat(timespec='seconds')}",
                    markup=False,
                )
            elif signed:
                _err.print(f"--resign: {name} signed again as {me.participant}, MessageId {sealed.message_id} kept")
            if keep is not None:
                write_output(keep, sealed.raw)  # before sending: a retry after a crash finds the same bytes
                _err.print(f"sealed copy {keep}: run the same command again to retry", markup=False)
            elif str(file) == cli_streams.STANDARD_STREAM and sealed_out is None:
                _err.print("no sealed copy kept (input from stdin): give --sealed-out FILE to retry safely")
        with Client(me=trust.hosted, trust=trust) as client:
            receipted = client.send(sealed)
    except ConfigurationError as exc:
        _err.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from exc
    except RemoteError as exc:
        _err.print(f"refused by {receiver} ({exc.code}): {exc}", markup=False)
        for issue in exc.issues:
            _err.print(f"  {issue}", markup=False)
        if exc.code == "conflict":
            _err.print(
                "the partner holds this MessageId with other bytes: resend the sealed copy of the first run, "
                "or give --fresh for a new message",
                markup=False,
            )
        raise typer.Exit(EXIT_REFUSED) from exc
    except DeliveryError as exc:
        _err.print(f"not delivered: {exc}", markup=False)
        _err.print("no receipt and no refusal: run the same command again; it sends the same bytes", markup=False)
        raise typer.Exit(EXIT_UNDELIVERED) from exc
    except MessageError as exc:
        _err.print(f"{name}: cannot be sent ({exc.code}): {exc}", markup=False)
        for issue in exc.listed:
            _err.print(f"  {issue}", markup=False)
        raise typer.Exit(EXIT_INVALID) from exc
    _out.print(f"message {sealed.message_id} ({type(document).__name__}) receipted by {receiver}", markup=False)
    _out.print(f"digest sent     {sealed.digest}", markup=False)
    _out.print(f"digest receipted {receipted.receipt.received_digest.value}", markup=False)
    _out.print(f"received at     {receipted.receipt.received_at.isoformat()}", markup=False)


def _earlier_copy(
    keep: Path, *, document: XmlModel, to: str, me: Any, message_id: uuid.UUID | None, now: dt.datetime
) -> Any:
    """Return the sealed copy of an earlier run if it holds this very message from us to ``to``, else None."""
    from picexchange import exchange

    try:
        earlier = exchange.reopen(keep.read_bytes(), me=me, now=now)
    except (MessageError, OSError):
        return None  # not ours, damaged or unreadable: sealed again and overwritten
    header = earlier.envelope.header
    same = earlier.envelope.document == document and header.receiver == to
    return earlier if same and message_id in (None, header.message_id) else None


@app.command("demo")
def demo_command(
    keep: Annotated[Path | None, typer.Option("--keep", help="Keep the two SQLite stores in this folder.")] = None,
) -> None:
    """Run two gateways on loopback and walk a PIC case between them; exit 0 only if every step was receipted.

    The messages are the first steps of the packaged sample flow plastic-au-my (`picexchange flows list`):
    nothing is read from the working directory.
    """
    import tempfile

    from picexchange.demo import DEMO_FLOW, run_demo, timestamp

    logging.getLogger().setLevel(logging.ERROR)
    _out.print(
        f"[bold]picexchange demo[/] {timestamp()}: two Single Window gateways on 127.0.0.1 "
        "(AU:DCCEEW + AU:ABF, MY:DOE + MY:RMCD), SQLite stores"
    )
    _out.print(
        f"{'':2}{'t':>6}  {'from':<10}   {'to':<10} {'message':<20} {'message id':<10} {'outcome':<17} "
        f"{'ms':>4}  receipt digest (SHA-256 of the bytes sent)"
    )

    def show(step: Any) -> None:
        mark = "[green]✓[/]" if step.ok else "[red]✗[/]"
        tries = f"{step.state} ({step.attempts})"
        proof = (step.receipt_digest or "-") + (" = sent" if step.receipt_digest == step.digest else " ≠ sent")
        pulled = "" if step.delivered else "  [red]not in the partner's inbox[/]"
        _out.print(
            f"{mark} {step.at:5.2f}s  {step.sender:<10} → {step.receiver:<10} {step.message_type:<20} "
            f"{step.message_id[:8]:<10} {tries:<17} {step.seconds * 1000:>4.0f}  {proof}{pulled}"
        )

    with tempfile.TemporaryDirectory(prefix="picexchange-demo-") as scratch:
        folder = keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        held: list[str] = []

        def show_case(participants: str, detail: dict[str, Any]) -> None:
            case = detail["case"]
            held.extend(item["message_id"] for item in detail["messages"] if item["message_type"] == "ClearanceResult")
            decisions = "; ".join(
                f"{state['country']} {state['decision']}" for state in case["states"] if state["role"] != "export"
            )
            used = ", ".join(f"{amount} {unit}" for unit, amount in case["quantity_used"].items()) or "nothing"
            verdict = "[red]a violation blocks new shipments[/]" if case["blocked"] else "nothing blocks a new shipment"
            _out.print(
                f"case {case['notification_number']} at {participants}: {case['state']}; {decisions}; "
                f"shipments {case['shipments_used']} used, {case['shipments_left']} left; {used} exported; "
                f"{len(detail['messages'])} messages; {verdict}"
            )

        try:
            steps = run_demo(folder, on_step=show, on_case=show_case)
        except (PicExchangeError, AssertionError, RuntimeError) as exc:
            _err.print(f"demo failed: {exc}", markup=False)
            raise typer.Exit(EXIT_INVALID) from exc
    good = sum(step.ok for step in steps)
    _out.print(f"{good} of {len(steps)} messages receipted for exactly the bytes sent and pulled by the back office")
    if held:
        _out.print("[red]the export data was held automatically[/] (a ClearanceResult went back to AU:ABF)")
    raise typer.Exit(EXIT_OK if good == len(steps) == len(DEMO_FLOW) and not held else EXIT_INVALID)


def _unwrapped(text: str) -> str:
    """Return a docstring as help: paragraphs kept, the line breaks inside each joined (the terminal wraps them)."""
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in inspect.cleandoc(text).split("\n\n"))


def _unwrap_help(typer_app: typer.Typer) -> None:
    """Give every command without an explicit help its docstring unwrapped, in this app and the apps it holds.

    Typer shows a docstring's later paragraphs with the source's line breaks, which breaks each line twice in
    a terminal of another width.
    """
    for command in typer_app.registered_commands:
        if command.help is None and command.callback is not None and command.callback.__doc__:
            command.help = _unwrapped(command.callback.__doc__)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _unwrap_help(group.typer_instance)


def main() -> None:
    """Run the CLI; a usage error exits 2, like every typer/click usage error, and so does a missing extra."""
    try:
        app()
    except MissingExtraError as exc:  # `serve` or `demo` on an install without the [gateway] extra
        _err.print(f"error: {exc}", markup=False)
        raise SystemExit(EXIT_USAGE) from exc


_unwrap_help(app)  # after every command above is registered
