"""The nine Pearl River Delta cities as the report's map draws them (pure data).

How the outline was made: OUTLINE is a hand-simplified polygon of the nine cities'
outer boundary, about 40 points read off a general map at roughly 0.1 degree
precision (the Pearl River estuary is left in as a notch; islands are left out).
Inside it, each city is the union of the Voronoi cells of a few seed points of
its own (SEEDS: the city centre and its main districts or counties, approximate):
every spot of the outline belongs to the city of its nearest seed (geo.city_cells).
So the inner borders are schematic, not administrative; places are plotted by
their own lat/lon, and the tables name each place's recorded city.
"""

from __future__ import annotations

from foodtrace.reference import CITY_FACTS

# code -> (Chinese name, English name), from the contract's one city table
# (广州, not 广州市: the page names cities as people say them, as the dashboards do).
CITY_NAMES: dict[str, tuple[str, str]] = {
    **{code: (f.name_zh.removesuffix("市"), f.name_en) for code, f in CITY_FACTS.items()},
    "other": ("其他", "other"),
}

# Where each city's name is written, (lon, lat): inside its area, roughly central.
LABEL_POINTS: dict[str, tuple[float, float]] = {
    "guangzhou": (113.45, 23.40),
    "shenzhen": (114.10, 22.64),
    "zhuhai": (113.38, 22.18),
    "foshan": (112.98, 22.98),
    "huizhou": (114.60, 23.22),
    "dongguan": (113.85, 22.93),
    "zhongshan": (113.38, 22.45),
    "jiangmen": (112.65, 22.30),
    "zhaoqing": (112.25, 23.55),
}

# Seeds of each city's cells, (lon, lat): its centre and main districts / counties.
SEEDS: dict[str, tuple[tuple[float, float], ...]] = {
    "guangzhou": ((113.30, 23.15), (113.55, 23.60), (113.45, 22.85), (113.22, 23.42),
                  (113.55, 23.25)),
    "shenzhen": ((114.05, 22.58), (114.35, 22.62), (113.88, 22.62)),
    "zhuhai": ((113.45, 22.22), (113.25, 22.10)),
    "foshan": ((113.12, 23.00), (112.90, 23.16), (112.85, 22.88), (113.20, 22.83)),
    "huizhou": ((114.42, 23.10), (114.75, 23.30), (114.25, 23.60), (114.90, 22.85),
                (114.30, 23.30)),
    "dongguan": ((113.75, 23.02), (113.92, 22.85)),
    "zhongshan": ((113.38, 22.52),),
    "jiangmen": ((113.05, 22.57), (112.79, 22.25), (112.35, 22.20), (112.62, 21.85),
                 (112.67, 22.40)),
    "zhaoqing": ((112.47, 23.08), (112.10, 23.25), (111.75, 23.55), (112.15, 23.95),
                 (112.55, 23.65), (112.65, 23.35)),
}

# The outer boundary of the nine cities, (lon, lat), clockwise from the north-west.
OUTLINE: tuple[tuple[float, float], ...] = (
    (111.40, 23.65), (111.65, 23.95), (111.90, 24.15), (112.10, 24.40), (112.35, 24.35),
    (112.55, 24.15), (112.75, 23.90), (112.90, 23.60), (113.15, 23.60), (113.30, 23.80),
    (113.45, 23.92), (113.70, 23.95), (113.95, 23.70), (114.15, 23.95), (114.45, 23.90),
    (114.70, 23.60), (114.95, 23.30), (115.25, 23.10), (115.40, 22.85), (115.10, 22.70),
    (114.85, 22.60), (114.55, 22.45), (114.20, 22.53), (113.90, 22.48), (113.78, 22.70),
    (113.65, 22.80), (113.60, 22.62), (113.62, 22.40), (113.58, 22.18), (113.50, 22.05),
    (113.25, 21.95), (112.95, 21.85), (112.70, 21.65), (112.45, 21.70), (112.25, 21.80),
    (111.95, 22.20), (112.05, 22.55), (112.15, 22.75), (111.95, 22.95), (111.70, 23.15),
    (111.45, 23.35),
)


def city_label(code: str | None) -> tuple[str, str]:
    """(Chinese, English) of a city code; an unknown or missing city says so."""
    if not code:
        return ("未知", "unknown")
    return CITY_NAMES.get(code, (code, code))
