"""The report's map: the projection keeps north up and proportions right, the city
cells tile the outline and hold each city's centre and label."""

from __future__ import annotations

import math

import pytest

from foodtrace.reference import CITIES
from foodtrace.report.cities import CITY_NAMES, LABEL_POINTS, OUTLINE, SEEDS, city_label
from foodtrace.report.geo import (
    city_borders,
    city_cells,
    clip_half_plane,
    projection_for,
    svg_path,
)
from foodtrace.simulate.catalog import CITY_INFO


def _area(points) -> float:
    return abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2)
                   in zip(points, [*points[1:], points[0]], strict=True))) / 2


def _inside(point, polygon) -> bool:
    x, y = point
    hit = False
    for (x1, y1), (x2, y2) in zip(polygon, [*polygon[1:], polygon[0]], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def test_the_nine_cities_have_names_and_centroids() -> None:
    assert set(LABEL_POINTS) == set(SEEDS) == set(CITIES)
    assert set(CITY_NAMES) == {*CITIES, "other"}
    assert city_label("zhuhai") == ("珠海", "Zhuhai")
    assert city_label(None) == ("未知", "unknown")
    assert city_label("nowhere") == ("nowhere", "nowhere")  # shown as sent, not dropped


def test_projection_north_up_east_right_and_true_proportions() -> None:
    p = projection_for(width=800)
    x_gz, y_gz = p.project(113.26, 23.13)
    x_sz, y_sz = p.project(114.06, 22.54)
    assert x_sz > x_gz and y_sz > y_gz  # Shenzhen is east and south of Guangzhou
    # one degree of latitude is longer on the map than one of longitude, by 1/cos(lat)
    dx = p.project(113.0, 23.0)[0] - p.project(112.0, 23.0)[0]
    dy = p.project(113.0, 22.0)[1] - p.project(113.0, 23.0)[1]
    mid = math.radians((p.south + p.north) / 2)
    assert dx / dy == pytest.approx(math.cos(mid), rel=0.01)
    for lon, lat in OUTLINE:
        x, y = p.project(lon, lat)
        assert p.margin <= x <= p.width - p.margin + 0.1 and 0 <= y <= p.height
    assert p.contains(113.26, 23.13) and not p.contains(121.47, 31.23)  # Shanghai is off


def test_half_plane_clip_of_a_square() -> None:
    square = [(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0)]
    left = clip_half_plane(square, (0.5, 1.0), (1.5, 1.0))
    assert _area(left) == pytest.approx(2.0)
    assert max(x for x, _ in left) == pytest.approx(1.0)


def test_cells_tile_the_outline_and_hold_their_cities() -> None:
    cells = city_cells()
    assert set(cells) == set(CITIES)
    total = sum(_area(c) for polygons in cells.values() for c in polygons)
    assert total == pytest.approx(_area(list(OUTLINE)), rel=1e-6)  # a partition
    for city, polygons in cells.items():
        assert any(_inside(LABEL_POINTS[city], c) for c in polygons), f"{city}'s label"
        info = CITY_INFO[city]  # the simulator's city centre
        assert any(_inside((info.lon, info.lat), c) for c in polygons), f"{city}'s centre"


def test_svg_path_is_numbers_only() -> None:
    path = svg_path(list(OUTLINE), projection_for())
    assert path.startswith("M") and path.endswith(" Z")
    assert set(path) <= set("0123456789.,-MLZ ")
    assert svg_path([], projection_for()) == ""


def test_borders_separate_neighbouring_cities_only() -> None:
    cells = city_cells()
    borders = city_borders(cells)
    assert borders

    def city_of(point) -> set[str]:
        return {city for city, polygons in cells.items()
                if any(_inside(point, c) for c in polygons)}

    pairs = set()
    for (lon1, lat1), (lon2, lat2) in borders:
        mid = ((lon1 + lon2) / 2, (lat1 + lat2) / 2)
        dx, dy = lon2 - lon1, lat2 - lat1
        left = city_of((mid[0] - dy * 1e-3, mid[1] + dx * 1e-3))
        right = city_of((mid[0] + dy * 1e-3, mid[1] - dx * 1e-3))
        assert left and right and left != right, (mid, left, right)
        pairs.add(frozenset(left | right))
    for a, b in (("guangzhou", "foshan"), ("shenzhen", "dongguan"), ("zhuhai", "zhongshan"),
                 ("zhaoqing", "foshan"), ("huizhou", "dongguan"), ("jiangmen", "zhongshan")):
        assert frozenset({a, b}) in pairs, (a, b)
    assert frozenset({"zhaoqing", "shenzhen"}) not in pairs
