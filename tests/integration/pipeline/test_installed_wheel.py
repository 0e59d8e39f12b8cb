"""The package runs installed: build the wheel, install it in a fresh venv outside
the checkout, migrate a new database with it and run `foodtrace pipeline run` (the
Airflow DAGs), from a folder outside the checkout; the DAGs come from the
installed package.

How the fresh venv gets its dependencies, honestly: the wheel goes in with
`--no-deps`, and a .pth file then adds the project venv's site-packages *behind*
the fresh venv's own. So foodtrace itself (code, DAGs, migrations, JSON schemas,
dashboards) is only what the wheel holds: the checkout is not on sys.path (the
project venv's editable-install hook is a .pth there, and .pth files of a folder
added by a .pth are not run), and the test asserts where each came from. The
dependencies are the project venv's, the same pinned versions; installing
Airflow and great_expectations afresh would take minutes of the suite's budget,
and `pip check` in the fresh venv shows the wheel's requirements are met by them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
from pipeline_helpers import land_day, simulated_day

from foodtrace.db import connect

REPO = Path(__file__).resolve().parents[3]
# What the build needs: pyproject.toml names these (package-dir, readme).
SOURCES = ("pyproject.toml", "README.md", "foodtrace", "ingest", "schemas", "dashboards", "dags")

pytestmark = pytest.mark.slow


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300):
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A venv outside the checkout with the freshly built wheel installed."""
    base = tmp_path_factory.mktemp("installed")
    assert REPO not in base.parents
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    timings: dict[str, float] = {}

    # 1. the wheel, built from a copy of the sources (no build/ left in the checkout)
    started = time.monotonic()
    src = base / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(REPO / name, src / name)
    wheels = base / "wheels"
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(wheels), str(src)],
        cwd=base,
        env=env,
    )
    build_log = built.stdout + built.stderr
    # setuptools' package-discovery and configuration warnings, e.g. "Package
    # 'foodtrace.schemas.json' is absent from the `packages` configuration"
    warnings = re.findall(r".*(?:Warning:|absent from the `packages`).*", build_log)
    assert warnings == [], "\n".join(warnings)
    (wheel,) = wheels.glob("foodtrace-*.whl")
    timings["build"] = time.monotonic() - started

    # 2. a fresh venv, the wheel alone installed into it
    started = time.monotonic()
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=base, env=env)
    python = venv / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--no-compile", str(wheel)],
        cwd=base,
        env=env,
    )
    site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
             cwd=base, env=env).stdout.strip()
    )
    # 3. the dependencies: the project venv's site-packages, after the venv's own
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_foodtrace_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    timings["venv"] = time.monotonic() - started
    print(f"wheel test set-up: {timings}")
    return {"base": base, "venv": venv, "python": python, "site": site, "wheel": wheel}


def _env(installed: dict[str, Path], **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "FOODTRACE_MQTT_URL", "FOODTRACE_REPORT_DIR")
        and not k.startswith(("AIRFLOW", "FOODTRACE_DAGS"))
    }
    env["VIRTUAL_ENV"] = str(installed["venv"])
    env["PATH"] = f"{installed['venv'] / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def test_the_installed_package_is_the_wheel(installed: dict[str, Path]) -> None:
    probe = _run(
        [
            str(installed["python"]),
            "-c",
            "import json, foodtrace, foodtrace.ingest, foodtrace.schemas;"
            "from foodtrace.pipeline.airflow_run import dags_folder;"
            "from foodtrace.db.migrate import available_migrations;"
            "from importlib.resources import files;"
            "print(json.dumps({'foodtrace': foodtrace.__file__,"
            " 'ingest': foodtrace.ingest.__file__, 'dags': str(dags_folder()),"
            " 'migrations': len(available_migrations()),"
            " 'schemas': sorted(p.name for p in files('foodtrace.schemas.json').iterdir()),"
            " 'sys_path': __import__('sys').path}))",
        ],
        cwd=installed["base"],
        env=_env(installed),
    )
    where = json.loads(probe.stdout)
    site = installed["site"]
    for key in ("foodtrace", "ingest", "dags"):
        assert Path(where[key]).is_relative_to(site), (key, where[key])
    assert Path(where["dags"]) == site / "foodtrace" / "dags"
    assert where["migrations"] == len(list((REPO / "schemas" / "sql").glob("[0-9]*.sql")))
    assert "chain-event.v1.json" in where["schemas"]
    assert not (site / "foodtrace" / "devservices.py").exists()  # test helpers stay in tests/
    # nothing of the checkout on sys.path but the project venv's site-packages (deps)
    venv_dir = REPO / ".venv"
    from_checkout = [
        p for p in where["sys_path"]
        if p and Path(p).resolve().is_relative_to(REPO)
        and not Path(p).resolve().is_relative_to(venv_dir)
    ]
    assert from_checkout == []
    # the wheel's own requirements are met (by the project venv's pinned packages)
    _run(
        [sys.executable, "-m", "pip", "--python", str(installed["python"]), "check"],
        cwd=installed["base"],
        env=_env(installed),
    )


def test_migrate_and_run_the_pipeline_installed(
    installed: dict[str, Path], empty_db_url: str
) -> None:
    cwd = installed["base"] / "work"  # outside the checkout
    cwd.mkdir()
    foodtrace = str(installed["venv"] / "bin" / "foodtrace")
    env = _env(installed, FOODTRACE_DATABASE_URL=empty_db_url)

    started = time.monotonic()
    migrated = _run([foodtrace, "db", "migrate", "--json"], cwd=cwd, env=env)
    applied = json.loads(migrated.stdout)["applied"]
    assert applied == sorted(p.stem for p in (REPO / "schemas" / "sql").glob("[0-9]*.sql"))

    sim = simulated_day(scale=0.3, seed=7, incident="pesticide")
    with connect(empty_db_url) as conn:
        landed = land_day(conn, sim)

    out = cwd / "out"
    run = _run([foodtrace, "pipeline", "run", "--json", "--out", str(out)], cwd=cwd, env=env)
    report = json.loads(run.stdout)
    print(f"installed migrate + pipeline run: {time.monotonic() - started:.1f}s")
    assert report["mode"] == "airflow"
    assert report["validate"]["promoted"] == landed
    assert report["link"]["events"] == len(sim.chain_events)
    assert report["alert"]["alerts"]
    assert Path(report["report_path"]).is_relative_to(out)

    # the DAGs Airflow ran were the installed package's
    with sqlite3.connect(out / "airflow-home" / "airflow.db") as meta:
        locs = dict(meta.execute("SELECT dag_id, fileloc FROM dag").fetchall())
    ran = {"foodtrace_validate", "foodtrace_link", "foodtrace_alert"}
    assert ran <= set(locs)
    for dag_id in ran:
        assert Path(locs[dag_id]).parent == installed["site"] / "foodtrace" / "dags", locs
