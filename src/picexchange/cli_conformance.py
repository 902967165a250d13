"""The ``conformance`` command: black-box checks of a gateway's partner endpoint (:mod:`picexchange.conformance`).

Registered on the main ``picexchange`` app by :mod:`picexchange.cli`. A shell: it reads the partner registry,
shows progress and the table, writes the JUnit XML; every check is :mod:`picexchange.conformance`'s.

Exit codes: 0 every check passed (skipped ones allowed), 1 a check failed, 2 a usage or configuration error
(an unreadable registry, ``--as`` not hosted, the target participant not to be told, a busy ``--listen``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from picexchange.conformance import Check, CheckResult, ConformanceReport, KitSetup, Verdict, junit_xml, run_checks
from picexchange.errors import ConfigurationError
from picexchange.files.registry import load_trust

__all__ = ["conformance_command", "register"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_out = Console(highlight=False, soft_wrap=True, emoji=False)
_err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

_STYLE = {Verdict.PASSED: "green", Verdict.FAILED: "red", Verdict.SKIPPED: "yellow"}


def _usage(message: str) -> typer.Exit:
    _err.print(f"error: {message}", markup=False)
    return typer.Exit(EXIT_USAGE)


def conformance_command(
    target: Annotated[
        str, typer.Option("--target", help="The gateway's partner endpoint URL (/ub/v1/messages is added if no path).")
    ],
    partners: Annotated[
        Path, typer.Option("--partners", help="Partner registry: [[me]] is whom we send as, [[partner]] the target.")
    ],
    sender: Annotated[str, typer.Option("--as", help="The [[me]] participant to send as (a competent authority).")],
    to: Annotated[
        str | None, typer.Option("--to", help="The target participant (default: told from the registry).")
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write the results as JUnit XML here.")] = None,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            help="HOST:PORT of the kit's own partner endpoint, for what the target sends back (the held "
            "ClearanceResult); the target's registry must name it as our Customs' endpoint.",
        ),
    ] = None,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", help="The target's body limit; the oversize check sends one more.")
    ] = 8 * 1024 * 1024,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds for each HTTP exchange.")] = 60.0,
    held_timeout: Annotated[
        float, typer.Option("--held-timeout", help="Seconds to wait for the held ClearanceResult.")
    ] = 60.0,
    ca_bundle: Annotated[
        Path | None, typer.Option("--ca-bundle", help="CA bundle for an https target (default: the system's).")
    ] = None,
) -> None:
    """Run the conformance checks against a gateway's partner endpoint: each a stable id, passed/failed/skipped.

    Exit codes: 0 every check passed (skips allowed), 1 a check failed, 2 a usage or configuration error.
    """
    if max_body_bytes < 1 or timeout <= 0 or held_timeout <= 0:
        raise _usage("--max-body-bytes, --timeout and --held-timeout must be greater than 0")
    if ca_bundle is not None and not ca_bundle.is_file():
        raise _usage(f"--ca-bundle: {ca_bundle}: no such file")
    try:
        trust = load_trust(partners)
        setup = KitSetup.from_registry(
            trust,
            target=target,
            sender=sender,
            to=to,
            listen=listen,
            max_body_bytes=max_body_bytes,
            timeout=timeout,
            held_timeout=held_timeout,
            verify_tls=str(ca_bundle) if ca_bundle is not None else True,
        )
    except ConfigurationError as exc:
        raise _usage(str(exc)) from exc
    _out.print(
        f"conformance of {setup.url}: as {setup.sender.participant} to {setup.receiver.id}"
        + (f", kit endpoint on {listen}" if listen else ""),
        markup=False,
    )
    with _out.status("starting") as status:

        def started(check: Check) -> None:
            status.update(f"{check.check_id}: {check.description}")

        def finished(result: CheckResult) -> None:
            style = _STYLE[result.verdict]
            _out.print(f"[{style}]{result.verdict.value:>7}[/] {result.check_id}  ({result.seconds:.2f} s)")

        try:
            report = run_checks(setup, on_start=started, on_result=finished)
        except ConfigurationError as exc:
            raise _usage(str(exc)) from exc
    _out.print(_table(report))
    summary = (
        f"{report.count(Verdict.PASSED)} passed, {report.count(Verdict.FAILED)} failed, "
        f"{report.count(Verdict.SKIPPED)} skipped"
    )
    _out.print(summary, style="green" if report.passed else "red")
    if junit is not None:
        try:
            junit.write_bytes(junit_xml(report))
        except OSError as exc:
            raise _usage(f"--junit: cannot write {junit}: {exc.strerror}") from exc
    raise typer.Exit(EXIT_OK if report.passed else EXIT_FAILED)


def _table(report: ConformanceReport) -> Table:
    table = Table(title=f"conformance of {report.target}", show_lines=False)
    table.add_column("check")
    table.add_column("result")
    table.add_column("what")
    table.add_column("expected / found")
    for result in report.results:
        style = _STYLE[result.verdict]
        failed = result.verdict is Verdict.FAILED
        detail = f"expected {result.expected}; found {result.found}" if failed else result.found
        table.add_row(result.check_id, f"[{style}]{result.verdict.value}[/]", result.description, detail)
    return table


def register(app: typer.Typer) -> None:
    """Add ``conformance`` to the main ``picexchange`` app."""
    app.command("conformance")(conformance_command)
