"""docs/integration-testing.md's worked example is a real transcript: its commands run and print what it shows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "integration-testing.md"
_MS = re.compile(r" \(\d+ ms\)")


def _example() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    block = text[text.index("<!-- worked-example") :]
    start = block.index("```sh\n") + len("```sh\n")
    return block[start : block.index("```\n", start)].splitlines()


@pytest.mark.timeout(300)
def test_the_worked_example_runs_as_written(tmp_path: Path) -> None:
    lines = _example()
    outputs: list[tuple[str, list[str], list[str]]] = []  # (command, expected, got)
    code = 0
    index = 0
    while index < len(lines):
        command = lines[index].removeprefix("$ ")
        assert lines[index].startswith("$ "), lines[index]
        index += 1
        expected: list[str] = []
        heredoc = re.fullmatch(r"cat > (\S+) <<'EOF'", command)
        if heredoc:
            end = lines.index("EOF", index)
            (tmp_path / heredoc.group(1)).write_text("\n".join(lines[index:end]) + "\n", encoding="utf-8")
            index = end + 1
            continue
        while index < len(lines) and not lines[index].startswith("$ "):
            expected.append(lines[index])
            index += 1
        if command == "echo $?":
            got = [str(code)]
        else:
            assert command.startswith("picexchange "), command
            result = subprocess.run(  # noqa: S603 - our own entry point
                [sys.executable, "-m", "picexchange", *command.split()[1:]],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=280,
                check=False,
            )
            code = result.returncode
            got = result.stdout.splitlines()
        outputs.append((command, [_MS.sub("", line) for line in expected], [_MS.sub("", line) for line in got]))
    for command, expected, got in outputs:
        assert got == expected, f"$ {command}"
    assert (tmp_path / "report.xml").is_file()
