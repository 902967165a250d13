"""Read the data files installed with picexchange: the code lists, the XSDs and the sample flows.

This is the one module that finds and reads the package's own files, a shell at the bottom of the layers: the
pure core (:mod:`picexchange.codes`, :mod:`picexchange.schemas`) is handed their bytes and never opens a file
(docs/architecture.md, "Pure core, thin shells"). One exception, explained in :mod:`picexchange.schemas`:
libxml2 loads the XSDs' imports itself, from the installed location :func:`xsd_location` gives. It reads from the
installed package through :mod:`importlib.resources` (a wheel, a zip or the source tree alike), never from
the working directory.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

__all__ = [
    "DRIVER_XSD",
    "XSD_NAMES",
    "code_list_bytes",
    "conformance_document_bytes",
    "flow_folder",
    "flow_names",
    "schema_dir",
    "xsd_bytes",
    "xsd_location",
]

#: The packaged XSDs, each imported schema before the schemas that import it.
XSD_NAMES: tuple[str, ...] = (
    "xmldsig-core-schema.xsd",
    "common.xsd",
    "envelope.xsd",
    "ub-pic.xsd",
    "ub-export.xsd",
)

#: The driver schema: imports every Utility Block and makes the Body strict, so one load validates a whole
#: envelope (what :mod:`picexchange.schemas` and a vendor's xmllint or Xerces compile). Not in
#: :data:`XSD_NAMES`: it redefines ``envelope.xsd``, so it is loaded from its file, never beside the others.
DRIVER_XSD = "picexchange.xsd"


def _package() -> Traversable:
    return resources.files("picexchange")


def code_list_bytes(list_id: str) -> bytes:
    """Return the bytes of the packaged code list ``data/codes/<list_id>.json``.

    Raises:
        FileNotFoundError: if the package holds no such list.

    """
    return _package().joinpath("data", "codes", f"{list_id}.json").read_bytes()


def conformance_document_bytes(name: str) -> bytes:
    """Return the bytes of the packaged envelope ``data/conformance/<name>.xml`` the conformance kit sends.

    Raises:
        FileNotFoundError: if the package holds no such file.

    """
    return _package().joinpath("data", "conformance", f"{name}.xml").read_bytes()


def xsd_bytes(name: str) -> bytes:
    """Return the bytes of the packaged XSD ``name`` (one of :data:`XSD_NAMES` or :data:`DRIVER_XSD`).

    Raises:
        KeyError: if ``name`` is not a packaged XSD.

    """
    if name not in XSD_NAMES and name != DRIVER_XSD:
        raise KeyError(f"no packaged XSD {name!r}; known: {', '.join((*XSD_NAMES, DRIVER_XSD))}")
    return _package().joinpath("xsd", name).read_bytes()


def xsd_location(name: str) -> str:
    """Return where the packaged XSD ``name`` is installed, as a path string libxml2 resolves imports against.

    libxml2 resolves the ``xs:import`` and ``xs:redefine`` locations of the schema it compiles against it.
    """
    return str(_package().joinpath("xsd", name))


def schema_dir() -> Traversable:
    """Return the folder of the packaged XSDs (``schemas/`` in the repository), for tools and tests."""
    return _package().joinpath("xsd")


def flow_names() -> tuple[str, ...]:
    """Return the names of the packaged sample flows (``data/flows/<name>/flow.toml``), sorted."""
    folder = _package().joinpath("data", "flows")
    if not folder.is_dir():
        return ()
    return tuple(sorted(item.name for item in folder.iterdir() if item.joinpath("flow.toml").is_file()))


def flow_folder(name: str) -> Traversable:
    """Return the folder of the packaged sample flow ``name``: its ``flow.toml`` and message files.

    Raises:
        KeyError: if the package holds no such flow.

    """
    if name not in flow_names():
        raise KeyError(f"no packaged flow {name!r}; known: {', '.join(flow_names())}")
    return _package().joinpath("data", "flows", name)
