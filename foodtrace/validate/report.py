"""A static report per validation call: HTML (browsable) and Markdown (diffable).

GX Data Docs need a file-backed context and stored validation results; the suites
here run in an ephemeral context for speed, so the equivalent page is rendered
from the same results: per run (message kind) the counts, then every
expectation with its rule, CFR section, unexpected count and sample message ids,
then examples of quarantined rows and of promoted rows with findings. Pure rendering;
`write_report` is the only I/O.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from foodtrace.validate.decide import RuleTally

EXAMPLES_PER_OUTCOME = 25
_EXAMPLE_TITLES = (("quarantined", "Quarantined rows"), ("promoted", "Promoted rows with findings"))


@dataclass
class RunReport:
    run_id: int
    kind: str
    suite_name: str
    started_at: datetime
    finished_at: datetime | None = None
    checked: int = 0
    promoted: int = 0
    quarantined: int = 0
    findings: int = 0  # on promoted rows
    tallies: dict[str, RuleTally] = field(default_factory=dict)
    examples: dict[str, list[tuple[str, list[dict[str, Any]]]]] = field(
        default_factory=lambda: {"quarantined": [], "promoted": []}
    )

    @property
    def success(self) -> bool:
        return all(t.success for t in self.tallies.values())

    def add_example(self, outcome: str, message_id: str, reasons: list[dict[str, Any]]) -> None:
        bucket = self.examples.setdefault(outcome, [])
        if len(bucket) < EXAMPLES_PER_OUTCOME:
            bucket.append((message_id, reasons))


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def render_html(runs: Sequence[RunReport], generated_at: datetime) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>foodtrace validation report</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:.3em .6em;text-align:left;vertical-align:top}"
        ".ok{color:#176917}.fail{color:#b00020;font-weight:bold}.finding{color:#8a5a00}"
        "code{font-size:.9em}</style></head><body>",
        "<h1>foodtrace validation report</h1>",
        f"<p>Generated {_e(generated_at.isoformat(timespec='seconds'))}. "
        "Suites run with great_expectations (ephemeral context, pandas batches); "
        "SQL-derived facts (references, lot-code uniqueness, mass balance) are columns "
        "the expectations assert.</p>",
    ]
    for run in runs:
        status = "ok" if run.success else "fail"
        parts += [
            f"<h2 id='run-{run.run_id}'>Run {run.run_id}: {_e(run.kind)} "
            f"<span class='{status}'>{'passed' if run.success else 'failures'}</span></h2>",
            f"<p>Suite(s) <code>{_e(run.suite_name)}</code>; started "
            f"{_e(run.started_at.isoformat(timespec='seconds'))}.</p>",
            "<table><tr><th>checked</th><th>promoted</th><th>quarantined</th>"
            "<th>findings on promoted rows</th></tr>",
            f"<tr><td>{run.checked}</td><td>{run.promoted}</td><td>{run.quarantined}</td>"
            f"<td>{run.findings}</td></tr></table>",
            "<table><tr><th>rule</th><th>expectation</th><th>column</th><th>CFR section</th>"
            "<th>on failure</th><th>rows checked</th><th>unexpected</th>"
            "<th>sample message ids</th></tr>",
        ]
        for tally in run.tallies.values():
            rule = tally.rule
            cls = "ok" if tally.success else ("finding" if rule.on_failure == "finding" else "fail")
            parts.append(
                f"<tr><td class='{cls}'>{_e(rule.name)}</td><td>{_e(rule.expectation)}</td>"
                f"<td>{_e(rule.column)}</td><td>{_e(rule.cfr_section)}</td>"
                f"<td>{_e(rule.on_failure)}</td><td>{tally.element_count}</td>"
                f"<td class='{cls}'>{tally.unexpected_count}</td>"
                f"<td><code>{'<br>'.join(_e(m) for m in tally.sample)}</code></td></tr>"
            )
        parts.append("</table>")
        for outcome, title in _EXAMPLE_TITLES:
            examples = run.examples.get(outcome) or []
            if not examples:
                continue
            parts.append(
                f"<h3>{title} (first {len(examples)})</h3><table>"
                "<tr><th>message id</th><th>reasons</th></tr>"
            )
            for mid, reasons in examples:
                text = "<br>".join(_e(r.get("message")) for r in reasons)
                parts.append(f"<tr><td><code>{_e(mid)}</code></td><td>{text}</td></tr>")
            parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_markdown(runs: Sequence[RunReport], generated_at: datetime) -> str:
    lines = [
        "# foodtrace validation report",
        "",
        f"Generated {generated_at.isoformat(timespec='seconds')}.",
        "",
    ]
    for run in runs:
        lines += [
            f"## Run {run.run_id}: {run.kind} ({'passed' if run.success else 'failures'})",
            "",
            f"checked {run.checked}, promoted {run.promoted}, quarantined {run.quarantined}, "
            f"findings {run.findings}; suite(s) `{run.suite_name}`",
            "",
            "| rule | CFR section | on failure | checked | unexpected |",
            "|---|---|---|---|---|",
        ]
        for t in run.tallies.values():
            lines.append(
                f"| {t.rule.name} | {t.rule.cfr_section or ''} | {t.rule.on_failure} "
                f"| {t.element_count} | {t.unexpected_count} |"
            )
        lines.append("")
        for outcome, title in _EXAMPLE_TITLES:
            for mid, reasons in run.examples.get(outcome) or []:
                msgs = "; ".join(str(r.get("message")) for r in reasons)
                lines.append(f"- {title.lower()} `{mid}`: {msgs}")
        lines.append("")
    return "\n".join(lines)


def write_report(directory: Path, runs: Sequence[RunReport], generated_at: datetime) -> Path:
    """Write validation-<stamp>-run<first id>.html and .md; return the HTML path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = generated_at.strftime("%Y%m%dT%H%M%SZ")
    base = directory / f"validation-{stamp}-run{min(r.run_id for r in runs)}"
    html_path = base.with_suffix(".html")
    html_path.write_text(render_html(runs, generated_at), encoding="utf-8")
    base.with_suffix(".md").write_text(render_markdown(runs, generated_at), encoding="utf-8")
    return html_path
