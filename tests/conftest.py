"""Shared fixtures: one real mongod (replica set) per test session, a fresh database per test."""
from __future__ import annotations

import os
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from booking.catalog import Catalog, load_seed_files
from tools.mongod import LocalMongod, free_port

ROOT = Path(__file__).resolve().parent.parent
SEED_FILES = sorted((ROOT / "seed").glob("*.yml"))

SEED_DAYS_OFF = ((12, 25), (12, 31))  # seed/catalog.yml's staff days off, as (month, day)


def seed_weekday_ahead(days: int) -> date:
    """The first Monday-to-Friday at least ``days`` ahead (UTC) that is no seed day off: a day
    every seed therapist who works weekdays works, whatever day the suite runs on."""
    day = (datetime.now(timezone.utc) + timedelta(days=days)).date()
    while day.weekday() >= 5 or (day.month, day.day) in SEED_DAYS_OFF:
        day += timedelta(days=1)
    return day


@pytest.fixture(scope="session")
def mongod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMongod]:
    """A mongod on a free port in a temporary directory (never .data/), test commands on."""
    server = LocalMongod(data_dir=tmp_path_factory.mktemp("mongo"), port=free_port(),
                         test_commands=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_url(mongod: LocalMongod) -> str:
    """Connection URL of the session's mongod."""
    return mongod.url


@pytest.fixture
def db_name() -> str:
    """A database name no other test uses."""
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def db(mongo_url: str, db_name: str):
    """A fresh database with the core's indexes, dropped afterwards."""
    from booking.db import connect, ensure_indexes

    database = connect(mongo_url, db_name)
    ensure_indexes(database)
    yield database
    database.client.drop_database(db_name)
    database.client.close()


@pytest.fixture(scope="session")
def seed_catalog() -> Catalog:
    """The repository's seed catalog, validated."""
    return load_seed_files(SEED_FILES)


class FakeClock:
    """A settable clock for the core (pure time, no sleeping)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """Monday 2026-11-23 08:00 in Bali (00:00 UTC)."""
    return FakeClock(datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc))


@pytest.fixture
def xendit(clock: FakeClock) -> Iterator["XenditStub"]:
    """The local Xendit stand-in, on the tests' clock (the WhatsApp end-to-end tests have a
    session-wide one of their own)."""
    from tests.xendit_stub import XenditStub

    stub = XenditStub()
    stub.clock = clock
    yield stub
    stub.close()


os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
