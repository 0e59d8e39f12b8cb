"""The report's map, computed in Python (pure): a projection of lon/lat onto the
SVG, and the city cells (Voronoi cells of each city's seeds clipped to the outline,
see cities.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from foodtrace.report.cities import OUTLINE, SEEDS

Point = tuple[float, float]  # (lon, lat) or (x, y)


@dataclass(frozen=True)
class Projection:
    """Equirectangular, x scaled by cos(middle latitude) so shapes keep their
    proportions at this latitude; y grows downwards as in SVG."""

    west: float
    east: float
    south: float
    north: float
    width: float
    margin: float = 16.0

    @property
    def x_scale(self) -> float:
        mid = math.radians((self.south + self.north) / 2)
        return (self.width - 2 * self.margin) / ((self.east - self.west) * math.cos(mid))

    @property
    def height(self) -> float:
        return (self.north - self.south) * self.x_scale + 2 * self.margin

    def project(self, lon: float, lat: float) -> Point:
        mid = math.radians((self.south + self.north) / 2)
        x = self.margin + (lon - self.west) * math.cos(mid) * self.x_scale
        y = self.margin + (self.north - lat) * self.x_scale
        return (round(x, 1), round(y, 1))

    def contains(self, lon: float, lat: float) -> bool:
        return self.west <= lon <= self.east and self.south <= lat <= self.north


def projection_for(outline: Sequence[Point] = OUTLINE, width: float = 720.0,
                   pad_degrees: float = 0.08) -> Projection:
    lons = [p[0] for p in outline]
    lats = [p[1] for p in outline]
    return Projection(min(lons) - pad_degrees, max(lons) + pad_degrees,
                      min(lats) - pad_degrees, max(lats) + pad_degrees, width)


def clip_half_plane(polygon: Sequence[Point], keep_near: Point, other: Point) -> list[Point]:
    """The part of `polygon` nearer to `keep_near` than to `other`
    (Sutherland-Hodgman against their perpendicular bisector)."""
    (ax, ay), (bx, by) = keep_near, other
    nx, ny = bx - ax, by - ay
    c = (bx * bx + by * by - ax * ax - ay * ay) / 2

    def inside(p: Point) -> bool:  # nearer to a: n.p <= c
        return nx * p[0] + ny * p[1] <= c

    def crossing(p: Point, q: Point) -> Point:
        dp, dq = nx * p[0] + ny * p[1] - c, nx * q[0] + ny * q[1] - c
        t = dp / (dp - dq)
        return (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))

    out: list[Point] = []
    for i, cur in enumerate(polygon):
        prev = polygon[i - 1]
        if inside(cur):
            if not inside(prev):
                out.append(crossing(prev, cur))
            out.append(cur)
        elif inside(prev):
            out.append(crossing(prev, cur))
    return out


def city_cells(seeds: Mapping[str, Sequence[Point]] = SEEDS,
               outline: Sequence[Point] = OUTLINE) -> dict[str, list[list[Point]]]:
    """city -> its cells, (lon, lat) polygons: for each of its seeds, the part of the
    outline nearer to that seed than to any other (a Voronoi partition: the cells
    tile the outline). Distances are measured with longitude scaled by
    cos(latitude), as the map shows them."""
    k = math.cos(math.radians(sum(p[1] for p in outline) / len(outline)))

    def flat(p: Point) -> Point:
        return (p[0] * k, p[1])

    cells: dict[str, list[list[Point]]] = {}
    for city, own in seeds.items():
        for seed in own:
            others = [flat(p) for pts in seeds.values() for p in pts if p != seed]
            cell = [flat(p) for p in outline]
            for other in others:
                if not cell:
                    break
                cell = clip_half_plane(cell, flat(seed), other)
            if cell:
                cells.setdefault(city, []).append([(x / k, y) for x, y in cell])
    return cells


def point_in_polygon(point: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd rule."""
    x, y = point
    inside = False
    for i, (x2, y2) in enumerate(polygon):
        x1, y1 = polygon[i - 1]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def city_borders(cells: Mapping[str, Sequence[Sequence[Point]]],
                 seeds: Mapping[str, Sequence[Point]] = SEEDS,
                 outline: Sequence[Point] = OUTLINE) -> list[tuple[Point, Point]]:
    """The cell edges that separate two cities (not two cells of one city, not the
    coast): just across the edge's middle, the nearest seed is another city's."""
    k = math.cos(math.radians(sum(p[1] for p in outline) / len(outline)))
    flat_seeds = [(city, (p[0] * k, p[1])) for city, pts in seeds.items() for p in pts]

    def city_at(lon: float, lat: float) -> str | None:
        if not point_in_polygon((lon, lat), outline):
            return None
        x, y = lon * k, lat
        return min(flat_seeds, key=lambda cs: (cs[1][0] - x) ** 2 + (cs[1][1] - y) ** 2)[0]

    borders: list[tuple[Point, Point]] = []
    for city, polygons in cells.items():
        for polygon in polygons:
            for i, b in enumerate(polygon):
                a = polygon[i - 1]
                dx, dy = (b[0] - a[0]) * k, b[1] - a[1]
                length = math.hypot(dx, dy)
                if length < 1e-9:
                    continue
                mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
                nudge = 1e-4 / length  # a hair to either side of the edge
                sides = {city_at(mx - dy * nudge / k, my + dx * nudge),
                         city_at(mx + dy * nudge / k, my - dx * nudge)}
                if None not in sides and len(sides) == 2 and city in sides:
                    borders.append((a, b))  # a shared edge comes from both sides: harmless
    return borders


def svg_segments(segments: Sequence[tuple[Point, Point]], projection: Projection) -> str:
    """One SVG path of separate line segments in lon/lat."""
    out = []
    for a, b in segments:
        (x1, y1), (x2, y2) = projection.project(*a), projection.project(*b)
        out.append(f"M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}")
    return " ".join(out)


def svg_paths(polygons: Sequence[Sequence[Point]], projection: Projection) -> str:
    """One SVG path of several closed polygons."""
    return " ".join(svg_path(p, projection) for p in polygons if p)


def svg_path(points: Sequence[Point], projection: Projection) -> str:
    """An SVG path (numbers only) of a closed polygon in lon/lat."""
    if not points:
        return ""
    xy = [projection.project(lon, lat) for lon, lat in points]
    return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in xy) + " Z"
