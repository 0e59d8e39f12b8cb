"""`foodtrace export fsma LOT`: the spreadsheet of a known graph, read back."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from alerts_helpers import Chain
from openpyxl import load_workbook

from foodtrace.reference import EVENT_TYPES


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_export_of_the_transformed_lot(chain: Chain, fresh_db_url: str, tmp_path: Path) -> None:
    c = chain
    env = {**os.environ, "FOODTRACE_DATABASE_URL": fresh_db_url}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "foodtrace.cli.main",
            "export",
            "fsma",
            c.code("X"),
            "--out",
            str(tmp_path / "x"),
            "--xlsx",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    # X's trace: X itself and its sources A and B; C is unrelated
    assert result["lots"] == sorted(c.code(n) for n in ("A", "B", "X"))
    files = {f["event_type"]: f for f in result["files"]}
    assert list(files) == list(EVENT_TYPES)
    rows = {t: read(Path(files[t]["path"])) for t in EVENT_TYPES}
    assert {t: len(r) for t, r in rows.items()} == {t: files[t]["rows"] for t in EVENT_TYPES}
    assert {t: len(r) for t, r in rows.items()} == {
        "harvesting": 2,
        "cooling": 0,
        "initial_packing": 0,
        "first_receiving": 0,
        "shipping": 4,
        "receiving": 4,
        "transformation": 3,
        "sale": 1,
    }

    transformation = rows["transformation"]
    assert len({r["event_id"] for r in transformation}) == 1
    assert [
        (r["transformation_role"], r["traceability_lot_code"], r["quantity"])
        for r in transformation
    ] == [
        ("input", c.code("A"), "150"),
        ("input", c.code("B"), "100"),
        ("output", c.code("X"), "220"),
    ]
    assert [r["tlc_source_location_id"] for r in transformation] == [
        c.code("farm"),
        c.code("farm2"),
        c.code("plant"),
    ]

    to_shop = next(r for r in rows["shipping"] if r["traceability_lot_code"] == c.code("X"))
    assert (
        to_shop["location_location_id"],
        to_shop["location_city"],
        to_shop["ship_to_location_id"],
        to_shop["ship_to_business_name"],
        to_shop["ship_to_city"],
        to_shop["ship_to_region"],
        to_shop["ship_to_country"],
    ) == (c.code("plant"), "foshan", c.code("shop"), "Shop Co.", "shenzhen", "Guangdong", "CN")
    assert (to_shop["tlc_source_location_id"], to_shop["tlc_source_city"]) == (
        c.code("plant"),
        "foshan",
    )
    assert (to_shop["reference_document_type"], to_shop["reference_document_number"]) == (
        "BOL",
        "BOL-4",
    )
    # 180 min after 22:00 UTC on the 27th: 01:00 UTC on the 28th (09:00 in Shenzhen)
    assert (to_shop["event_date_utc"], to_shop["event_time_utc"]) == ("2026-11-28", "01:00:00")

    at_shop = next(r for r in rows["receiving"] if r["traceability_lot_code"] == c.code("X"))
    assert (
        at_shop["location_location_id"],
        at_shop["ship_from_location_id"],
        at_shop["ship_from_latitude"],
        at_shop["tlc_source_location_id"],
    ) == (c.code("shop"), c.code("plant"), "23.02", c.code("plant"))

    harvest_a = next(r for r in rows["harvesting"] if r["traceability_lot_code"] == c.code("A"))
    assert harvest_a["next_recipient_location_id"] == c.code("market")
    assert (harvest_a["event_date_utc"], harvest_a["event_time_utc"]) == ("2026-11-27", "22:00:00")

    book = load_workbook(result["xlsx"])
    assert book.sheetnames == list(EVENT_TYPES)
    assert book["transformation"].max_row == 1 + 3
    assert book["shipping"]["A1"].value == "event_id"


def test_unknown_lot(fresh_db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "FOODTRACE_DATABASE_URL": fresh_db_url}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "foodtrace.cli.main",
            "export",
            "fsma",
            "NO-SUCH-LOT",
            "--out",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 3 and "NO-SUCH-LOT" in out.stderr
