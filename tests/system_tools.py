"""The Debian programs that the interop and browser tests run: xmlsec1, xmllint, chromium and the JDK.

``./dev test`` (and so CI) installs them when they are missing. A test that needs one calls :func:`require`,
which fails the test naming the package, so a machine without it never passes by skipping; set
``PICEXCHANGE_ALLOW_MISSING_TOOLS=1`` to skip those tests instead (a vendor's laptop without apt).
"""

from __future__ import annotations

import os
import shutil

import pytest

#: Program → the Debian package that provides it.
PACKAGES = {
    "xmlsec1": "xmlsec1",
    "xmllint": "libxml2-utils",
    "chromium": "chromium",
    "java": "default-jre-headless",
    # `java Foo.java` (the signature profile's Java recipes) compiles in memory: it needs the JDK, not a JRE.
    "javac": "default-jdk-headless",
}


def require(program: str) -> str:
    """Return the program's path, or fail (skip, with PICEXCHANGE_ALLOW_MISSING_TOOLS=1) naming its package."""
    path = shutil.which(program)
    if path is not None:
        return path
    package = PACKAGES.get(program, program)
    message = f"{program} not found: install the Debian package {package} (./dev test installs it)"
    if os.environ.get("PICEXCHANGE_ALLOW_MISSING_TOOLS") == "1":
        pytest.skip(message)
    pytest.fail(message)
