"""The wheel carries the XSDs and code lists, and an installed copy finds them without the working tree."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run(  # noqa: S603 - pip of this interpreter, no network (no build isolation, no dependencies)
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(ROOT), "-w", str(folder)],
        check=True,
        capture_output=True,
    )
    return next(folder.glob("picexchange-*.whl"))


def test_the_wheel_holds_schemas_code_lists_and_py_typed(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for xsd in ("common", "envelope", "ub-pic", "ub-export", "xmldsig-core-schema"):
        assert f"picexchange/xsd/{xsd}.xsd" in names
    from picexchange.codes import LIST_IDS

    assert {f"picexchange/data/codes/{list_id}.json" for list_id in LIST_IDS} <= names
    assert "picexchange/py.typed" in names


@pytest.mark.timeout(120)
def test_an_unpacked_wheel_validates_a_sample_from_elsewhere(wheel: Path, tmp_path: Path) -> None:
    """Run from an empty folder with only the unpacked wheel on the path: nothing comes from the checkout."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    sample = (ROOT / "samples" / "messages" / "plastic-au-my-01-notification.xml").read_bytes()
    (tmp_path / "n.xml").write_bytes(sample)
    code = (
        "import sys, picexchange, pathlib; "
        "assert pathlib.Path(picexchange.__file__).is_relative_to(pathlib.Path(sys.argv[1])), picexchange.__file__; "
        "report = picexchange.validate(pathlib.Path('n.xml').read_bytes()); "
        "notification = report.document.document; "
        "print(report.ok, type(notification).__name__, notification.waste_identification.basel_code)"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); " + code, str(site)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "Notification", "B3011"]
