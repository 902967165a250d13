"""docs/cases.md says what the code does: every transition table row for row, every rule, every sender role."""

from __future__ import annotations

from pathlib import Path

from picexchange.cases import ALLOWED_SENDERS, LIFECYCLES, RULES

GUIDE = (Path(__file__).resolve().parent.parent / "docs" / "cases.md").read_text()


def _tables() -> list[set[tuple[str, ...]]]:
    """Return the rows of every Markdown table in the guide, in order."""
    tables: list[set[tuple[str, ...]]] = []
    current: set[tuple[str, ...]] | None = None
    for line in GUIDE.splitlines():
        if line.startswith("|"):
            cells = tuple(cell.strip().strip("`") for cell in line.strip().strip("|").split("|"))
            if current is None:
                current = set()
                tables.append(current)
            elif not set(cells[0]) <= {"-"}:
                current.add(cells)
        else:
            current = None
    return tables


def test_every_transition_table_is_drawn_row_for_row() -> None:
    """The guide's lifecycle tables are the code's tables, in the code's order of lifecycles."""
    drawn = [rows for rows in _tables() if len(next(iter(rows))) == 3][: len(LIFECYCLES)]
    code = [{(s.value, e.value, n.value) for (s, e), n in table.items()} for table in LIFECYCLES.values()]
    assert drawn == code


def test_every_rule_is_listed_with_its_severity() -> None:
    """The guide's rule table is the catalogue: id, severity, Basel source and the rule in words."""
    listed = next(rows for rows in _tables() if len(next(iter(rows))) == 4)
    assert listed == {(spec.rule_id, spec.severity.value, spec.basel, spec.text) for spec in RULES.values()}


def test_who_may_send_what_is_listed() -> None:
    """The guide's sender table is ALLOWED_SENDERS."""
    listed = next(rows for rows in _tables() if ("Notification", "ca-export") in rows)
    assert listed == {(m.value, ", ".join(sorted(r.value for r in roles))) for m, roles in ALLOWED_SENDERS.items()}
