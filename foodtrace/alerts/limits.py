"""Limits (core.limits) and their lookup down the food-category tree.

A limit applies to its category and every sub-category below it unless a more
specific row exists for the same analyte (GB 2762 / GB 2763 inherit this way):
`LimitsTable.lookup("lead", "leafy_vegetables")` takes the leafy-vegetable row when
there is one, else the fresh-vegetable row, else the one on `food`.

Pure except `load()`, so the lookup is unit-tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import class_row

from foodtrace.jsonvalues import json_number
from foodtrace.reference import MASS_UNITS_TO_MG_PER_KG

number = json_number  # alerts' callers import it from here

KINDS: tuple[str, ...] = ("mrl", "contaminant_max", "prohibited", "vet_drug_mrl")
_MAX_TREE_DEPTH = 32  # a cycle in bad category data must not loop forever


class UnitError(ValueError):
    """A value in a unit that cannot be expressed in mg/kg."""


def to_mg_per_kg(value: Decimal | float | int | None, unit: str | None) -> Decimal | None:
    """A mass fraction in mg/kg (ug/kg / 1000); None stays None.

    Raises UnitError for '%' (an enzyme-inhibition rate is not a concentration) or
    any other unit."""
    if value is None:
        return None
    factor = MASS_UNITS_TO_MG_PER_KG.get(unit or "")
    if factor is None:
        raise UnitError(f"cannot express {value} {unit or '(no unit)'} in mg/kg")
    return Decimal(str(value)) * factor


@dataclass(frozen=True)
class Limit:
    """One core.limits row. `limit_mg_per_kg` None: an exclusion (no applicable limit)."""

    analyte: str
    category: str
    kind: str
    source_value: Decimal | None
    source_unit: str | None
    limit_mg_per_kg: Decimal | None
    basis: str | None
    standard: str
    edition: str | None
    clause: str | None
    verified: bool
    note: str | None

    @property
    def prohibited(self) -> bool:
        return self.kind == "prohibited"

    @property
    def citation(self) -> str:
        """'GB 2762-2022, <clause>' as a regulator would look it up."""
        std = self.standard
        if self.edition and self.edition not in std:
            std = f"{std}-{self.edition}"
        return f"{std}, {self.clause}" if self.clause else std

    def to_json(self) -> dict[str, Any]:
        return {
            "analyte": self.analyte,
            "category": self.category,
            "kind": self.kind,
            "value": number(self.source_value),
            "unit": self.source_unit,
            "limit_mg_per_kg": number(self.limit_mg_per_kg),
            "basis": self.basis,
            "standard": self.standard,
            "edition": self.edition,
            "clause": self.clause,
            "verified": self.verified,
            "note": self.note,
        }


@dataclass(frozen=True)
class LimitsTable:
    """All limits plus the category tree (child -> parent), for lookups in memory."""

    limits: Mapping[tuple[str, str], Limit]  # (analyte, category) -> Limit
    parents: Mapping[str, str | None]

    @classmethod
    def build(cls, limits: Iterable[Limit], parents: Mapping[str, str | None]) -> LimitsTable:
        return cls({(lim.analyte, lim.category): lim for lim in limits}, dict(parents))

    def ancestry(self, category: str | None) -> list[str]:
        """The category and its ancestors, most specific first. An unknown or missing
        category still gets the root's rows (prohibited substances apply to all food)."""
        chain: list[str] = []
        current = category
        while current is not None and current not in chain and len(chain) < _MAX_TREE_DEPTH:
            if current not in self.parents:
                break
            chain.append(current)
            current = self.parents[current]
        roots = [c for c, p in self.parents.items() if p is None]
        chain += [r for r in roots if r not in chain]
        return chain

    def lookup(self, analyte: str, category: str | None) -> Limit | None:
        """The most specific limit for `analyte` on `category` or an ancestor.

        With no category (the product's master data has not arrived), the strictest
        limit of the analyte in any category: missing data must widen a verdict,
        never silently turn a violation into "no applicable limit". The alert says
        so (`Limit.category` is then not the product's; see engine.trigger_fields).
        """
        if category is None:
            known = [
                lim
                for (a, _), lim in self.limits.items()
                if a == analyte and lim.limit_mg_per_kg is not None
            ]
            if known:
                return min(known, key=lambda lim: (lim.limit_mg_per_kg, lim.category))
        for cat in self.ancestry(category):
            found = self.limits.get((analyte, cat))
            if found is not None:
                return found
        return None


_LIMITS_SQL = """
SELECT analyte, category, kind, source_value, source_unit, limit_mg_per_kg, basis, standard,
       edition, clause, verified, note
FROM core.limits
"""


def load(conn: psycopg.Connection) -> LimitsTable:
    """Read core.limits and core.food_categories (two small tables)."""
    with conn.cursor(row_factory=class_row(Limit)) as cur:
        limits = cur.execute(_LIMITS_SQL).fetchall()
    parents: dict[str, str | None] = dict(conn.execute("SELECT category, parent FROM core.food_categories").fetchall())
    return LimitsTable.build(limits, parents)
