"""The package is explicit about what it ships, and finds its files as an installed
package would: every folder under the mapped source folders is listed in
pyproject.toml's `packages` (setuptools warns about, and may drop, any that is
not), the DAGs ship as foodtrace.dags, and no module reaches into the checkout
through `__file__`. tests/integration/pipeline/test_installed_wheel.py builds and
runs the wheel itself."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]


def _folders(package: str, root: Path) -> set[str]:
    found = set()
    for path in [root, *root.rglob("*")]:
        if not path.is_dir() or any(
            part == "__pycache__" or part.startswith(".")
            for part in path.relative_to(REPO).parts
        ):
            continue
        if not any(p.is_file() for p in path.iterdir()):
            continue
        rel = path.relative_to(root).parts
        found.add(".".join((package, *rel)))
    return found


def test_every_folder_is_a_listed_package() -> None:
    mapping: dict[str, str] = SETUPTOOLS["package-dir"]
    listed = set(SETUPTOOLS["packages"])
    expected: set[str] = set()
    for package, folder in mapping.items():
        root = REPO / folder
        subtrees = {p for p, f in mapping.items() if p != package and p.startswith(package + ".")}
        expected |= {
            name
            for name in _folders(package, root)
            if not any(name == s or name.startswith(s + ".") for s in subtrees)
        }
    assert expected - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - expected == set(), "listed but no such folder"


def test_the_dags_ship_with_the_package() -> None:
    assert SETUPTOOLS["package-dir"]["foodtrace.dags"] == "dags"
    from foodtrace.pipeline.airflow_run import ALL_DAG_IDS, dags_folder

    assert dags_folder() == (REPO / "dags").resolve()  # editable: the checkout's dags/
    shipped = {p.stem for p in dags_folder().glob("foodtrace_*.py")}
    assert shipped == set(ALL_DAG_IDS)


def test_no_module_finds_files_through_the_checkout() -> None:
    """Files of the package come through importlib.resources; test helpers
    (devservices) live under tests/, not in the package."""
    assert not (REPO / "foodtrace" / "devservices.py").exists()
    # dashboards/ is left out: build.py is a developer tool that writes the JSON
    # into the checkout (it needs the dev extra), not something the package runs
    reaching = re.compile(r"__file__|REPO_ROOT")
    offenders = [
        f"{path.relative_to(REPO)}:{n}"
        for folder in ("foodtrace", "ingest", "dags", "schemas")
        for path in (REPO / folder).rglob("*.py")
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if reaching.search(line)
    ]
    assert offenders == []
