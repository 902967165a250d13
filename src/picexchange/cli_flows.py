"""The sample flow commands: ``replay FLOW...|--all`` plays flows between real gateways; ``flows list``.

Registered on the main ``picexchange`` app by :mod:`picexchange.cli`. A shell: it finds the flows (packaged,
through :mod:`picexchange.resources`, or a folder holding a ``flow.toml``), has :mod:`picexchange.flowspec`
check every manifest before anything is sent, and :mod:`picexchange.flows` replay them; it prints the
progress and writes the JUnit XML a CI system reads.

``replay`` exit codes: 0 every step of every flow met its expectation, 1 a step did not (the step, the
expectation and what happened are printed), 2 a usage error or a flow that cannot be replayed as written
(``file:line: message``; nothing was sent). ``flows list`` exits 0.
"""

from __future__ import annotations

import logging
import tempfile
import xml.etree.ElementTree as ElementTree  # noqa: N813 - writing only; nothing untrusted is parsed here
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from picexchange import resources
from picexchange.errors import FlowError
from picexchange.flowspec import LoadedFlow, load_flow

if TYPE_CHECKING:
    from picexchange.flows import FlowResult, StepResult

__all__ = ["flows_app", "junit_xml", "register", "replay_command"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_out = Console(highlight=False, soft_wrap=True, emoji=False)
_err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

flows_app = typer.Typer(
    name="flows",
    help="The sample flows packaged with picexchange (replay them with `picexchange replay`).",
    no_args_is_help=True,
)


def _load(flows: list[str], every: bool) -> list[LoadedFlow]:
    """Return the flows named (packaged names or folders), each checked; exit 2 on the first problem."""
    if every and flows:
        _err.print("error: give flow names or --all, not both", markup=False)
        raise typer.Exit(EXIT_USAGE)
    names = list(resources.flow_names()) if every else flows
    if not names:
        _err.print("error: name at least one flow (picexchange flows list) or give --all", markup=False)
        raise typer.Exit(EXIT_USAGE)
    loaded = []
    for name in names:
        folder = Path(name)
        try:
            if (folder / "flow.toml").is_file():
                loaded.append(load_flow(folder, display=str(folder)))
            elif name in resources.flow_names():
                loaded.append(load_flow(resources.flow_folder(name)))
            else:
                known = ", ".join(resources.flow_names())
                _err.print(f"error: {name}: no such flow (packaged: {known}) and no flow.toml there", markup=False)
                raise typer.Exit(EXIT_USAGE)
        except FlowError as exc:
            _err.print(f"{exc}", markup=False)
            raise typer.Exit(EXIT_USAGE) from exc
    return loaded


def replay_command(
    flows: Annotated[
        list[str] | None, typer.Argument(help="Packaged flow names (see `flows list`) or folders with a flow.toml.")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Replay every packaged flow.")] = False,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here (one test case a step).")] = None,
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Leave each flow's stores and its replay.log in DIR/<flow>.")
    ] = None,
) -> None:
    """Replay sample flows between real gateways with a simulated clock; exit 0 only if every step met its expectation.

    One gateway per Single Window of a flow (SQLite store, test PKI, loopback). Before each step the clock
    jumps to the step's day; each message goes out with a fresh message id and Created. Every manifest is
    checked before anything is sent. Exit codes: 0 every step as expected, 1 a step was not, 2 usage or a
    flow that cannot be replayed (file:line: message).
    """
    loaded = _load(flows or [], every)
    from picexchange.flows import replay

    logging.getLogger().setLevel(logging.ERROR)
    results: list[FlowResult] = []
    with tempfile.TemporaryDirectory(prefix="picexchange-replay-") as scratch:
        base = keep or Path(scratch)
        for flow in loaded:
            manifest = flow.manifest
            windows = "; ".join(f"{country}: {', '.join(hosts)}" for country, hosts in manifest.single_windows.items())
            _out.print(f"[bold]{escape(flow.name)}[/] {escape(manifest.title)}")
            _out.print(f"  {len(manifest.step)} steps from {manifest.start.isoformat()}; Single Windows {windows}")
            log: list[str] = []

            def show(step: StepResult, log: list[str] = log, flow: LoadedFlow = flow) -> None:
                mark = "[green]✓[/]" if step.ok else ("[yellow]-[/]" if step.skipped else "[red]✗[/]")
                spec = flow.manifest.step[step.number - 1]
                line = f"day {step.day:>3}  {step.number:>2}. {spec.sender} → {spec.receiver}: {step.name}"
                _out.print(f"  {mark} {escape(line)}" + ("" if step.skipped else f" ({step.seconds * 1000:.0f} ms)"))
                log.append(f"{'ok' if step.ok else 'skipped' if step.skipped else 'FAILED'} {line}")
                log.append(f"    expected: {step.expected}")
                log.append(f"    happened: {step.happened}")
                if not step.ok and not step.skipped:
                    _out.print(f"      at {escape(flow.source)}:{step.line}", markup=True)
                    _out.print(f"      expected: {escape(step.expected)}")
                    _out.print(f"      happened: {escape(step.happened)}")

            folder = base / flow.name
            result = replay(flow, folder, on_step=show)
            if keep is not None:
                (folder / "replay.log").write_text("\n".join(log) + "\n", encoding="utf-8")
            results.append(result)
    steps = [step for result in results for step in result.steps]
    good = sum(step.ok for step in steps)
    _out.print(
        f"{len(results)} flow(s), {len(steps)} steps: {good} met their expectation"
        + ("" if good == len(steps) else f", {sum(not s.ok and not s.skipped for s in steps)} did not")
        + ("" if good == len(steps) else f", {sum(s.skipped for s in steps)} not run")
    )
    if keep is not None:
        _out.print(f"stores and logs left in {keep}", markup=False)
    if junit is not None:
        try:
            junit.write_bytes(junit_xml(results))
        except OSError as exc:
            _err.print(f"error: cannot write {junit}: {exc.strerror}", markup=False)
            raise typer.Exit(EXIT_USAGE) from exc
    raise typer.Exit(EXIT_OK if good == len(steps) else EXIT_FAILED)


def junit_xml(results: list[FlowResult]) -> bytes:
    """Return JUnit XML for replayed flows: a test suite per flow, a test case per step."""
    suites = ElementTree.Element("testsuites", name="picexchange replay")
    for result in results:
        failures = sum(not step.ok and not step.skipped for step in result.steps)
        skipped = sum(step.skipped for step in result.steps)
        suite = ElementTree.SubElement(
            suites,
            "testsuite",
            name=result.name,
            tests=str(len(result.steps)),
            failures=str(failures),
            errors="0",
            skipped=str(skipped),
            time=f"{sum(step.seconds for step in result.steps):.3f}",
        )
        for step in result.steps:
            case = ElementTree.SubElement(
                suite,
                "testcase",
                classname=f"flows.{result.name}",
                name=f"{step.number:02d} day {step.day}: {step.name}",
                time=f"{step.seconds:.3f}",
            )
            detail = f"{result.source}:{step.line}\nexpected: {step.expected}\nhappened: {step.happened}"
            if step.skipped:
                ElementTree.SubElement(case, "skipped", message=step.happened)
            elif not step.ok:
                failure = ElementTree.SubElement(case, "failure", message=f"expected {step.expected}")
                failure.text = detail
            else:
                ElementTree.SubElement(case, "system-out").text = detail
    written: bytes = ElementTree.tostring(suites, encoding="utf-8", xml_declaration=True)
    return written + b"\n"


@flows_app.command("list")
def flows_list_command() -> None:
    """List the packaged sample flows: name, steps, title and what each is based on."""
    for name in resources.flow_names():
        try:
            flow = load_flow(resources.flow_folder(name))
        except FlowError as exc:  # pragma: no cover - the packaged flows are checked in CI
            _out.print(f"{name}: {exc}", markup=False)
            continue
        manifest = flow.manifest
        _out.print(f"[bold]{escape(name)}[/]  {len(manifest.step)} steps  {escape(manifest.title)}")
        _out.print(f"  based on: {escape(manifest.based_on)}")
    raise typer.Exit(EXIT_OK)


@flows_app.command("copy")
def flows_copy_command(
    name: Annotated[str, typer.Argument(help="A packaged flow (see `flows list`).")],
    folder: Annotated[Path, typer.Argument(help="A new or empty folder to copy its flow.toml and messages to.")],
) -> None:
    """Copy a packaged flow into a folder, to change it and replay it (`picexchange replay FOLDER`).

    Exit codes: 0 copied, 2 no such flow, or the folder is not empty or cannot be written.
    """
    if name not in resources.flow_names():
        _err.print(f"error: {name}: no such flow (packaged: {', '.join(resources.flow_names())})", markup=False)
        raise typer.Exit(EXIT_USAGE)
    try:
        if folder.exists() and any(folder.iterdir()):
            _err.print(f"error: {folder} is not empty; nothing copied", markup=False)
            raise typer.Exit(EXIT_USAGE)
        folder.mkdir(parents=True, exist_ok=True)
        files = sorted(resources.flow_folder(name).iterdir(), key=lambda item: item.name)
        for item in files:
            if item.is_file():
                (folder / item.name).write_bytes(item.read_bytes())
    except OSError as exc:
        _err.print(f"error: cannot write {folder}: {exc.strerror}", markup=False)
        raise typer.Exit(EXIT_USAGE) from exc
    _out.print(f"copied {name} to {folder}: " + ", ".join(item.name for item in files if item.is_file()), markup=False)
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add ``replay`` and the ``flows`` commands to the main ``picexchange`` app."""
    app.command("replay")(replay_command)
    app.add_typer(flows_app, name="flows")
