"""The ``picexchange`` command: the only place that reads files and the environment for the user.

Exit codes: 0 success, 1 the input is not valid (or not genuine), 2 usage error (bad option, missing file).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from picexchange import cli_keys, codec
from picexchange.errors import MessageError
from picexchange.schemas import Engine, validate

__all__ = ["app", "main"]

app = typer.Typer(
    name="picexchange",
    help="Exchange Basel Convention PIC notifications, consents and Customs export data as signed XML.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


class Format(StrEnum):
    """Target format of ``convert``."""

    JSON = "json"
    XML = "xml"


def _usage(message: str) -> typer.Exit:
    _err.print(f"error: {message}")
    return typer.Exit(EXIT_USAGE)


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.xml") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise _usage(f"{path}: no such file or directory")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _usage(f"{path}: cannot read: {exc.strerror}") from exc


@app.command("validate")
def validate_command(
    paths: Annotated[list[Path], typer.Argument(help="XML files or directories (searched for *.xml).")],
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
                _out.print(f"{path}: valid {detail}")
        else:
            invalid += 1
            for line in report.lines(str(path)):
                _out.print(line, markup=False)
    if len(files) > 1 and not quiet:
        _out.print(f"{len(files) - invalid} of {len(files)} valid")
    raise typer.Exit(EXIT_INVALID if invalid else EXIT_OK)


@app.command("convert")
def convert_command(
    path: Annotated[Path, typer.Argument(help="An XML or JSON message file.")],
    to: Annotated[Format, typer.Option("--to", help="Target format.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Convert a message between XML and JSON, losslessly; the input is validated first."""
    raw = _read(path) if path.is_file() else b""
    if not path.is_file():
        raise _usage(f"{path}: no such file")
    stripped = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    try:
        if stripped.startswith(b"<"):
            report = validate(raw)
            if not report.ok or report.document is None:
                for line in report.lines(str(path)):
                    _err.print(line, markup=False)
                raise typer.Exit(EXIT_INVALID)
            model = report.document
        else:
            model = codec.from_json(raw)
    except MessageError as exc:
        for issue in getattr(exc, "issues", None) or [exc]:
            _err.print(f"{path}:{issue.line or 0}: {issue.path or '/'}: {issue.text}", markup=False)
        raise typer.Exit(EXIT_INVALID) from exc
    result = codec.to_json(model) + b"\n" if to is Format.JSON else codec.to_xml(model)
    if output is None:
        sys.stdout.buffer.write(result)
        sys.stdout.flush()
    else:
        try:
            output.write_bytes(result)
        except OSError as exc:
            raise _usage(f"{output}: cannot write: {exc.strerror}") from exc


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


def main() -> None:
    """Run the CLI; a usage error exits 2, like every typer/click usage error."""
    app()
