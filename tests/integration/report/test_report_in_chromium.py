"""The incident report opened in headless Chromium (Debian's chromium package):
the page renders with the alert, its lots and cities in the DOM, the screenshot
shows the graph and the map in their colours, and the page logs nothing to the
console (no script error, nothing blocked by its no-network CSP).

Skipped, with the reason, only when /usr/bin/chromium is absent; .ci/run installs it."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from alerts_helpers import Chain
from chromium import CHROMIUM, dump_dom, png_pixels, screenshot
from report_helpers import alert_with_late_data

from foodtrace.report.page import write

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium "
    "(`apt-get install -y chromium fonts-wqy-microhei`; .ci/run installs it)",
)

ALERT_RED = (0xB3, 0x26, 0x1E)  # the alerted lot's node (incident.html.j2)
AFFECTED_CITY = (0xF7, 0xC1, 0xBA)  # an affected city's cell on the map


class _Text(HTMLParser):
    """The text of the rendered DOM, and which elements it has."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.tags: Counter[str] = Counter()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        self.ids |= {v for k, v in attrs if k == "id" and v}

    def handle_data(self, data):
        self.parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(self.parts)


def test_the_console_check_catches_a_broken_page(tmp_path: Path) -> None:
    """The check below can fail: a script error and a blocked fetch are both seen."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" "
        "content=\"default-src 'none'; script-src 'unsafe-inline'\"></head><body>"
        "<img src=\"http://example.invalid/x.png\"><script>undefined_function();</script>"
        "</body></html>",
        "utf-8",
    )
    console = " ".join(dump_dom(page).console)
    assert "Uncaught ReferenceError" in console
    assert "Content Security Policy" in console


def test_the_report_renders_in_chromium(chain: Chain, tmp_path: Path) -> None:
    c = chain
    made = alert_with_late_data(c)
    page = tmp_path / "report.html"
    summary = write(c.conn, str(made.alert_id), page)
    c.conn.commit()

    dom = dump_dom(page)
    assert dom.console == []
    seen = _Text()
    seen.feed(dom.stdout)
    text = seen.text
    assert str(made.alert_id) in text
    for lot in ("A", "X"):
        assert c.code(lot) in text
    for name in ("广州", "Guangzhou", "深圳", "Shenzhen", "珠海", "Zhuhai", "肇庆", "Zhaoqing",
                 "惠州", "Huizhou"):
        assert name in text, name
    assert {"trace-graph", "city-map", "places", "cap", "versions", "findings"} <= seen.ids
    assert seen.tags["circle"] == summary["places"]  # every place has coordinates here
    assert seen.tags["details"] == summary["cap_messages"]

    png = tmp_path / "report.png"
    shot = screenshot(page, png, width=1280, height=2400)
    assert shot.console == []
    assert png.stat().st_size > 50_000
    width, height, pixels = png_pixels(png)
    assert (width, height) == (1280, 2400)
    colours = Counter(pixels)
    assert len(colours) > 500  # text, graph and map, not a blank page
    assert colours[ALERT_RED] > 500  # the alerted lot's node and the map's affected places
    assert colours[AFFECTED_CITY] > 20_000  # five affected cities shaded on the map
