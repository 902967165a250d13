"""Code lists of the Basel Convention, OECD, ISO and UN/ECE used by the messages.

Each list is a packaged JSON file in ``picexchange/data/codes/`` that names its source and version; every
code may carry the dates between which it is valid (``valid_from``, ``valid_to``, both inclusive), because
which codes are valid depends on the date of the document, not on today: Y48 and A3210 exist from
1 January 2021 (decision BC-14/12), A1180 and B1110 ended on 31 December 2024 (decision BC-15/18).

Lists are loaded once, on first use, from the installed package (never from the working tree); the shell
:mod:`picexchange.resources` reads the bytes, this module only decodes them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache

from picexchange import resources

__all__ = [
    "Code",
    "CodeList",
    "LIST_IDS",
    "code_list",
]

#: Every packaged list, by id. The id is also the file name (``<id>.json``).
LIST_IDS: tuple[str, ...] = (
    "basel-annex-i-ii",
    "basel-annex-iii",
    "basel-annex-iv",
    "basel-annex-viii-ix",
    "basel-packaging",
    "basel-physical",
    "basel-transport",
    "iso-3166-1",
    "unece-rec20",
    "un-class",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Code:
    """One entry of a code list.

    Attributes:
        code: the code as it appears in XML (``Y48``, ``R3``, ``MY``).
        label: what the code means, in the words of its source.
        valid_from: first day the code may be used, or None if it always could.
        valid_to: last day the code may be used, or None if it still can.
        note: the legal source of the dates (``BC-14/12``) or other remarks.
        extra: list-specific attributes (the UN class of an H-code, the Rec 19 code of a transport mode).

    """

    code: str
    label: str
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    note: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def valid_on(self, day: dt.date) -> bool:
        """Return whether the code may be used in a document dated ``day``."""
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day <= self.valid_to)

    def validity_text(self) -> str:
        """Describe the validity period in words, for error messages."""
        parts = []
        if self.valid_from is not None:
            parts.append(f"valid from {self.valid_from.isoformat()}")
        if self.valid_to is not None:
            parts.append(f"valid until {self.valid_to.isoformat()}")
        text = " and ".join(parts) or "always valid"
        return f"{text} ({self.note})" if self.note else text


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeList:
    """A closed list of codes with its provenance.

    Attributes:
        id: the list id (``basel-annex-i-ii``).
        title: what the list is, as used in error messages (``Basel Annex I/II code``).
        source: the document the list was taken from.
        version: the version or date of that source.
        codes: the entries by code, in source order.

    """

    id: str
    title: str
    source: str
    version: str
    codes: Mapping[str, Code]

    def __contains__(self, code: object) -> bool:
        return code in self.codes

    def __iter__(self) -> Iterator[Code]:
        return iter(self.codes.values())

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, code: str) -> Code:
        return self.codes[code]

    def get(self, code: str) -> Code | None:
        """Return the entry for ``code``, or None if it is not in the list."""
        return self.codes.get(code)


def _date(raw: object) -> dt.date | None:
    return dt.date.fromisoformat(raw) if isinstance(raw, str) else None


@cache
def code_list(list_id: str) -> CodeList:
    """Return the packaged code list ``list_id``, loading it on first use.

    Raises:
        KeyError: if no such list is packaged.

    """
    if list_id not in LIST_IDS:
        raise KeyError(f"no code list {list_id!r}; known: {', '.join(LIST_IDS)}")
    # The shell picexchange.resources reads the file; the core only decodes what it is handed.
    raw = json.loads(resources.code_list_bytes(list_id))
    entries = {}
    for item in raw["codes"]:
        entries[item["code"]] = Code(
            code=item["code"],
            label=item["label"],
            valid_from=_date(item.get("valid_from")),
            valid_to=_date(item.get("valid_to")),
            note=item.get("note"),
            extra={k: str(v) for k, v in item.items() if k not in Code.__slots__},
        )
    return CodeList(id=raw["id"], title=raw["title"], source=raw["source"], version=raw["version"], codes=entries)
