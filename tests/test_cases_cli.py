"""``picexchange case check``: the sample flows folded from their files, in any order, offline.

Every test runs the real command on the real sample files (copied, renamed or cut where a test needs it).
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from picexchange.cli import app
from test_packaging import CLI, _without_extras

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = ROOT / "samples" / "messages"
SIGNED = ROOT / "samples" / "signed"
INVALID = ROOT / "samples" / "invalid"
REGISTRY = ROOT / "samples" / "keys" / "partners.toml"
PLASTIC = sorted(MESSAGES.glob("plastic-au-my-*.xml"))
EWASTE = sorted(MESSAGES.glob("ewaste-th-kr-jp-*.xml"))
INSIDE = "2026-03-20"
"""After the first shipment's receipt, before the withdrawal (2026-05-01) and the cancellation (2026-05-06)."""
FINDING = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<path>/\S*): \[(?P<rule>[\w.-]+)\] (?P<text>.+)$")
NOT_CHECKED = "signatures were not checked"


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["case", "check", *(str(arg) for arg in args)])
    return result.exit_code, result.stdout, result.stderr


def _line(path: Path, text: str, after: str = "") -> int:
    """Return the 1-based line of the first line holding ``text`` after the first one holding ``after``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if after in line)
    return next(i for i, line in enumerate(lines[start:], start=start) if text in line) + 1


def _findings(out: str) -> list[dict[str, str]]:
    return [match.groupdict() for line in out.splitlines() if (match := FINDING.match(line))]


def _copy(files: list[Path], folder: Path, *, skip: str) -> Path:
    """Copy ``files`` into ``folder``, leaving out those whose name matches ``skip``."""
    folder.mkdir()
    for path in files:
        if not re.search(skip, path.name):
            shutil.copy(path, folder / path.name)
    return folder


def test_the_plastic_flow_inside_the_consent_blocks_nothing(tmp_path: Path) -> None:
    """The whole AU -> MY flow, seen on a day inside the consent: the state of each party, exit 0."""
    code, out, err = run("--at", INSIDE, *PLASTIC)
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0] == (
        "AU2026-0042 as of 2026-03-20: notified (cancelled from 2026-05-06); nothing blocks a new shipment"
    )
    assert "  MY import  MY:DOE     acknowledgement complete 2026-01-23; consented 2026-02-16; " in out
    assert "  shipments: 2 used, 6 left (8 notified)" in lines
    assert "  quantity: 39.76 TNE used, 120.24 TNE left (160 TNE notified)" in lines
    assert _findings(out) == []
    assert NOT_CHECKED in err
    assert "plastic-au-my-02-receipt.xml: Receipt" in err  # a transport reply is no message of a case


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_files_in_any_order_and_under_any_name_give_the_same_case(tmp_path: Path, seed: int) -> None:
    """Files renamed so that they are read in a shuffled order, given in another shuffled order: the same report."""
    order = random.Random(seed).sample(PLASTIC, len(PLASTIC))
    names = {}
    for index, path in enumerate(order):
        copy = tmp_path / f"{index:02d}-{random.Random(seed + index).getrandbits(32):08x}.xml"
        shutil.copy(path, copy)
        names[str(copy)] = str(path)
    given = random.Random(-seed).sample(sorted(names), len(names))
    code, out, _ = run("--at", INSIDE, *given)
    for copy, original in names.items():
        out = out.replace(copy, original)
    assert (code, out) == run("--at", INSIDE, *PLASTIC)[:2]
    code, out, _ = run("--at", "2026-05-10", *reversed(given))
    for copy, original in names.items():
        out = out.replace(copy, original)
    assert (code, out) == run("--at", "2026-05-10", *PLASTIC)[:2]


def test_without_the_consent_the_export_data_is_reported_where_it_breaks_the_rule(tmp_path: Path) -> None:
    """No ConsentDecision: exit 1, each ExportData's line of NotificationNumber under [pic.consent.missing]."""
    folder = _copy(PLASTIC, tmp_path / "flow", skip="-06-consent-decision")
    code, out, _ = run("--at", INSIDE, folder)
    assert code == 1
    assert out.splitlines()[0].endswith("a violation blocks new shipments")
    missing = [f for f in _findings(out) if f["rule"] == "pic.consent.missing"]
    export = folder / "plastic-au-my-08-export-data.xml"
    line = _line(export, "NotificationNumber>", after="ExportData>")
    assert line == 15
    assert {
        "file": str(export),
        "line": str(line),
        "path": "/ExportData/NotificationNumber",
        "rule": "pic.consent.missing",
        "text": "violation: MY (import) has not consented by the shipment date 2026-03-04 "
        "(expected consent of MY (import) by 2026-03-04; found no decision)",
    } in missing
    assert {(Path(f["file"]).name, f["path"]) for f in missing} == {
        ("plastic-au-my-01-notification.xml", "/Notification/StateConcerned[2]"),
        ("plastic-au-my-08-export-data.xml", "/ExportData/NotificationNumber"),
        ("plastic-au-my-12-export-data.xml", "/ExportData/NotificationNumber"),
    }
    route = next(f for f in missing if f["path"] == "/Notification/StateConcerned[2]")
    second = _line(folder / "plastic-au-my-01-notification.xml", "<pic:StateConcerned>", after="</pic:StateConcerned>")
    assert int(route["line"]) == second


def test_after_the_consent_expired_the_same_files_block(tmp_path: Path) -> None:
    """``--at`` past the consent's ValidUntil (2027-02-19) flips exit 0 to 1, pointing at the consent's line."""
    # Up to the second shipment's receipt: no withdrawal, no cancellation.
    folder = _copy(PLASTIC, tmp_path / "flow", skip=r"-1[67]-")
    assert run("--at", INSIDE, folder)[0] == 0
    code, out, _ = run("--at", "2027-03-01", folder)
    assert code == 1
    consent = folder / "plastic-au-my-06-consent-decision.xml"
    assert {
        "file": str(consent),
        "line": str(_line(consent, "ValidUntil>")),
        "path": "/ConsentDecision/ValidUntil",
        "rule": "export.consent.validity",
        "text": "violation: the consent of MY (import) is not valid on 2027-03-01; no shipment may start on it "
        "(expected 2026-02-20 to 2027-02-19; found 2027-03-01)",
    } in _findings(out)


def test_the_ewaste_flow_with_signatures_checked_against_the_registry() -> None:
    """JP -> SG -> MY, signed: verified against the sample registry; three States, one shipment used, none left."""
    files = sorted(SIGNED.glob("ewaste-th-kr-jp-*.xml"))
    code, out, err = run("--at", "2026-09-01", "--registry", REGISTRY, *files)
    assert code == 0, out + err
    assert NOT_CHECKED not in err
    lines = out.splitlines()
    assert lines[0] == "TH-DIW-2026-0254 as of 2026-09-01: notified; nothing blocks a new shipment"
    assert lines[2].startswith("  KR transit KR:ME      acknowledgement complete 2026-06-02; consented 2026-06-22")
    assert lines[3].endswith("consented-with-conditions 2026-07-06; valid 2026-07-06 to 2027-01-05; 2 conditions")
    assert "  shipments: 1 used, 0 left (1 notified)" in lines
    assert _findings(out) == []  # the Notification's copies to SG and MY are one notification
    # The same flow unsigned, agencies taken from the message types: the same case.
    unsigned = run("--at", "2026-09-01", *EWASTE)
    assert unsigned[0] == 0
    assert unsigned[1].replace(str(MESSAGES), str(SIGNED)) == out


def test_with_a_registry_an_unsigned_or_altered_message_is_not_read(tmp_path: Path) -> None:
    """``--registry`` checks each signature: an unsigned file and a file changed after signing exit 2."""
    altered = tmp_path / "altered.xml"
    altered.write_bytes(
        (SIGNED / "plastic-au-my-06-consent-decision.xml").read_bytes().replace(b"2027-02-19", b"2028-02-19")
    )
    code, out, _ = run("--at", INSIDE, "--registry", REGISTRY, MESSAGES / "plastic-au-my-01-notification.xml", altered)
    assert code == 2
    problems = [line for line in out.splitlines() if "[signature]" in line]
    assert len(problems) == 2, out
    # Files are reported in path order, which depends on where the checkout and the temporary folder are.
    assert sorted(line.split(":", 1)[0] for line in problems) == sorted(
        [str(altered), str(MESSAGES / "plastic-au-my-01-notification.xml")]
    )


def test_a_malformed_or_invalid_file_exits_2_with_file_line_path_and_code(tmp_path: Path) -> None:
    """A file that is not a valid message: ``file:line: path: [code] text``, exit 2, no traceback; the rest is read."""
    code, out, err = run("--at", INSIDE, INVALID / "truncated.xml", INVALID / "unknown-y-code.xml", *PLASTIC)
    assert code == 2
    assert "Traceback" not in out + err
    assert re.search(rf"^{re.escape(str(INVALID / 'truncated.xml'))}:[1-9]\d*: /: \[parse\] not well-formed", out, re.M)
    y99 = _line(INVALID / "unknown-y-code.xml", ">Y99<")
    assert (
        f"{INVALID / 'unknown-y-code.xml'}:{y99}: /Envelope/Body/Notification/WasteIdentification/YCode[1]: "
        "[schema] 'Y99' is not a Basel Annex I/II code"
    ) in out.splitlines()
    assert "AU2026-0042 as of 2026-03-20" in out  # the valid files are still folded and shown
    bare = tmp_path / "bare.xml"
    bare.write_bytes(b"<Notification xmlns='urn:picexchange:ub:pic:1'/>")
    code, out, _ = run(bare)
    assert code == 2
    assert out == (
        f"{bare}:1: /Notification: [schema] a message file holds an Envelope (signed or not), not a bare Notification\n"
    )
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"")
    code, out, _ = run(empty)
    assert (code, out.split(": [")[0]) == (2, f"{empty}: /")  # no line to point at: no "line 0"


def test_usage_errors_exit_2() -> None:
    """A missing file, a bad date, a registry that cannot be read, or no case message at all."""
    assert run(MESSAGES / "nothing-here.xml")[0] == 2
    code, _, err = run("--at", "10/05/2026", *PLASTIC)
    assert (code, "--at must be a date" in err) == (2, True)
    code, _, err = run("--registry", MESSAGES / "plastic-au-my-01-notification.xml", *PLASTIC)
    assert code == 2
    assert err.startswith("error: ")
    code, _, err = run(MESSAGES / "plastic-au-my-02-receipt.xml")
    assert (code, "no message of a case" in err) == (2, True)


def test_json_prints_the_case_views_with_each_findings_file_and_line(tmp_path: Path) -> None:
    """``--json``: the case view of docs/cases.md, each finding with its file and line, problems listed apart."""
    folder = _copy(PLASTIC, tmp_path / "flow", skip="-06-consent-decision")
    code, out, _ = run("--at", INSIDE, "--json", folder, INVALID / "unknown-y-code.xml")
    assert code == 2
    report = json.loads(out)
    assert list(report) == ["as_of", "signatures_checked", "blocked", "cases", "problems"]
    assert (report["as_of"], report["signatures_checked"], report["blocked"]) == (INSIDE, False, True)
    assert report["problems"] == [
        {
            "file": str(INVALID / "unknown-y-code.xml"),
            "line": _line(INVALID / "unknown-y-code.xml", ">Y99<"),
            "path": "/Envelope/Body/Notification/WasteIdentification/YCode[1]",
            "code": "schema",
            "text": "'Y99' is not a Basel Annex I/II code",
        }
    ]
    (case,) = report["cases"]
    assert case["notification_number"] == "AU2026-0042"
    assert case["states"][1]["decision"] == "undecided"
    export = folder / "plastic-au-my-08-export-data.xml"
    located = [f for f in case["findings"] if f["file"] == str(export) and f["rule_id"] == "pic.consent.missing"]
    assert [(f["line"], f["field"], f["blocks"]) for f in located] == [(15, "/ExportData/NotificationNumber", True)]
    assert all(isinstance(f["line"], int) and f["file"].startswith(str(folder)) for f in case["findings"])
    assert case["files"][case["message_ids"][0]] == str(folder / "plastic-au-my-01-notification.xml")
    assert set(case["files"]) == set(case["message_ids"])


def test_the_check_runs_on_a_plain_install() -> None:
    """``case check`` needs no extra: it loads neither the gateway nor the test kit."""
    files = [str(path.relative_to(ROOT)) for path in PLASTIC]
    result = _without_extras(CLI, "case", "check", "--at", INSIDE, *files)
    assert result.stderr.splitlines()[-1] == "exit 0 loaded []", result.stderr


def test_the_registry_sets_the_case_policy(tmp_path: Path) -> None:
    """With --registry the registry's [cases] policy applies: a 1-month limit makes the 6-month consent a warning."""
    keys = tmp_path / "keys"
    shutil.copytree(REGISTRY.parent, keys)
    (keys / "partners.toml").write_text(
        REGISTRY.read_text(encoding="utf-8") + "\n[cases]\nmax_consent_months = 1\n", encoding="utf-8"
    )
    files = sorted(SIGNED.glob("ewaste-th-kr-jp-*.xml"))
    code, out, err = run("--at", "2026-09-01", "--registry", keys / "partners.toml", *files)
    assert code == 0, out + err  # a warning informs, it does not block
    assert {item["rule"] for item in _findings(out)} == {"pic.consent.validity-too-long"}
    code, out, _ = run("--at", "2026-09-01", "--registry", REGISTRY, *files)
    assert _findings(out) == []


def test_the_help_shows_the_finding_format_as_printed() -> None:
    """The help's ``[rule-id]`` is text, not a markup tag that would vanish from what a user reads."""
    result = CliRunner().invoke(app, ["case", "check", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "file:line: path: [rule-id] message" in " ".join(result.stdout.split())
