"""The regional peak the soak sustains: nine Pearl River Delta cities, peak hour.

Pure arithmetic over stated inputs. Each input says whether it is a sourced fact or
an assumption (ASSUMED: a planning figure, not a measured one); RELIABILITY.md
repeats the table. Change an input here and the soak's default rate follows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Input:
    name: str
    value: float
    unit: str
    basis: str  # "source: ..." or "ASSUMED: ..."


INPUTS: tuple[Input, ...] = (
    Input(
        "population", 78.0e6, "people",
        "source: 7th national census (2020), the nine PRD cities (Guangzhou, Shenzhen, "
        "Foshan, Dongguan, Huizhou, Zhongshan, Jiangmen, Zhuhai, Zhaoqing) ~78 million",
    ),
    Input(
        "people_per_market", 20_000, "people per farmers' market",
        "ASSUMED: ~1 farmers' market (农贸市场) per 20k residents, the order of "
        "Guangzhou's ~900 markets for 18.8M people",
    ),
    Input(
        "extra_stations", 500, "stations",
        "ASSUMED: rapid-test rooms of wholesale markets, supermarket chains and "
        "canteen regulators beyond the farmers' markets",
    ),
    Input(
        "rapid_tests_per_station_day", 40, "tests per station per day",
        "ASSUMED: a market's rapid-test room (快检室) screens ~30-60 batches a day",
    ),
    Input(
        "labs", 150, "labs",
        "ASSUMED: accredited food-testing labs (official and third-party) in the nine cities",
    ),
    Input("confirmatory_per_lab_day", 100, "results per lab per day", "ASSUMED"),
    Input(
        "stalls_per_market", 40, "reporting stalls per market",
        "ASSUMED: stall-holders who record receipts (many markets have 100+ stalls; "
        "not all deal in traced foods)",
    ),
    Input(
        "other_businesses", 60_000, "businesses",
        "ASSUMED: farms/bases, packers, processors, distributors and retailers "
        "supplying the nine cities that report electronically",
    ),
    Input(
        "events_per_business_day", 10, "chain events per business per day",
        "ASSUMED: receiving + shipping (+ transformation) events per lot handled",
    ),
    Input(
        "peak_hour_share_chain", 0.15, "share of the day's chain events in the peak hour",
        "ASSUMED: wholesale trading concentrates 02:00-06:00 (a flat day would be 0.042)",
    ),
    Input(
        "peak_hour_share_tests", 0.20, "share of the day's rapid tests in the peak hour",
        "ASSUMED: stations test the morning's deliveries 06:00-10:00",
    ),
    Input(
        "peak_day_factor", 1.5, "x an ordinary day",
        "ASSUMED: the days before Spring Festival trade ~1.5x an ordinary day",
    ),
)


def _v(name: str) -> float:
    return next(i.value for i in INPUTS if i.name == name)


def regional_peak() -> dict[str, object]:
    """Messages per second at the regional peak hour, with every step of the sum."""
    markets = _v("population") / _v("people_per_market")
    stations = markets + _v("extra_stations")
    rapid_day = stations * _v("rapid_tests_per_station_day")
    confirm_day = _v("labs") * _v("confirmatory_per_lab_day")
    businesses = markets * _v("stalls_per_market") + _v("other_businesses")
    chain_day = businesses * _v("events_per_business_day")
    day = _v("peak_day_factor")
    chain_s = chain_day * day * _v("peak_hour_share_chain") / 3600
    lab_s = (rapid_day * _v("peak_hour_share_tests") + confirm_day * _v("peak_hour_share_chain")) * day / 3600
    steps = [
        f"markets = {_v('population'):,.0f} / {_v('people_per_market'):,.0f} = {markets:,.0f}",
        f"rapid-test stations = {markets:,.0f} + {_v('extra_stations'):,.0f} = {stations:,.0f}",
        f"rapid tests/day = {stations:,.0f} x {_v('rapid_tests_per_station_day'):.0f} = {rapid_day:,.0f}",
        f"confirmatory results/day = {_v('labs'):.0f} x {_v('confirmatory_per_lab_day'):.0f} = {confirm_day:,.0f}",
        f"reporting businesses = {markets:,.0f} x {_v('stalls_per_market'):.0f} + "
        f"{_v('other_businesses'):,.0f} = {businesses:,.0f}",
        f"chain events/day = {businesses:,.0f} x {_v('events_per_business_day'):.0f} = {chain_day:,.0f}",
        f"peak chain events/s = {chain_day:,.0f} x {day} x {_v('peak_hour_share_chain')} / 3600 = {chain_s:.1f}",
        f"peak lab results/s = ({rapid_day:,.0f} x {_v('peak_hour_share_tests')} + {confirm_day:,.0f} x "
        f"{_v('peak_hour_share_chain')}) x {day} / 3600 = {lab_s:.1f}",
    ]
    return {
        "inputs": [asdict(i) for i in INPUTS],
        "steps": steps,
        "chain_events_per_s": round(chain_s, 1),
        "lab_results_per_s": round(lab_s, 1),
        "total_per_s": round(chain_s + lab_s, 1),
    }


if __name__ == "__main__":
    for line in regional_peak()["steps"]:  # type: ignore[union-attr]
        print(line)
