"""Catalog forms ⇄ seed entries (pure): what an owner types is read as the seed would have it,
and every stored entry round-trips through its form unchanged."""
from __future__ import annotations

import pytest

from booking.catalog import parse_catalog
from console.catalog_forms import FormError, service_entry, staff_entry, staff_fields, whole_number
from tests.booking.factories import catalog


def getter(fields):
    return lambda name: fields.get(name, "")


@pytest.mark.parametrize("text,money,expected", [
    ("350000", True, 350000), ("350.000", True, 350000), ("Rp 350.000", True, 350000),
    ("1,250,000", True, 1250000), ("90", False, 90)])
def test_whole_numbers(text, money, expected):
    assert whole_number(text, "Price", money) == expected


@pytest.mark.parametrize("text,money", [("7.5", False), ("1.5", False), ("35.00", True),
                                        ("-3", True), ("", False), ("1e9", True),
                                        ("9" * 13, True)])
def test_not_whole_numbers_are_refused(text, money):
    with pytest.raises(FormError):
        whole_number(text, "Price", money)


def test_staff_texts_with_spaces_and_seed_shapes_round_trip():
    member = {"id": "wayan", "name": "Wayan", "services": ["massage"],
              "weekly_hours": {"mon": "09:00-18:00", "tue": "off", "wed": ["09:00-12:00",
                                                                           "13:00-17:00"]},
              "breaks": [{"time": ["12:00", "13:00"]}, {"time": "16:00-16:15", "days": ["sat"]}],
              "days_off": ["2026-12-25"], "overrides": {"2026-12-24": ["10:00-14:00"]}}
    fields = staff_fields(member)
    assert fields["hours_tue"] == "" and fields["hours_wed"] == "09:00-12:00, 13:00-17:00"
    entry = staff_entry(getter(fields), ["massage"], "wayan", {})
    typed = staff_entry(getter({**fields, "breaks": "12:00 - 13:00\n16:00 – 16:15 sat",
                                "hours_mon": "09:00 - 18:00"}), ["massage"], "wayan", {})
    for result in (entry, typed):
        assert result["weekly_hours"]["mon"] == ["09:00-18:00"]
        assert result["breaks"] == [{"time": "12:00-13:00"},
                                    {"time": "16:00-16:15", "days": ["sat"]}]
        assert result["overrides"] == {"2026-12-24": ["10:00-14:00"]}
    raw = catalog().raw
    raw["businesses"][0]["staff"] = [entry]
    parse_catalog(raw, "form")  # the seed parser takes it as it is


def test_a_service_form_needs_a_name_and_may_not_be_called_new():
    with pytest.raises(FormError):
        service_entry(getter({"name": " "}), new=True)
    with pytest.raises(FormError):
        service_entry(getter({"name": "New", "category": "cat", "duration_minutes": "60",
                              "price": "1"}), new=True)
    entry = service_entry(getter({"name": "Lava Shell Massage", "category": "cat",
                                  "duration_minutes": "75", "price": "Rp 520.000",
                                  "aliases": "Lava Shells, shell massage"}), new=True)
    assert entry["id"] == "lava-shell-massage" and entry["price"] == 520000
    assert entry["aliases"] == ["lava shells", "shell massage"]
