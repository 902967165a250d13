"""The sample flows: generated as committed, each replayed green, bad manifests refused with file:line.

Every packaged flow is replayed here between real gateways (SQLite, test PKI, loopback) with the simulated
clock: that is the proof, in CI, that each flow's expectations hold. A flow whose expectation is wrong must
fail with the step, the expectation and what happened, and exit 1; JUnit XML has one test case per step.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree  # noqa: N813
from pathlib import Path
from types import ModuleType

import pytest

from picexchange import resources
from picexchange.errors import ConfigurationError, FlowError
from picexchange.flows import SimulatedClock, replay
from picexchange.flowspec import load_flow

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "src" / "picexchange" / "data" / "flows"


def _make_flows() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_flows", ROOT / "scripts" / "make_flows.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_flows", module)  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_the_committed_flows_are_what_the_script_writes() -> None:
    """scripts/make_flows.py builds the files from the models: what is committed is exactly its output."""
    written = _make_flows().build()
    committed = {path for path in FLOWS.rglob("*") if path.is_file()}
    assert committed == set(written), "re-run scripts/make_flows.py"
    for path, data in written.items():
        assert path.read_bytes() == data, f"{path.relative_to(ROOT)} differs: re-run scripts/make_flows.py"


def test_the_issue_s_flows_are_packaged() -> None:
    """The flows the integration testers asked for, first of all the plastic case with three shipments."""
    names = set(resources.flow_names())
    assert {
        "plastic-au-my",
        "port-hopping",
        "quantity-exceeded",
        "consent-withdrawn",
        "notification-cancelled",
        "duplicate-delivery",
        "tampered-message",
        "consent-expired",
        "hs-code-mismatch",
        "information-and-conditions",
        "ewaste-objection",
        "ewaste-deemed-transit",
    } <= names
    plastic = load_flow(resources.flow_folder("plastic-au-my"))
    kinds = [type(envelope.document).__name__ for envelope in plastic.messages.values()]
    assert kinds.count("ExportData") == 3
    assert kinds.count("ShipmentReceipt") == 3 and kinds.count("DisposalCertificate") == 3
    for name in names:
        manifest = load_flow(resources.flow_folder(name)).manifest
        assert manifest.based_on and manifest.title
        # Real competent authorities and Customs: the participants the sample keys stand for.
        for hosts in manifest.single_windows.values():
            assert set(hosts) <= {
                *("AU:DCCEEW", "AU:ABF", "MY:DOE", "MY:RMCD", "JP:MOE", "JP:CUSTOMS", "SG:NEA"),
                *("TH:DIW", "TH:CUSTOMS", "KR:ME"),
            }


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", resources.flow_names())
def test_every_packaged_flow_replays_green(name: str, tmp_path: Path) -> None:
    """Each step of each packaged flow meets its expectation between real gateways and a simulated clock."""
    flow = load_flow(resources.flow_folder(name))
    result = replay(flow, tmp_path)
    failed = [f"{s.number}. {s.name}: expected {s.expected}; happened {s.happened}" for s in result.steps if not s.ok]
    assert result.ok, "\n".join(failed)
    assert len(result.steps) == len(flow.manifest.step)
    receipted = [step for step in result.steps if flow.manifest.step[step.number - 1].expect.outcome == "receipted"]
    assert all(step.message_id for step in receipted)


@pytest.mark.timeout(600)
def test_without_korea_s_waiver_the_shipment_stays_refused_after_sixty_days(tmp_path: Path) -> None:
    """The deemed consent comes from the manifest's waiver: without it the day-63 announcement is refused."""
    folder = _flow_copy(tmp_path, "ewaste-deemed-transit")
    manifest = folder / "flow.toml"
    text = manifest.read_text(encoding="utf-8")
    assert '[waived_written_consent]\n"KR:ME" = 60\n' in text
    manifest.write_text(text.replace('[waived_written_consent]\n"KR:ME" = 60\n', ""), encoding="utf-8")
    flow = load_flow(folder)
    assert flow.manifest.waived_written_consent == {}
    result = replay(flow, tmp_path / "stores")
    by_number = {step.number: step for step in result.steps}
    assert [by_number[n].ok for n in range(1, 8)] == [True] * 7  # up to the early export data, refused as expected
    assert not by_number[8].ok and by_number[8].happened.startswith("refused: case-violation [pic.transit.missing]")
    assert not result.ok


def test_a_waiver_by_a_participant_no_single_window_hosts_is_refused(tmp_path: Path) -> None:
    folder = _flow_copy(tmp_path, "ewaste-deemed-transit")
    manifest = folder / "flow.toml"
    text = manifest.read_text(encoding="utf-8").replace('"KR:ME" = 60', '"CN:MEE" = 60', 1)
    manifest.write_text(text, encoding="utf-8")
    error = _refused(folder)
    line = _line_of(text, '"CN:MEE" = 60')
    assert str(error).startswith(f"ewaste-deemed-transit/flow.toml:{line}: CN:MEE waived written consent")


def test_a_waiver_longer_than_the_convention_s_sixty_days_is_refused(tmp_path: Path) -> None:
    folder = _flow_copy(tmp_path, "ewaste-deemed-transit")
    manifest = folder / "flow.toml"
    text = manifest.read_text(encoding="utf-8").replace('"KR:ME" = 60', '"KR:ME" = 90', 1)
    manifest.write_text(text, encoding="utf-8")
    error = _refused(folder)
    assert "waived_written_consent.KR:ME: Input should be less than or equal to 60" in str(error)
    assert error.line == _line_of(text, '"KR:ME" = 90')


def test_the_simulated_clock_jumps_forward_only() -> None:
    import datetime as dt

    start = dt.datetime(2026, 2, 2, 1, tzinfo=dt.UTC)
    clock = SimulatedClock(start)
    assert start <= clock() < start + dt.timedelta(hours=1)
    clock.advance_to(60)
    sixty = clock()
    assert start + dt.timedelta(days=60) <= sixty < start + dt.timedelta(days=60, hours=1)
    clock.advance_to(10)  # never backwards
    assert clock() >= sixty and clock.day == 60


# ------------------------------------------------------------------------------------------ bad manifests


def _flow_copy(tmp_path: Path, name: str = "port-hopping") -> Path:
    folder = tmp_path / name
    shutil.copytree(FLOWS / name, folder)
    return folder


def _line_of(text: str, marker: str, occurrence: int = 1) -> int:
    count = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if marker in line:
            count += 1
            if count == occurrence:
                return number
    raise AssertionError(marker)


def _refused(folder: Path) -> FlowError:
    with pytest.raises(FlowError) as caught:
        load_flow(folder, display=folder.name)
    assert isinstance(caught.value, ConfigurationError)
    return caught.value


def test_an_unknown_participant_is_refused_with_file_and_line(tmp_path: Path) -> None:
    folder = _flow_copy(tmp_path)
    manifest = folder / "flow.toml"
    text = manifest.read_text(encoding="utf-8").replace('to = "MY:RMCD"', 'to = "MY:MITI"', 1)
    manifest.write_text(text, encoding="utf-8")
    error = _refused(folder)
    line = _line_of(text, 'to = "MY:MITI"')
    assert str(error) == (
        f"port-hopping/flow.toml:{line}: step 1: unknown participant MY:MITI; "
        "hosted: AU:ABF, AU:DCCEEW, MY:DOE, MY:RMCD"
    )
    assert error.line == line and error.source == "port-hopping/flow.toml"


def test_a_missing_message_file_is_refused_with_the_manifest_line(tmp_path: Path) -> None:
    folder = _flow_copy(tmp_path)
    (folder / "02-export-data.xml").unlink()
    text = (folder / "flow.toml").read_text(encoding="utf-8")
    error = _refused(folder)
    line = _line_of(text, '"02-export-data.xml"')
    assert str(error) == f"port-hopping/flow.toml:{line}: step 2: missing message file 02-export-data.xml"


def test_days_going_backwards_are_refused(tmp_path: Path) -> None:
    folder = _flow_copy(tmp_path, "duplicate-delivery")
    manifest = folder / "flow.toml"
    text = manifest.read_text(encoding="utf-8").replace("day = 16", "day = 1", 1)
    manifest.write_text(text, encoding="utf-8")
    error = _refused(folder)
    assert str(error) == (
        f"duplicate-delivery/flow.toml:{_line_of(text, 'day = 1')}: step 3: day 1 is before the day of the "
        "step before it (2)"
    )


def test_a_sender_no_single_window_hosts_is_refused(tmp_path: Path) -> None:
    """The Single Windows are the flow's: a participant of a country with no Single Window cannot send."""
    folder = _flow_copy(tmp_path)
    manifest = folder / "flow.toml"
    text = manifest.read_text(encoding="utf-8").replace('AU = ["AU:DCCEEW", "AU:ABF"]', 'AU = ["AU:DCCEEW"]')
    manifest.write_text(text, encoding="utf-8")
    error = _refused(folder)
    line = _line_of(text, '"AU:ABF"')
    assert str(error).startswith(f"port-hopping/flow.toml:{line}: step 1: ")
    assert "unknown participant AU:ABF" in str(error)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("day = 0", 'day = "zero"'), "step[1].day: Input should be a valid integer"),
        (('via = "partner"', 'via = "carrier pigeon"'), "step[2].via: Input should be 'back-office' or 'partner'"),
        (("expect.clearance", "expect.clearence"), "step[2].expect.clearence: Extra inputs are not permitted"),
        (('message = "02-export-data.xml"', "redeliver = 1"), "step 2: step 1 delivered nothing to redeliver"),
        (('via = "partner"', 'via = "back-office"\ntamper = true'), 'step 2: tamper needs via = "partner"'),
        (('AU = ["AU:DCCEEW", "AU:ABF"]', 'AU = ["AU:DCCEEW", "MY:RMCD"]'), "MY:RMCD is not of AU"),
        (('name = "port-hopping"', "name = [oops"), "not valid TOML"),
    ],
)
def test_impossible_manifests_are_refused_before_anything_is_sent(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    folder = _flow_copy(tmp_path)
    manifest = folder / "flow.toml"
    old, new = edit
    text = manifest.read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new, 1)
    manifest.write_text(text, encoding="utf-8")
    error = _refused(folder)
    assert expected in str(error)
    assert error.line is not None and str(error).startswith(f"port-hopping/flow.toml:{error.line}: ")


def test_an_invalid_message_file_is_refused_with_its_own_line(tmp_path: Path) -> None:
    folder = _flow_copy(tmp_path)
    message = folder / "02-export-data.xml"
    message.write_bytes(message.read_bytes().replace(b"<exp:ShipmentSerial>1<", b"<exp:ShipmentSerial>x<", 1))
    error = _refused(folder)
    assert error.source == "port-hopping/02-export-data.xml"
    assert error.line is not None and error.line > 1


# ------------------------------------------------------------------------------------------ the command


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own entry point
        [sys.executable, "-m", "picexchange", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )


@pytest.mark.timeout(300)
def test_a_wrong_expectation_fails_the_replay_with_exit_1_and_junit(tmp_path: Path) -> None:
    """The step, its expectation and what happened are printed; the JUnit XML has one case per step."""
    folder = _flow_copy(tmp_path)
    manifest = folder / "flow.toml"
    text = manifest.read_text(encoding="utf-8").replace(
        'expect.findings = ["export.case.unknown"]', 'expect.findings = ["pic.consent.missing"]'
    )
    manifest.write_text(text, encoding="utf-8")
    report = tmp_path / "junit.xml"
    result = _cli("replay", folder, "--junit", report, "--keep", tmp_path / "kept", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "✓ day   0   1. AU:ABF → MY:RMCD" in out
    assert "✗ day   0   2. AU:ABF → MY:RMCD" in out
    assert f"at {folder}/flow.toml:{_line_of(text, '[[step]]', 2)}" in out
    assert "expected: receipted; a ClearanceResult held with findings pic.consent.missing" in out
    assert "happened: ClearanceResult held [export.case.unknown] from MY:RMCD" in out
    assert "1 flow(s), 2 steps: 1 met their expectation, 1 did not" in out
    suites = ElementTree.fromstring(report.read_bytes())  # noqa: S314 - our own output
    cases = suites.findall("testsuite/testcase")
    assert len(cases) == 2 and suites.find("testsuite").get("failures") == "1"  # type: ignore[union-attr]
    assert cases[0].find("failure") is None and cases[1].find("failure") is not None
    assert "pic.consent.missing" in (cases[1].find("failure").text or "")  # type: ignore[union-attr]
    # --keep leaves each Single Window's store and the step log.
    kept = tmp_path / "kept" / "port-hopping"
    assert {path.name for path in kept.glob("*.db")} == {"AU_DCCEEW.db", "MY_DOE.db"}
    assert "FAILED day   0   2." in (kept / "replay.log").read_text(encoding="utf-8")


@pytest.mark.timeout(300)
def test_the_replay_prints_participant_ids_as_written(tmp_path: Path) -> None:
    """``:CUSTOMS:`` is no emoji code: the progress lines name TH:CUSTOMS and JP:CUSTOMS as they are."""
    result = _cli("replay", "ewaste-deemed-transit", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9. TH:CUSTOMS → JP:CUSTOMS: TH:CUSTOMS sends the export data" in result.stdout
    assert "1 flow(s), 12 steps: 12 met their expectation" in result.stdout


def test_a_bad_manifest_exits_2_before_anything_is_sent(tmp_path: Path) -> None:
    folder = _flow_copy(tmp_path)
    (folder / "01-export-data.xml").unlink()
    result = _cli("replay", folder, "plastic-au-my", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("step 1: missing message file 01-export-data.xml")
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert _cli("replay", cwd=tmp_path).returncode == 2
    unknown = _cli("replay", "no-such-flow", cwd=tmp_path)
    assert unknown.returncode == 2 and "no-such-flow: no such flow" in unknown.stderr


def test_flows_list_names_every_flow_with_its_steps_and_basis(tmp_path: Path) -> None:
    result = _cli("flows", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in resources.flow_names():
        manifest = load_flow(resources.flow_folder(name)).manifest
        assert f"{name}  {len(manifest.step)} steps  {manifest.title}" in result.stdout
    assert "based on: Australia: Recycling and Waste Reduction Act 2020" in result.stdout
