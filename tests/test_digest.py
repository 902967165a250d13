"""The digest a Receipt quotes (base64 SHA-256 of the exact bytes) is computed by one function (issue 9)."""

from __future__ import annotations

import ast
import base64
import hashlib
from pathlib import Path

from picexchange import exchange, store
from picexchange.gateway import outbox
from picexchange.store import base

SOURCE = Path(exchange.__file__).resolve().parent


def _computes_a_sha256(tree: ast.AST) -> list[int]:
    """Return the lines that call ``hashlib.sha256(...).digest()`` (a raw SHA-256, as a digest helper does)."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "digest"
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Attribute)
        and node.func.value.func.attr == "sha256"
    ]


def test_every_layer_uses_the_one_digest_helper() -> None:
    """The store, its base module and the outbox name the exchange's function, not a copy of it."""
    assert store.digest_of is exchange.digest_of
    assert base.digest_of is exchange.digest_of
    assert outbox.digest_of is exchange.digest_of


def test_no_other_module_computes_the_digest_itself() -> None:
    """Only ``exchange.py`` hashes message bytes with SHA-256; a second copy could drift (encoding, padding)."""
    found = {
        str(path.relative_to(SOURCE)): lines
        for path in sorted(SOURCE.rglob("*.py"))
        if (lines := _computes_a_sha256(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert list(found) == ["exchange.py"], found


def test_the_digest_is_the_base64_of_the_sha256_of_the_exact_bytes() -> None:
    """Padding kept, standard alphabet (``+`` and ``/``), ASCII text: what ``ReceivedDigest`` carries."""
    raw = b"<Envelope>\xfb\xff</Envelope>"
    assert exchange.digest_of(raw) == base64.b64encode(hashlib.sha256(raw).digest()).decode("ascii")
    assert exchange.digest_of(b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
