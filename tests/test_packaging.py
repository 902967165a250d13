"""What ships and what installs: the wheel holds the runtime package only (XSDs, code lists, no build-time code),
its extras are the gateway's and PostgreSQL's packages, every import is declared, and a plain install works."""

from __future__ import annotations

import ast
import email
import email.message
import functools
import importlib.metadata
import importlib.util
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import picexchange

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
    for xsd in ("common", "envelope", "ub-pic", "ub-export", "xmldsig-core-schema", "picexchange"):
        assert f"picexchange/xsd/{xsd}.xsd" in names
    from picexchange.codes import LIST_IDS

    assert {f"picexchange/data/codes/{list_id}.json" for list_id in LIST_IDS} <= names
    assert "picexchange/py.typed" in names


def test_the_wheel_holds_every_console_template_and_asset(wheel: Path) -> None:
    """The operator console's pages, stylesheet and script are package data: the gateway serves them offline."""
    names = set(zipfile.ZipFile(wheel).namelist())
    console = ROOT / "src" / "picexchange" / "gateway" / "console"
    files = [path for folder in ("templates", "static") for path in (console / folder).iterdir() if path.is_file()]
    assert len(files) >= 12
    for path in files:
        assert f"picexchange/gateway/console/{path.parent.name}/{path.name}" in names


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
        "print(report.ok, type(notification).__name__, *notification.waste_identification.y_code)"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); " + code, str(site)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "Notification", "Y48"]


@pytest.mark.timeout(280)
def test_an_unpacked_wheel_runs_the_demo_flows_list_and_a_replay_in_an_empty_folder(
    wheel: Path, tmp_path: Path
) -> None:
    """``demo``, ``flows list`` and ``replay`` need nothing from the checkout: the flows ship in the wheel."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    empty = tmp_path / "empty"
    empty.mkdir()
    names = {name.split("/")[3] for name in zipfile.ZipFile(wheel).namelist() if name.endswith("/flow.toml")}
    assert {"plastic-au-my", "port-hopping"} <= names

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        code = (
            f"import sys; sys.path.insert(0, {str(site)!r}); import picexchange, pathlib; "
            f"assert pathlib.Path(picexchange.__file__).is_relative_to(pathlib.Path({str(site)!r})); "
            f"sys.argv = ['picexchange', *{list(args)!r}]; from picexchange.cli import main; main()"
        )
        return subprocess.run(  # noqa: S603
            [sys.executable, "-I", "-c", code], cwd=empty, capture_output=True, text=True, timeout=250, check=False
        )

    demo = run("demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "5 of 5 messages receipted for exactly the bytes sent" in demo.stdout
    listed = run("flows", "list")
    assert listed.returncode == 0 and "plastic-au-my  16 steps" in listed.stdout, listed.stderr
    replayed = run("replay", "port-hopping", "--junit", "report.xml")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "1 flow(s), 2 steps: 2 met their expectation" in replayed.stdout
    assert (empty / "report.xml").is_file()
    assert sorted(path.name for path in empty.iterdir()) == ["report.xml"]


# ------------------------------------------------------------------------------------ what the wheel ships

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCK = ROOT / "requirements-dev.txt"


def _metadata(wheel: Path) -> email.message.Message:
    archive = zipfile.ZipFile(wheel)
    name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    return email.message_from_bytes(archive.read(name))


def test_the_wheel_ships_the_runtime_package_only(wheel: Path) -> None:
    """The XSD and spec generators (tools/) and the tests' PostgreSQL helpers are build and test time: not shipped."""
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"picexchange", next(t for t in tops if t.endswith(".dist-info"))}
    shipped = {Path(name).stem for name in names if name.endswith(".py")}
    assert not shipped & {"xsdgen", "ubspec", "postgres_server", "conftest"}
    kit = zipfile.ZipFile(wheel).read("picexchange/testing.py").decode()
    assert "psycopg" not in kit, "the vendors' test kit needs no PostgreSQL driver"


def test_the_generators_are_no_modules_of_the_package() -> None:
    """``picexchange.xsdgen`` and ``picexchange.ubspec`` are gone; ``python -m tools.xsdgen`` replaces them."""
    assert importlib.util.find_spec("picexchange.xsdgen") is None
    assert importlib.util.find_spec("picexchange.ubspec") is None
    assert (ROOT / "tools" / "xsdgen.py").is_file() and (ROOT / "tools" / "ubspec.py").is_file()


def test_the_version_is_written_once(wheel: Path) -> None:
    """pyproject takes the version from ``picexchange.__version__``; the wheel's metadata carries the same."""
    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert _metadata(wheel)["Version"] == picexchange.__version__


def test_the_wheel_needs_no_gateway_or_postgres_packages_unless_asked(wheel: Path) -> None:
    """``pip install picexchange`` brings no FastAPI, uvicorn or psycopg; the extras bring them."""
    requires = [Requirement(text) for text in _metadata(wheel).get_all("Requires-Dist") or []]
    core = {canonicalize_name(r.name) for r in requires if r.marker is None}
    by_extra = {
        extra: {canonicalize_name(r.name) for r in requires if r.marker and r.marker.evaluate({"extra": extra})}
        for extra in ("gateway", "postgres")
    }
    assert not core & {"fastapi", "starlette", "uvicorn", "psycopg"}
    assert {"pydantic", "lxml", "xmlschema", "signxml", "cryptography", "httpx", "typer", "rich"} <= core
    assert {"fastapi", "starlette", "uvicorn"} <= by_extra["gateway"]
    assert {"psycopg"} <= by_extra["postgres"]


# ---------------------------------------------------------------------- every import has its declaration


def _imports(path: Path) -> tuple[str, ...]:
    return _imports_of(path.resolve())


@functools.cache
def _imports_of(path: Path) -> tuple[str, ...]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module.split(".")[0])
    return tuple(names)


def _declared(*groups: str) -> set[str]:
    project = PYPROJECT["project"]
    texts = [*project["dependencies"]] if "core" in groups else []
    texts += [text for group in groups if group != "core" for text in project["optional-dependencies"][group]]
    return {canonicalize_name(Requirement(text).name) for text in texts}


@functools.cache
def _module_owners() -> dict[str, list[str]]:
    """Read once: ``packages_distributions`` walks every installed distribution's RECORD on each call."""
    return dict(importlib.metadata.packages_distributions())


def _distributions(module: str) -> set[str]:
    return {canonicalize_name(name) for name in _module_owners().get(module, [])}


SRC = ROOT / "src" / "picexchange"
#: Where a package of each extra may be imported: nowhere else, so the core works without it.
EXTRA_HOMES = {
    "gateway": ("gateway/", "testing.py"),
    "postgres": ("store/postgres.py", "store/__init__.py"),
}


def test_every_package_src_imports_is_declared() -> None:
    """A third-party import in src/ is a dependency or an extra's package (its distribution, e.g. pydantic-core)."""
    declared = _declared("core", "gateway", "postgres")
    undeclared = []
    for path in sorted(SRC.rglob("*.py")):
        for module in set(_imports(path)) - set(sys.stdlib_module_names) - {"picexchange"}:
            distributions = _distributions(module)
            if not distributions or not distributions & declared:
                undeclared.append(f"{path.relative_to(SRC)}: {module} ({', '.join(distributions) or 'not installed'})")
    assert undeclared == []


def test_an_extras_packages_are_imported_only_where_that_extra_is_needed() -> None:
    """fastapi/uvicorn only in the gateway and the test kit, psycopg only in the PostgreSQL store."""
    misplaced = []
    for extra, homes in EXTRA_HOMES.items():
        owned = _declared(extra) - _declared("core")
        for path in sorted(SRC.rglob("*.py")):
            where = path.relative_to(SRC).as_posix()
            if where.startswith(homes):
                continue
            misplaced += [f"{where}: {m} [{extra}]" for m in set(_imports(path)) if _distributions(m) & owned]
    assert misplaced == []


def test_the_scan_sees_imports_inside_functions() -> None:
    """Lazy imports count: a scan of top-level imports alone would miss the CLI's and the store's."""
    assert "psycopg" in set(_imports(SRC / "store" / "__init__.py"))
    assert "xmlschema" in set(_imports(SRC / "schemas.py"))


# ------------------------------------------------------------------------ an install without the extras

#: Run first in each subprocess below: the gateway's and PostgreSQL's packages cannot be imported, as on
#: ``pip install picexchange``.
HIDE_EXTRAS = "import sys\nfor name in ('fastapi', 'starlette', 'uvicorn', 'psycopg'):\n    sys.modules[name] = None\n"


def _without_extras(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, our code
        [sys.executable, "-c", HIDE_EXTRAS + textwrap.dedent(code), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_models_codec_validation_signing_and_the_client_work_without_the_extras() -> None:
    """The library half of picexchange: parse, validate, sign, verify and build a client, no gateway packages."""
    result = _without_extras(
        """
        import datetime as dt, pathlib
        import picexchange as px
        from picexchange import codec, signing
        from picexchange.testpki import make_test_pki
        from picexchange.trust import TrustStore

        raw = pathlib.Path('samples/messages/plastic-au-my-01-notification.xml').read_bytes()
        assert px.validate(raw).ok
        envelope = codec.from_xml(raw)
        created = envelope.header.created
        pki = make_test_pki(['AU:DCCEEW', 'MY:DOE'], not_before=created - dt.timedelta(days=1),
                            not_after=created + dt.timedelta(days=30))
        signed = signing.sign(envelope, pki['AU:DCCEEW'].identity)
        trust = TrustStore.of([p.partner for p in pki.participants], me=pki['MY:DOE'].identity)
        verified = signing.verify(signed, trust=trust, now=created, receiver='MY:DOE')
        with px.Client(me=pki['AU:DCCEEW'].identity, trust=trust, config=px.ClientConfig()):
            pass
        print(type(verified).__name__, sorted(m for m in sys.modules if m.split('.')[0] in
              ('fastapi', 'starlette', 'uvicorn', 'psycopg') and sys.modules[m] is not None))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Verified", "[]"]


def test_the_gateway_without_its_extra_names_the_extra_to_install() -> None:
    """``import picexchange.gateway`` raises MissingExtraError (a ConfigurationError and an ImportError)."""
    result = _without_extras(
        """
        from picexchange.errors import ConfigurationError, MissingExtraError
        try:
            import picexchange.gateway
        except MissingExtraError as exc:
            assert isinstance(exc, ImportError) and isinstance(exc, ConfigurationError)
            print(exc.extra, exc.name, '|', exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("gateway fastapi |")
    assert "pip install 'picexchange[gateway]'" in result.stdout


def test_a_postgresql_store_without_its_extra_names_the_extra_to_install() -> None:
    """``open_store('postgresql://...')`` raises MissingExtraError naming ``[postgres]``; SQLite still opens."""
    result = _without_extras(
        """
        from picexchange.errors import MissingExtraError
        from picexchange.store import open_store
        open_store('sqlite://:memory:').close()
        try:
            open_store('postgresql://127.0.0.1:5432/test')
        except MissingExtraError as exc:
            print(exc.extra, exc.name, '|', exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("postgres psycopg |")
    assert "pip install 'picexchange[postgres]'" in result.stdout


CLI = """
import sys
from picexchange.cli import main
sys.argv = ['picexchange', *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
loaded = sorted(m for m in ('picexchange.testing', 'picexchange.demo', 'picexchange.gateway', 'tools', 'fastapi',
                            'uvicorn', 'psycopg') if sys.modules.get(m) is not None)
print('exit', code, 'loaded', loaded, file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["validate", "samples/messages/plastic-au-my-01-notification.xml"],
        ["convert", "--help"],
        ["flows", "list"],
    ],
)
def test_the_cli_works_without_the_extras_and_loads_no_test_kit(args: list[str]) -> None:
    """The vendor's commands run on a plain install and never import the test kit or the gateway."""
    result = _without_extras(CLI, *args)
    assert result.stderr.splitlines()[-1] == "exit 0 loaded []", result.stderr


@pytest.mark.parametrize(
    "args", [["serve", "--config", "gateway.toml"], ["demo"], ["replay", "plastic-au-my"], ["replay", "--all"]]
)
def test_the_gateway_commands_without_the_extra_exit_2_naming_it(args: list[str]) -> None:
    """``serve``, ``demo`` and ``replay`` on a plain install: one line naming the extra, exit 2, no traceback."""
    result = _without_extras(CLI, *args)
    assert "Traceback" not in result.stderr
    first, last = result.stderr.splitlines()[0], result.stderr.splitlines()[-1]
    assert first.startswith("error: ") and "pip install 'picexchange[gateway]'" in first, result.stderr
    assert last.startswith("exit 2 "), result.stderr


# ----------------------------------------------------------------------------------------------- the lock


def _locked() -> dict[str, tuple[str, list[str]]]:
    """Return {name: (requirement, hashes)} of requirements-dev.txt, continuation lines joined."""
    text = LOCK.read_text(encoding="utf-8").replace("\\\n", " ")
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement, *options = line.split()
            pins[canonicalize_name(Requirement(requirement).name)] = (requirement, options)
    return pins


def test_the_lock_says_how_to_remake_it() -> None:
    """Its first lines give the pip-compile command; ./dev lock runs the same one."""
    head = LOCK.read_text(encoding="utf-8").splitlines()[:8]
    command = next(line for line in head if "pip-compile" in line and "--generate-hashes" in line)
    dev = (ROOT / "dev").read_text(encoding="utf-8")
    for option in command.split()[2:]:
        if option.startswith("--") and not option.startswith("--output-file"):
            assert option in dev.replace(" \\\n", " "), f"./dev lock does not pass {option}"


def test_the_lock_pins_every_package_with_its_hashes() -> None:
    """``--require-hashes`` needs an exact version and the hashes of each file; pip itself is pinned too."""
    pins = _locked()
    assert "pip" in pins and "hatchling" in pins
    loose = [req for req, options in pins.values() if "==" not in req or "@" in req]
    unhashed = [req for req, options in pins.values() if not any(o.startswith("--hash=sha256:") for o in options)]
    assert loose == [] and unhashed == []


def test_the_lock_covers_what_pyproject_declares() -> None:
    """Every dependency and extra of pyproject is locked at a version it allows: a dependency added or a
    bound raised without ``./dev lock`` fails here, not on a fresh machine."""
    pins = _locked()
    project = PYPROJECT["project"]
    declared = [*project["dependencies"], *(t for texts in project["optional-dependencies"].values() for t in texts)]
    stale = []
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name not in pins:
            stale.append(f"{text}: not locked")
            continue
        version = pins[name][0].split("==", 1)[1]
        if not requirement.specifier.contains(version, prereleases=True):
            stale.append(f"{text}: locked at {version}")
    assert stale == [], "run ./dev lock"


def test_dev_installs_the_lock_with_hashes_and_the_project_without_resolving() -> None:
    """./dev (and so CI) installs requirements-dev.txt with --require-hashes, then the project with --no-deps."""
    dev = (ROOT / "dev").read_text(encoding="utf-8")
    install = [line for line in dev.splitlines() if "pip install" in line and not line.lstrip().startswith("#")]
    assert any("--require-hashes" in line and '-r "$LOCK"' in line for line in install)
    assert any("--no-deps" in line and line.rstrip().endswith("-e .") for line in install)
    assert not any("-e '.[" in line or "-e .[" in line for line in install), "dependencies come from the lock only"
    assert "exec ./dev test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
