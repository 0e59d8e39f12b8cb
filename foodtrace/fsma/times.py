"""An event's date and time as its place recorded them, beside UTC (pure).

core.events keeps the instant (UTC) and the offset suffix it was sent with
(`event_time_offset`: '+08:00', 'Z', '-00:00'). A 06:30 +08:00 shipment on
28 November is dated the 28th here, as on its bill of lading, and 2026-11-27T22:30Z
in the UTC column. 'Z' and '-00:00' say the sender gave UTC only (RFC 3339 4.3:
the local offset unknown), and NULL that it was never kept: the local cells say
so rather than inventing an offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

OFFSET_NOT_RECORDED = "时差未记录 offset not recorded"
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


@dataclass(frozen=True)
class RecordedTime:
    date_local: str
    time_local: str
    utc_offset: str
    datetime_utc: str

    def as_row(self) -> dict[str, str]:
        return {"date_local": self.date_local, "time_local": self.time_local,
                "utc_offset": self.utc_offset, "datetime_utc": self.datetime_utc}


def parse_offset(suffix: str | None) -> timezone | None:
    """The place's offset, or None when it is not known ('Z', '-00:00', missing)."""
    m = _OFFSET.match(suffix or "")
    if not m or suffix == "-00:00":
        return None
    sign = -1 if m.group(1) == "-" else 1
    return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))


def recorded_time(moment: datetime, suffix: str | None) -> RecordedTime:
    if moment.tzinfo is None:
        raise ValueError("event times must carry a timezone")
    utc = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    tz = parse_offset(suffix)
    if tz is None:
        return RecordedTime(OFFSET_NOT_RECORDED, OFFSET_NOT_RECORDED, OFFSET_NOT_RECORDED, utc)
    local = moment.astimezone(tz)
    return RecordedTime(local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S"), str(suffix), utc)
