"""Small catalogs built from plain dicts, so each test shows the data it depends on."""
from __future__ import annotations

from typing import Any

from booking.catalog import Catalog, parse_catalog


def service(id: str = "massage", **overrides: Any) -> dict[str, Any]:
    """A raw service entry."""
    raw = {"id": id, "name": id.replace("-", " ").title(), "category": "cat",
           "duration_minutes": 60, "price": 350000}
    raw.update(overrides)
    return raw


def staff(id: str = "wayan", services: list[str] | None = None, **overrides: Any) -> dict[str, Any]:
    """A raw staff entry working 09:00-17:00 every day unless told otherwise."""
    raw = {"id": id, "name": id.title(), "services": services or ["massage"],
           "weekly_hours": {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
    raw.update(overrides)
    return raw


def catalog(services: list[dict] | None = None, staff_members: list[dict] | None = None,
            **business: Any) -> Catalog:
    """A one-business catalog in Bali."""
    raw_business = {"id": "spa", "name": "Spa", "timezone": "Asia/Makassar",
                    "whatsapp_phone_number_id": "1001", "categories": [{"id": "cat", "name": "Cat"}],
                    "services": services or [service()], "staff": staff_members or [staff()]}
    raw_business.update(business)
    villas = [{"id": "villa", "name": "Villa", "businesses": ["spa"], "share": {"percent": 10}}]
    return parse_catalog({"businesses": [raw_business], "villas": villas}, "test")
