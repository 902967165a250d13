"""Take the screenshots of docs/console.md: each console page at laptop and phone width, in docs/console/.

Runs tests/test_console_browser.py (a replayed flow served with its console, Debian's chromium driven by
Playwright) with ``PICEXCHANGE_CONSOLE_SCREENSHOTS`` naming the folder; the tests take the pictures as they go.

    python scripts/console_screenshots.py            # writes docs/console/*.png
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Run the browser tests with screenshots on; return pytest's exit code."""
    folder = ROOT / "docs" / "console"
    environment = {**os.environ, "PICEXCHANGE_CONSOLE_SCREENSHOTS": str(folder)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_console_browser.py"]
    return subprocess.call(command, cwd=ROOT, env=environment)  # noqa: S603 -- our own interpreter and test file


if __name__ == "__main__":
    raise SystemExit(main())
