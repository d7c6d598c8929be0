"""Console catalog forms ⇄ the seed format's entries (pure functions; the rules themselves are
the seed parser's, applied by ``booking.catalog_store.CatalogEditor``)."""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from booking.models import WEEKDAYS

SERVICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,48}$")


class FormError(ValueError):
    """A field cannot be read; the message names it."""


def slug(name: str) -> str:
    """An id from a name (``Lava Shell Massage`` → ``lava-shell-massage``)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48]


def whole_number(text: str, label: str, money: bool = False) -> int:
    """A whole number typed in a form: digits only, or for Rupiah also grouped by thousands
    (``350.000``, ``350,000``, ``Rp 350.000``); a decimal (``7.5``) is refused, never read as
    ``75``."""
    value = text.strip()
    if money:
        value = re.sub(r"^rp\.?\s*", "", value, flags=re.IGNORECASE)
        if re.fullmatch(r"\d{1,3}([.,]\d{3})+", value):
            value = re.sub(r"[.,]", "", value)
    if not re.fullmatch(r"\d{1,12}", value):
        raise FormError(f"{label} must be a whole number" + (" of Rupiah" if money else ""))
    return int(value)


def _int(get: Callable[[str], str], name: str, label: str, default: int | None = None,
         money: bool = False) -> int:
    value = get(name).strip()
    if not value and default is not None:
        return default
    return whole_number(value, label, money)


def _list(value: str) -> list[str]:
    """Comma- or line-separated entries; ``12:00 - 13:00`` reads as ``12:00-13:00``."""
    value = re.sub(r"\s*[-–]\s*", "-", value)
    return [v.strip() for v in re.split(r"[,\n]", value) if v.strip()]


def service_entry(get: Callable[[str], str], new: bool, current_id: str = "") -> dict[str, Any]:
    """The service entry a form describes (``get`` reads a field; missing fields are empty)."""
    name = get("name").strip()
    if not name:
        raise FormError("a service needs a name")
    service_id = (get("id").strip() or slug(name)) if new else current_id
    if not SERVICE_ID.match(service_id) or service_id == "new":
        raise FormError("the id may hold lower-case letters, digits and dashes (2–49), and "
                        "may not be \"new\"")
    entry: dict[str, Any] = {
        "id": service_id, "name": name[:100], "category": get("category").strip(),
        "duration_minutes": _int(get, "duration_minutes", "Duration"),
        "price": _int(get, "price", "Price", money=True),
        "buffer_before_minutes": _int(get, "buffer_before_minutes", "Buffer before", 0),
        "buffer_after_minutes": _int(get, "buffer_after_minutes", "Buffer after", 0),
        "description": get("description").strip()[:500],
        "aliases": [a.lower()[:60] for a in _list(get("aliases"))][:20],
    }
    if get("in_villa"):
        entry["in_villa"] = True
    return entry


def staff_entry(get: Callable[[str], str], chosen: list[str], staff_id: str,
                keep: Mapping[str, Any]) -> dict[str, Any]:
    """The staff entry a form describes: hours per weekday ("09:00-18:00", several separated
    by commas, empty for a day off), breaks one per line ("12:00-13:00" or "16:00-16:15 sat,
    sun"), days off and overrides ("2026-12-24 10:00-14:00") one per line."""
    name = get("name").strip()
    if not name:
        raise FormError("a staff member needs a name")
    hours = {day: _list(get(f"hours_{day}")) for day in WEEKDAYS}
    breaks = []
    for line in get("breaks").splitlines():
        parts = re.sub(r"\s*[-–]\s*", "-", line).replace(",", " ").split()
        if parts:
            entry: dict[str, Any] = {"time": parts[0]}
            if parts[1:]:
                entry["days"] = [p.lower()[:3] for p in parts[1:]]
            breaks.append(entry)
    overrides: dict[str, list[str]] = {}
    for line in get("overrides").splitlines():
        parts = re.sub(r"\s+[-–]\s+|(?<=\d)[-–]\s+|\s+[-–](?=\d)", "-", line).replace(
            ",", " ").split()
        if parts:
            overrides[parts[0]] = parts[1:]
    result = {"id": staff_id, "name": name[:100], "services": chosen,
              "weekly_hours": {d: r for d, r in hours.items() if r}, "breaks": breaks,
              "days_off": _list(get("days_off")), "overrides": overrides}
    if keep.get("time_off"):
        result["time_off"] = keep["time_off"]
    return result


def staff_fields(member: Mapping[str, Any]) -> dict[str, str]:
    """A stored staff entry as the form's texts."""
    def ranges(value: Any) -> str:
        if value in (None, "off", []):
            return ""
        values = value if isinstance(value, list) else [value]
        return ", ".join(span(v) for v in values)

    def span(value: Any) -> str:  # the seed also allows ["12:00", "13:00"]
        return "-".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
    fields = {f"hours_{d}": ranges((member.get("weekly_hours") or {}).get(d)) for d in WEEKDAYS}
    fields["name"] = member.get("name", "")
    fields["breaks"] = "\n".join(
        span(b.get("time")) + (f" {', '.join(b['days'])}" if b.get("days") else "")
        for b in member.get("breaks") or [])
    fields["days_off"] = ", ".join(member.get("days_off") or [])
    fields["overrides"] = "\n".join(f"{d} {ranges(r)}" for d, r in
                                    (member.get("overrides") or {}).items())
    return fields
