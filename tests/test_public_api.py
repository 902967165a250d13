"""The public surface is explicit and pinned; the core stays free of I/O."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import picexchange

SRC = Path(picexchange.__file__).parent


def test_all_is_sorted_and_complete() -> None:
    """Everything public that __init__ holds is in __all__, sorted, and every name resolves."""
    assert picexchange.__all__ == sorted(picexchange.__all__, key=lambda n: (not n.isupper(), n))
    public = {name for name in vars(picexchange) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(picexchange, name)).__name__ == "module"}
    lazy = set(picexchange._LAZY)
    assert (public - modules - {"TYPE_CHECKING", "importlib"}) | lazy == set(picexchange.__all__)
    for name in picexchange.__all__:
        assert getattr(picexchange, name) is not None


def test_importing_picexchange_does_not_import_the_http_stack() -> None:
    """Validation-only users pay for lxml and pydantic, not for httpx, FastAPI, xmlschema or the test kit."""
    import subprocess
    import sys

    heavy = ("httpx", "fastapi", "uvicorn", "psycopg", "xmlschema", "picexchange.gateway", "picexchange.testing")
    code = f"import sys, picexchange; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout  # noqa: S603
    assert out.strip() == "[]"


def test_every_exported_error_is_a_picexchange_error() -> None:
    errors = [getattr(picexchange, n) for n in picexchange.__all__ if n.endswith("Error") or n == "MessageTooLarge"]
    assert all(issubclass(e, picexchange.PicExchangeError) for e in errors if e is not picexchange.Error)


CORE = [
    "errors.py",
    "codes.py",
    "models",
    "codec.py",
    "schemas.py",
    "signing.py",
    "trust",
    "exchange.py",
    "cases",
]
FORBIDDEN_CALLS = {"open", "input", "print"}
# Methods that read or open a file whatever object they are called on (Path, Traversable, zipfile.Path): the
# packaged data reaches the core as bytes from the shell picexchange.resources.
FORBIDDEN_METHODS = {"read_text", "read_bytes", "open", "write_text", "write_bytes", "iterdir"}
# Modules the core never imports (import-linter's "core" contract holds the same list; this catches a local
# import too): files, the environment, sockets and databases are the shells' business.
FORBIDDEN_IMPORTS = {"os", "pathlib", "tomllib", "socket", "sqlite3", "httpx", "importlib"}
FORBIDDEN_ATTRIBUTES = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("date", "today"),
    ("time", "time"),
    ("os", "environ"),
    ("os", "getenv"),
    ("time", "monotonic"),
}


def _core_files() -> list[Path]:
    files: list[Path] = []
    for name in CORE:
        path = SRC / name
        # A listed module that is missing (renamed, split into a package) must fail here, not drop out unseen.
        assert path.exists(), f"{name} is listed as core but does not exist"
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def test_the_core_reads_no_clock_environment_or_files() -> None:
    """The core never touches a file, the environment or a clock it was not given (docs/architecture.md)."""
    offences = []
    for path in _core_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
                offences.append(f"{path.name}:{node.lineno}: {node.func.id}()")
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name | ast.Attribute):
                owner = node.value.id if isinstance(node.value, ast.Name) else node.value.attr
                if (owner, node.attr) in FORBIDDEN_ATTRIBUTES:
                    offences.append(f"{path.name}:{node.lineno}: {owner}.{node.attr}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in FORBIDDEN_METHODS:
                    offences.append(f"{path.name}:{node.lineno}: .{node.func.attr}()")
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                offences += [
                    f"{path.name}:{node.lineno}: import {n}" for n in names if n.split(".")[0] in FORBIDDEN_IMPORTS
                ]
    assert offences == [], "\n".join(offences)
    assert len(_core_files()) >= 8


def test_the_purity_check_sees_each_kind_of_offence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each forbidden call, attribute, method and import in a core file is reported (the check is not vacuous)."""
    offending = {
        "calls.py": "open('x')\n",
        "clock.py": "import datetime\ndatetime.datetime.now()\n",
        "environ.py": "import picexchange\nx = os.environ\n",
        "path.py": "from picexchange import x\nx.joinpath('a').read_text()\n",
        "imports.py": "from pathlib import Path\n",
        "resources.py": "from importlib import resources\n",
    }
    for name, text in offending.items():
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "CORE", sorted(offending))
    with pytest.raises(AssertionError) as caught:
        test_the_core_reads_no_clock_environment_or_files()
    for name in offending:
        assert f"{name}:" in str(caught.value)


def test_a_missing_core_module_fails_the_purity_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A core module renamed or split away must fail the check, not silently drop out of it."""
    monkeypatch.setattr(sys.modules[__name__], "CORE", [*CORE, "flows.py"])
    with pytest.raises(AssertionError, match=r"flows\.py is listed as core but does not exist"):
        _core_files()
