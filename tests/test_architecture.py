"""docs/architecture.md is true: its layer rows, contracts, core, lifecycles and names are the code's.

The page a newcomer reads first must not drift from what import-linter enforces and what the store does, so
each of its tables is parsed here and compared with its source of truth.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import inspect
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

import picexchange
from picexchange import resources, schemas
from picexchange.store import base
from tests.test_public_api import CORE

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
SRC = ROOT / "src" / "picexchange"

Lifecycle = Mapping[tuple[enum.StrEnum, enum.StrEnum], enum.StrEnum]


def _contracts() -> list[dict[str, Any]]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, Any]] = pyproject["tool"]["importlinter"]["contracts"]
    return contracts


def _contract(name_starts: str) -> dict[str, Any]:
    found = [c for c in _contracts() if str(c["name"]).startswith(name_starts)]
    assert len(found) == 1, f"one contract named {name_starts!r}…, found {len(found)}"
    return found[0]


def _table_after(marker: str, text: str | None = None) -> list[list[str]]:
    """Return the body rows of the first Markdown table after ``<!-- marker -->``, each as its cells."""
    text = DOC.read_text(encoding="utf-8") if text is None else text
    start = text.index(f"<!-- {marker}")
    rows: list[list[str]] = []
    for line in text[start:].splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if set(cells[0]) <= {"-"}:
            continue
        rows.append(cells)
    return rows[1:]  # the header row


def _names(cell: str) -> list[str]:
    return re.findall(r"`([\w.]+)`", cell)


def test_the_layer_rows_in_the_doc_are_the_contract_rows() -> None:
    """Same rows, same order, same modules on each row, as the import-linter "Layers" contract."""
    contract = _contract("Layers:")
    enforced = [[m.strip() for m in row.split("|")] for row in contract["layers"]]
    written = _table_after("layers")
    assert [int(cells[0]) for cells in written] == list(range(1, len(written) + 1))
    assert [_names(cells[1]) for cells in written] == enforced


def test_the_layers_have_no_optional_row() -> None:
    """A row in parentheses is skipped by import-linter when its module is missing; none may be."""
    for contract in _contracts():
        if contract["type"] == "layers":
            assert not [row for row in contract["layers"] if "(" in row], contract["name"]


def test_every_layered_module_exists() -> None:
    """Each module on a row of the Layers contract is a module of the package."""
    for row in _contract("Layers:")["layers"]:
        for module in row.split("|"):
            importlib.import_module(module.strip())


def test_every_module_of_the_package_is_on_a_layer_row() -> None:
    """A new module (``picexchange.conformance``, ``picexchange.cli_conformance``) gets a row, never none.

    Only ``picexchange.__init__`` and ``picexchange.__main__`` sit outside the rows (they re-export and start).
    """
    layered = {m.strip() for row in _contract("Layers:")["layers"] for m in row.split("|")}
    modules = {
        f"picexchange.{path.stem}"
        for path in SRC.iterdir()
        if (path.suffix == ".py" and not path.stem.startswith("__")) or (path / "__init__.py").is_file()
    }
    assert modules - layered == set()
    assert {"picexchange.conformance", "picexchange.cli_conformance"} <= layered


def test_every_contract_is_explained_by_its_name() -> None:
    """Each import-linter contract of pyproject.toml is named in the doc, word for word."""
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    for contract in _contracts():
        assert f'"{contract["name"]}"' in text, contract["name"]


def test_the_core_is_one_list_in_the_doc_the_purity_test_and_the_contract() -> None:
    """The pure core written in the doc is the list the purity test reads and the core contract forbids I/O to."""
    text = DOC.read_text(encoding="utf-8")
    block = text[text.index("<!-- core") :].split("\n\n")[0]
    written = _names(block)
    tested = ["picexchange." + name.removesuffix(".py") for name in CORE]
    contract = _contract("The core never imports I/O")
    assert written == tested == contract["source_modules"]


def test_the_core_contract_forbids_what_the_doc_says() -> None:
    """The pure core may not import files, environment, sockets, databases or HTTP, nor the shells."""
    forbidden = set(_contract("The core never imports I/O")["forbidden_modules"])
    assert forbidden >= {"os", "pathlib", "tomllib", "socket", "sqlite3", "httpx", "picexchange.files"}


@pytest.mark.parametrize(
    ("marker", "table"),
    [("lifecycle: inbound", base.INBOUND_LIFECYCLE), ("lifecycle: outbound", base.OUTBOUND_LIFECYCLE)],
)
def test_the_lifecycle_tables_in_the_doc_are_the_stores(marker: str, table: Lifecycle) -> None:
    """Every (state, event) -> next state row of the store's table is in the doc, and nothing else."""
    written = [tuple(cells) for cells in _table_after(marker)]
    code = [(state.value, event.value, after.value) for (state, event), after in table.items()]
    assert sorted(written) == sorted(code)
    assert len(written) == len(set(written))


@pytest.mark.parametrize(
    ("marker", "table"),
    [("lifecycle: inbound", base.INBOUND_LIFECYCLE), ("lifecycle: outbound", base.OUTBOUND_LIFECYCLE)],
)
def test_the_final_states_in_the_doc_are_those_no_event_leaves(marker: str, table: Lifecycle) -> None:
    """The "Final:" line under each lifecycle names exactly the states with no step to another state."""
    text = DOC.read_text(encoding="utf-8")
    after = text[text.index(f"<!-- {marker}") :]
    line = next(line for line in after.splitlines() if line.startswith("Final:"))
    written = {name.strip() for name in line.removeprefix("Final:").rstrip(".").split(",")}
    steps = table.items()
    states = {state for (state, _), _ in steps} | {after for _, after in steps}
    leaving = {state for (state, _), after in steps if after is not state}
    assert written == {state.value for state in states - leaving}


def _dotted_names() -> list[str]:
    return sorted(set(re.findall(r"`(picexchange(?:\.\w+)+)`", DOC.read_text(encoding="utf-8"))))


@pytest.mark.parametrize("dotted", _dotted_names())
def test_every_name_the_doc_cites_exists(dotted: str) -> None:
    """Each `picexchange.…` name in the doc is a module, or an attribute reached from one."""
    if dotted.endswith("__main__"):  # importing it would run the CLI
        assert importlib.util.find_spec(dotted) is not None
        return
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            assert hasattr(found, attribute), f"{dotted}: no {attribute}"
            found = getattr(found, attribute)
        return
    pytest.fail(f"{dotted}: no such module")


def test_the_doc_cites_enough_names_to_be_checked() -> None:
    """The name check above is not vacuous: the inbound path alone names a dozen functions."""
    assert len(_dotted_names()) >= 40


def test_no_shipped_text_cites_a_document_users_do_not_have() -> None:
    """The package, its data, README, docs and generators point to docs/ pages or public sources, never to
    DESIGN, MESSAGES, the team's domain notes or ../shared (users do not have them)."""
    offending = re.compile(r"DESIGN(?: ?§| \(|\.md| / )|MESSAGES(?:\.md| \")|\.\./shared|/work/shared|domain-notes")
    texts = [*sorted(SRC.rglob("*.py")), *sorted((ROOT / "docs").rglob("*.md"))]
    texts += [*sorted((ROOT / "utility_blocks").glob("*.json")), *sorted((ROOT / "schemas").rglob("*.xsd"))]
    texts += [*sorted((ROOT / "tools").glob("*.py")), *sorted(SRC.rglob("*.json")), *sorted(SRC.rglob("*.toml"))]
    texts += [ROOT / "README.md", ROOT / "pyproject.toml"]
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in texts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if offending.search(line)
    ]
    assert found == [], "\n".join(found)


def test_readme_layout_points_to_the_architecture_page() -> None:
    """README's Layout section sends the reader to docs/architecture.md."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout") :].split("\n## ", 1)[0]
    assert "docs/architecture.md" in layout


def test_the_schemas_get_the_packaged_xsds_from_the_resources_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """schemas finds no file itself: lxml gets bytes and a location, xmlschema only bytes, from resources."""
    packaged = {name: resources.xsd_bytes(name) for name in (*resources.XSD_NAMES, resources.DRIVER_XSD)}
    served: list[str] = []
    located: list[str] = []
    xsd_location = resources.xsd_location

    def xsd_bytes(name: str) -> bytes:
        served.append(name)
        return packaged[name]

    def location(name: str) -> str:
        located.append(name)
        return xsd_location(name)

    def no_folder() -> object:
        raise AssertionError("the core asked for the package's folder")

    monkeypatch.setattr(resources, "xsd_bytes", xsd_bytes)
    monkeypatch.setattr(resources, "xsd_location", location)
    monkeypatch.setattr(resources, "schema_dir", no_folder)
    assert schemas._lxml_schema("full") is not None
    assert schemas._lxml_schema("envelope") is not None
    assert located == ["picexchange.xsd", "envelope.xsd"]  # the shipped driver, the file vendors load too
    served.clear()
    monkeypatch.setattr(resources, "_package", no_folder)
    schemas.xmlschema_schema.cache_clear()
    try:
        assert schemas.xmlschema_schema().maps.namespaces  # allow="none": xmlschema opened no file either
    finally:
        schemas.xmlschema_schema.cache_clear()
    assert set(served) == set(resources.XSD_NAMES)


def test_the_code_lists_come_as_bytes_from_the_resources_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """codes decodes what picexchange.resources hands it; it does not find the file itself."""
    from picexchange import codes

    asked: list[str] = []
    original = resources.code_list_bytes

    def code_list_bytes(list_id: str) -> bytes:
        asked.append(list_id)
        return original(list_id)

    monkeypatch.setattr(resources, "code_list_bytes", code_list_bytes)
    codes.code_list.cache_clear()
    try:
        assert "Y48" in codes.code_list("basel-annex-i-ii")
    finally:
        codes.code_list.cache_clear()
    assert asked == ["basel-annex-i-ii"]


def test_a_missing_packaged_file_is_a_clear_error() -> None:
    """An XSD name the package does not hold is refused by name, not by a traceback from importlib."""
    with pytest.raises(KeyError, match="no packaged XSD 'nope.xsd'"):
        resources.xsd_bytes("nope.xsd")
    assert picexchange.__all__  # the package imports with the resources shell at the bottom of the layers


#: The inbound checks in the order the doc gives them, each as the doc names it.
INBOUND_PATH = [
    "picexchange.codec.parse",
    "picexchange.schemas.check_envelope",
    "picexchange.signing.read_header",
    "picexchange.signing.admit",
    "picexchange.signing.verify",
    "picexchange.signing._check_placement",
    "picexchange.signing._check_signature_shape",
    "picexchange.signing._pinned",
    "picexchange.signing._signxml_verify",
    "picexchange.schemas.check_document",
    "picexchange.codec.decode",
    "picexchange.signing.check_created",
    "picexchange.store.base.Store.record_inbound",
]


def test_the_doc_gives_the_inbound_checks_in_order() -> None:
    """In "The path of an inbound message", each check is first named in the order of INBOUND_PATH."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## The path of an inbound message") :].split("\n## ", 1)[0]
    first = [section.index(f"`{name}`") for name in INBOUND_PATH]
    assert first == sorted(first)


def _calls_in_order(function: Callable[..., object], *names: str) -> None:
    source = inspect.getsource(function)
    at = [source.index(f"{name}(") for name in names]
    assert at == sorted(at), f"{function.__qualname__} calls {names} in another order"


def test_the_code_runs_the_inbound_checks_in_the_order_the_doc_gives() -> None:
    """accept_for, verify and _decode_signed call the checks in INBOUND_PATH's order."""
    from picexchange import exchange, signing

    # (accept_for reads the header once, right after parsing: the message id its errors carry, and the routing it
    # uses only once the envelope schema passed, where the doc names read_header. It enters verify's checks past
    # the envelope schema and the header it already checked and read.)
    _calls_in_order(exchange.accept_for, "codec.parse", "schemas.check_envelope", "signing.admit",
                    "signing._verify_tree")  # fmt: skip
    _calls_in_order(signing.verify, "codec.parse", "_verify_tree")
    _calls_in_order(signing._verify_tree, "_check_placement", "_check_signature_shape", "schemas.check_envelope",
                    "admit", "_pinned", "_signxml_verify", "_decode_signed", "check_created")  # fmt: skip
    _calls_in_order(signing._decode_signed, "schemas.check_document", "codec.decode")
