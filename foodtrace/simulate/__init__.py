"""A seeded, realistic synthetic Pearl River Delta food supply chain (pure: no I/O).

    from foodtrace.simulate import simulate_day
    sim = simulate_day(42, date(2026, 11, 27), scale=0.2, incident="pesticide")
    sim.locations, sim.products, sim.chain_events, sim.lab_results  # lists of dicts
    sim.truth.to_json()  # what a correct trace/alert must say

Modules: catalog (cities, products), network (the businesses), chain (the day's
Critical Tracking Events and the lot model, documented there), labs (rapid and
confirmatory tests, incidents), truth (the expected trace), day (`simulate_day`).
"""

from foodtrace.simulate.day import KINDS, SimulatedDay, default_day, simulate_day
from foodtrace.simulate.labs import INCIDENTS
from foodtrace.simulate.network import Sizes
from foodtrace.simulate.truth import ExpectedAlert, GroundTruth

__all__ = [
    "INCIDENTS",
    "KINDS",
    "ExpectedAlert",
    "GroundTruth",
    "SimulatedDay",
    "Sizes",
    "default_day",
    "simulate_day",
]
