"""Seed catalog: the shipped data is valid; bad data names the file and the entry."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from booking.catalog import CatalogRepository, load_seed_files
from booking.errors import SeedDataError
from tests.conftest import ROOT, SEED_FILES


def test_shipped_seed_is_realistic_for_bali(seed_catalog):
    assert len(seed_catalog.businesses) >= 2
    assert len(seed_catalog.categories) >= 3
    assert len(seed_catalog.services) >= 10
    assert len(seed_catalog.staff) >= 4
    assert len(seed_catalog.villas) >= 2
    assert {b.timezone for b in seed_catalog.businesses.values()} == {"Asia/Makassar"}
    balinese = seed_catalog.service("balinese-massage")
    assert balinese.price == 350000 and "bali massage" in balinese.aliases
    assert seed_catalog.business_by_phone_number_id("110000000000002").name == "Canggu Glow Salon"
    assert any(b.payment_required for b in seed_catalog.businesses.values())


def broken(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(SEED_FILES[0].read_text())
    mutate(raw)
    path = tmp_path / "catalog.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def spa(raw):
    return raw["businesses"][0]


@pytest.mark.parametrize("mutate, entry, reason", [
    (lambda r: spa(r)["staff"][0]["services"].append("yoga"),
     "businesses[ubud-serenity-spa].staff[wayan]", "unknown service 'yoga' referenced"),
    (lambda r: spa(r)["services"][0].update(price=-1),
     "businesses[ubud-serenity-spa].services[balinese-massage]", "price must not be negative"),
    (lambda r: spa(r)["staff"][0]["breaks"].append({"time": "12:30-13:30"}),
     "businesses[ubud-serenity-spa].staff[wayan].breaks", "breaks 12:00-13:00 and 12:30-13:30 overlap"),
    (lambda r: spa(r).update(timezone="Asia/Bali"),
     "businesses[ubud-serenity-spa]", "unknown time zone 'Asia/Bali'"),
    (lambda r: spa(r)["staff"][0]["weekly_hours"].update(mon="18:00-09:00"),
     "businesses[ubud-serenity-spa].staff[wayan].weekly_hours.mon", "ends before it starts"),
    (lambda r: spa(r)["services"][1].update(id="balinese-massage"),
     "businesses[ubud-serenity-spa].services[balinese-massage]", "duplicate id"),
    (lambda r: spa(r)["services"][0].pop("duration_minutes"),
     "businesses[ubud-serenity-spa].services[balinese-massage]", "missing required field"),
    (lambda r: r["villas"][0]["share"].update(flat=10000),
     "villas[villa-sawah-ubud]", "exactly one of 'percent' or 'flat'"),
    (lambda r: r["villas"][0].update(businesses=["nowhere-spa"]),
     "villas[villa-sawah-ubud]", "unknown business 'nowhere-spa'"),
    (lambda r: spa(r)["staff"][1].update(overrides={"2026-13-01": []}),
     "businesses[ubud-serenity-spa].staff[made].overrides", "invalid date"),
])
def test_malformed_seed_names_file_and_entry(tmp_path, mutate, entry, reason):
    path = broken(tmp_path, mutate)
    with pytest.raises(SeedDataError) as info:
        load_seed_files([path])
    assert info.value.path == str(path)
    assert info.value.entry == entry
    assert reason in info.value.reason
    assert str(path) in str(info.value) and entry in str(info.value)


def test_not_yaml_is_reported(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("businesses: [\n")
    with pytest.raises(SeedDataError, match="not valid YAML"):
        load_seed_files([path])


def test_seed_command_stops_with_a_message_and_stores_nothing(tmp_path):
    path = broken(tmp_path, lambda r: spa(r)["services"][0].update(price=-5))
    result = subprocess.run([sys.executable, "-m", "tools.seed", str(path)], cwd=ROOT,
                            capture_output=True, text=True, env={"MONGODB_URL": "mongodb://127.0.0.1:1/"})
    assert result.returncode == 2
    assert f"{path}: businesses[ubud-serenity-spa].services[balinese-massage]" in result.stderr
    assert "price must not be negative" in result.stderr


def test_saving_twice_is_idempotent_and_round_trips(db, seed_catalog):
    repo = CatalogRepository(db)
    repo.save(seed_catalog)
    repo.save(seed_catalog)
    assert db.catalog_businesses.count_documents({}) == 2
    loaded = repo.load()
    assert loaded.services == seed_catalog.services
    assert loaded.staff == seed_catalog.staff
    assert loaded.villas == seed_catalog.villas


def test_a_change_in_the_seed_replaces_the_stored_entry(db, seed_catalog):
    repo = CatalogRepository(db)
    repo.save(seed_catalog)
    raw = copy.deepcopy(seed_catalog.raw)
    raw["businesses"][0]["services"][0]["price"] = 375000
    from booking.catalog import parse_catalog
    repo.save(parse_catalog(raw))
    assert repo.load().service("balinese-massage").price == 375000
