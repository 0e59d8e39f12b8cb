"""Write an alert's incident report to a file (the entry point of the package)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from foodtrace.report.collect import ReportData, gather
from foodtrace.report.render import render


def write(conn: psycopg.Connection, alert_text: str, path: Path) -> dict[str, Any]:
    """Gather, render and write the report; returns its summary (for --json).
    Raises foodtrace.alerts.store.AlertNotFound for an unknown alert."""
    data = gather(conn, alert_text)
    html = render(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(html, "utf-8")
    tmp.replace(path)  # a reader never sees half a page
    return summary(data, path, len(html.encode("utf-8")))


def summary(data: ReportData, path: Path, size: int) -> dict[str, Any]:
    a = data.alert
    places = {p["location_id"] for p in a.get("affected_locations", [])}
    places |= {p["location_id"] for p in a.get("source_locations", [])}
    t = data.trace
    return {
        "file": str(path.resolve()),
        "bytes": size,
        "alert_id": str(a["alert_id"]),
        "version": a["version"],
        "status": a["status"],
        "severity": a["severity"],
        "lot_code": a["lot_code"],
        "analyte": a["analyte"],
        "lot_traced": bool(a.get("lot_traced", t is not None)),
        "trace_lots": 0 if t is None else 1 + len(t.upstream) + len(t.downstream),
        "affected_lots": len(a.get("affected_lots", [])),
        "places": len(places),
        "affected_cities": list(a.get("affected_cities", [])),
        "versions": len({h["version"] for h in data.history}),
        "findings": len(data.findings),
        "open_findings": sum(1 for f in data.findings if f.resolution is None),
        "cap_messages": len(data.messages),
        "generated_at": data.generated_at.isoformat(),
    }
