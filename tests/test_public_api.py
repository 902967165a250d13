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
    """A name ending in Error is an exception of the tree, never the Error document (exported as ErrorReply)."""
    errors = [getattr(picexchange, n) for n in picexchange.__all__ if n.endswith("Error") or n == "MessageTooLarge"]
    assert errors
    assert all(isinstance(e, type) and issubclass(e, picexchange.PicExchangeError) for e in errors)
    assert "Error" not in picexchange.__all__


def test_the_error_document_is_exported_as_error_reply_and_keeps_its_element_name() -> None:
    """ErrorReply is the signed Error document; on the wire it is still <Error>."""
    from picexchange.models.envelope import Error

    assert picexchange.ErrorReply is Error
    assert not issubclass(picexchange.ErrorReply, BaseException)
    root = picexchange.parse(picexchange.to_xml(picexchange.ErrorReply(code="schema", text="not valid")))
    assert root.tag == "{urn:picexchange:envelope:1}Error"


def test_the_signature_digest_method_and_the_digest_element_have_different_names() -> None:
    """signing.DigestMethod (how a reference is hashed) is not models.common.Digest (a Receipt's SHA-256)."""
    from picexchange import signing
    from picexchange.models.common import Digest

    assert picexchange.DigestMethod is signing.DigestMethod
    assert not hasattr(signing, "Digest")
    assert "Digest" not in picexchange.__all__
    assert picexchange.DigestMethod.__name__ != Digest.__name__
    assert picexchange.SignatureAlgorithm.RSA_SHA256.digest is picexchange.DigestMethod.SHA256


#: What a vendor needs to send and receive without the gateway: the engine, its results and its policies.
SEND_AND_RECEIVE = {
    "seal", "Sealed", "accept", "accept_for", "Inbound", "AcceptPolicy", "Freshness", "read_header",
    "RoutingHeader", "TrustReason", "receipt_for", "error_for", "read_reply", "Receipted", "VerifyPolicy",
    "SignatureAlgorithm", "DigestMethod", "Client", "AsyncClient", "ClientConfig", "RetryPolicy", "TlsConfig",
}  # fmt: skip


def test_what_a_vendor_needs_to_send_and_receive_is_public() -> None:
    """The engine's entry points, results and policies are in __all__: its own objects, or its wall-clock face.

    Each function that takes ``now`` is exported from picexchange.wallclock (``now`` defaults to the current
    time), which wraps the engine's function of the same name; everything else is the engine's own object.
    """
    import inspect

    from picexchange import exchange, signing, wallclock

    assert set(picexchange.__all__) >= SEND_AND_RECEIVE | {"reopen", "verify"}
    for name in SEND_AND_RECEIVE - set(picexchange._LAZY):
        home = wallclock if name in wallclock.__all__ else exchange if hasattr(exchange, name) else signing
        assert getattr(picexchange, name) is getattr(home, name), name
    for name in wallclock.__all__:
        engine = getattr(exchange, name, None) or getattr(signing, name)
        assert "now" in inspect.signature(engine).parameters, name
        assert inspect.signature(getattr(picexchange, name)).parameters["now"].default is None, name


def test_no_two_public_classes_share_a_name() -> None:
    """Across the library's modules, the gateway's included, a class name in an __all__ means one class."""
    import importlib
    import inspect
    import pkgutil
    from collections import defaultdict

    homes: defaultdict[str, set[str]] = defaultdict(set)
    for info in pkgutil.walk_packages(picexchange.__path__, "picexchange."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if inspect.isclass(value):
                homes[value.__name__].add(f"{value.__module__}.{value.__qualname__}")
    clashes = {name: sorted(where) for name, where in homes.items() if len(where) > 1}
    assert not clashes


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
    monkeypatch.setattr(sys.modules[__name__], "CORE", [*CORE, "no_such_core.py"])
    with pytest.raises(AssertionError, match=r"no_such_core\.py is listed as core but does not exist"):
        _core_files()
