"""The catalog's validating parser: fields, clocks, time ranges, days and payout details,
each error naming the file and the entry (``booking.catalog`` builds the catalog with it)."""
from __future__ import annotations

from datetime import date, time
from typing import Any, Optional

from booking.errors import SeedDataError
from booking.models import PayoutDestination, TimeRange

class _Parser:
    """Validating parser; every error names the file and the entry."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, entry: str, reason: str) -> SeedDataError:
        return SeedDataError(self.source, entry, reason)

    def require(self, obj: Any, key: str, entry: str, kind: type | tuple[type, ...]) -> Any:
        if not isinstance(obj, dict) or key not in obj or obj[key] is None:
            raise self.fail(entry, f"missing required field '{key}'")
        value = obj[key]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            raise self.fail(entry, f"field '{key}' must be {_kind_name(kind)}, got {value!r}")
        return value

    def optional_int(self, obj: dict, key: str, entry: str, default: Optional[int],
                     minimum: int = 0) -> Optional[int]:
        value = obj.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(entry, f"field '{key}' must be an integer, got {value!r}")
        if value < minimum:
            raise self.fail(entry, f"field '{key}' must be at least {minimum}, got {value}")
        return value

    def clock(self, value: Any, entry: str, allow_midnight_end: bool = False) -> Optional[time]:
        text = str(value).strip()
        if allow_midnight_end and text == "24:00":
            return None
        try:
            hours, minutes = text.split(":")
            return time(int(hours), int(minutes))
        except (ValueError, TypeError):
            raise self.fail(entry, f"invalid time {value!r} (expected HH:MM)") from None

    def time_range(self, value: Any, entry: str) -> TimeRange:
        if isinstance(value, str) and "-" in value:
            value = value.split("-", 1)
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise self.fail(entry, f"invalid time range {value!r} (expected 'HH:MM-HH:MM')")
        rng = TimeRange(self.clock(value[0], entry), self.clock(value[1], entry, True))
        start, end = rng.minutes()
        if start >= end:
            raise self.fail(entry, f"time range {_fmt(rng)} ends before it starts")
        return rng

    def ranges(self, values: Any, entry: str) -> tuple[TimeRange, ...]:
        if values in (None, "off", []):
            return ()
        if not isinstance(values, list):
            values = [values]
        ranges = sorted((self.time_range(v, entry) for v in values), key=TimeRange.minutes)
        for first, second in zip(ranges, ranges[1:]):
            if first.minutes()[1] > second.minutes()[0]:
                raise self.fail(entry, f"time ranges {_fmt(first)} and {_fmt(second)} overlap")
        return tuple(ranges)

    def day(self, value: Any, entry: str) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise self.fail(entry, f"invalid date {value!r} (expected YYYY-MM-DD)") from None

    def payout(self, value: Any, entry: str) -> Optional[PayoutDestination]:
        if value is None:
            return None
        return PayoutDestination(
            channel_code=self.require(value, "channel_code", entry, str),
            account_number=str(self.require(value, "account_number", entry, (str, int))),
            account_holder_name=self.require(value, "account_holder_name", entry, str),
        )


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "text", int: "an integer", list: "a list", dict: "a mapping", bool: "true/false"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _fmt(rng: TimeRange) -> str:
    end = "24:00" if rng.end is None else rng.end.strftime("%H:%M")
    return f"{rng.start.strftime('%H:%M')}-{end}"
