"""The copy-paste recipes of docs/signature-profile.md, as the tests run them.

Each recipe is the fenced code block right after a ``<!-- recipe: NAME -->`` line; a test writes it into a
folder under its NAME (a template, a Java source) or runs it there with bash (a ``.sh`` recipe), with the files
the page names: ``envelope.xml``, ``our.key.pem``, ``our.cert.pem``, ``partner.cert.pem``, ``envelope-signed.xml``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

PROFILE = Path(__file__).resolve().parent.parent / "docs" / "signature-profile.md"
SAMPLES = Path(__file__).resolve().parent.parent / "samples"

_RECIPE = re.compile(r"^<!-- recipe: (?P<name>\S+) -->\n```\w*\n(?P<body>.*?)^```$", re.DOTALL | re.MULTILINE)

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"


def recipes() -> dict[str, str]:
    """Return every recipe of the profile page by name."""
    found: dict[str, str] = {}
    for match in _RECIPE.finditer(PROFILE.read_text(encoding="utf-8")):
        assert match["name"] not in found, f"two recipes named {match['name']}"
        found[match["name"]] = match["body"]
    return found


def run_recipe(name: str, folder: Path, *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the shell recipe ``name`` with bash in ``folder``; return the finished process (not checked)."""
    return subprocess.run(  # noqa: S603 - the page's own commands, in a test folder
        ["bash", "-euo", "pipefail", "-c", recipes()[name]],  # noqa: S607
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def sample_key(participant: str) -> tuple[Path, Path]:
    """Return the TEST ONLY key and certificate files of a sample participant (samples/keys)."""
    stem = participant.replace(":", "_")
    return SAMPLES / "keys" / f"{stem}.key.pem", SAMPLES / "keys" / f"{stem}.cert.pem"
