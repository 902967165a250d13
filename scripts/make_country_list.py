"""Write the packaged ISO 3166-1 alpha-2 code list from pycountry.

Run from anywhere with the project's virtual environment:

    .venv/bin/python scripts/make_country_list.py

pycountry is a build-time tool only, not a dependency of picexchange: the generated JSON file
(``src/picexchange/data/codes/iso-3166-1.json``) is what the package ships and reads. The file records the
pycountry version it was made from; re-run the script after upgrading pycountry and review the diff.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pycountry

TARGET = Path(__file__).resolve().parents[1] / "src" / "picexchange" / "data" / "codes" / "iso-3166-1.json"


def build() -> dict[str, object]:
    """Return the code list document: every alpha-2 code with its English short name, by code."""
    countries = sorted(pycountry.countries, key=lambda country: country.alpha_2)
    return {
        "id": "iso-3166-1",
        "title": "ISO 3166-1 alpha-2 country code",
        "source": "ISO 3166-1 alpha-2 country codes with English short names (iso-codes data via pycountry)",
        "version": f"pycountry {version('pycountry')}",
        "codes": [{"code": country.alpha_2, "label": country.name} for country in countries],
    }


def main() -> None:
    """Write the list to the package's data directory."""
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(json.dumps(build(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
