"""What every ``picexchange`` command shares: reading a file or standard input, writing a file or standard output.

``-`` as a file to read is standard input, and as a file to write is standard output, in every command. A
problem with a path given (missing, a directory where a file is expected, unreadable) is a usage error that
says which and exits 2, never a traceback.

The exit codes, the same for every command (README.md, "Exit codes"):

- 0: done (valid, genuine, delivered and receipted);
- 1: the input is not valid or not genuine: fix it; nothing was sent;
- 2: usage: a bad option, or a file that cannot be read or written, or a configuration that cannot be used;
- 3: not delivered: no receipt and no refusal came back (network, timeout, the partner busy or failing);
  safe to run the same command again, which sends the same bytes;
- 4: refused by the partner with a signed Error (the message arrived): sending it again will not help.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import typer
from rich.console import Console

__all__ = [
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_UNDELIVERED",
    "EXIT_USAGE",
    "STANDARD_STREAM",
    "display_name",
    "read_input",
    "usage",
    "write_output",
]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_UNDELIVERED = 3
EXIT_REFUSED = 4

#: The file name that means standard input (to read) or standard output (to write).
STANDARD_STREAM = "-"

_err = Console(stderr=True, highlight=False, soft_wrap=True)


def usage(message: str) -> typer.Exit:
    """Print ``error: message`` on standard error and return the exit (code 2) to raise."""
    _err.print(f"error: {message}", markup=False)
    return typer.Exit(EXIT_USAGE)


def display_name(path: Path) -> str:
    """Return how a path is named in messages: ``<stdin>`` for ``-``."""
    return "<stdin>" if str(path) == STANDARD_STREAM else str(path)


def read_input(path: Path) -> bytes:
    """Return the bytes of ``path``, or of standard input for ``-``.

    Raises:
        typer.Exit: code 2, with a message naming the path: missing, a directory, or unreadable.

    """
    if str(path) == STANDARD_STREAM:
        return sys.stdin.buffer.read()
    if path.is_dir():
        raise usage(f"{path} is a directory: give a file")
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise usage(f"{path}: no such file") from exc
    except OSError as exc:
        raise usage(f"{path}: cannot read: {exc.strerror}") from exc


def write_output(path: Path | None, data: bytes) -> None:
    """Write ``data`` to ``path`` (whole, or not at all), or to standard output for None or ``-``.

    Raises:
        typer.Exit: code 2, with a message naming the path: a directory, or not writable.

    """
    if path is None or str(path) == STANDARD_STREAM:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    if path.is_dir():
        raise usage(f"{path} is a directory: give a file to write")
    # A new file beside the target, renamed over it: a reader (or an interrupted run) never sees half a file.
    temporary: str | None = None
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)  # a message file, readable like any other file the user writes
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise usage(f"{path}: cannot write: {exc.strerror}") from exc
