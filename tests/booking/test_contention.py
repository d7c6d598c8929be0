"""Many OS processes race for one staff member: the database admits no overlap, every loser
gets a conflict with alternatives, and nobody loses without a real overlap."""
from __future__ import annotations

import multiprocessing
import random
from datetime import datetime, timedelta, timezone

import pytest

from booking.availability import occupied_interval
from booking.models import ACTIVE_STATUSES
from tests.booking import contention_worker
from tests.booking.contention_worker import DURATIONS, race_catalog

PROCESSES = 4
PER_PROCESS = 6
NOW = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)
DAY_START = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)  # Tue 10:00 in Bali


def overlaps(a, b) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_concurrent_processes_never_double_book_one_staff_member(mongo_url, db, db_name, seed):
    rng = random.Random(seed)
    attempts = [(rng.choice(list(DURATIONS)), DAY_START + timedelta(minutes=5 * rng.randrange(0, 37)))
                for _ in range(PROCESSES * PER_PROCESS)]
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [ctx.Process(target=contention_worker.run,
                         args=(mongo_url, db_name, NOW, attempts[i::PROCESSES], barrier, results))
             for i in range(PROCESSES)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in attempts]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    assert [o for o in outcomes if o["ok"] is None] == []
    winners = [o for o in outcomes if o["ok"]]
    losers = [o for o in outcomes if not o["ok"]]
    assert winners and losers, "the race must produce both winners and losers"

    cat = race_catalog()
    stored = list(db.bookings.find({"staff_id": "wayan", "status": {"$in": list(ACTIVE_STATUSES)}}))
    assert sorted(b["code"] for b in stored) == sorted(w["code"] for w in winners)
    # No two stored bookings overlap, neither in service time nor with their buffers.
    for i, a in enumerate(stored):
        for b in stored[i + 1:]:
            assert not overlaps((a["start"], a["end"]), (b["start"], b["end"]))
            assert not overlaps((a["occupied_start"], a["occupied_end"]),
                                (b["occupied_start"], b["occupied_end"]))
    # Each booking holds exactly the cells of its occupied interval, and no cell twice.
    for b in stored:
        assert len(b["cells"]) == (b["occupied_end"] - b["occupied_start"]).total_seconds() // 300
    all_cells = [c for b in stored for c in b["cells"]]
    assert len(all_cells) == len(set(all_cells))
    # Every loser was refused for a real overlap and was offered three later alternatives.
    winner_spans = [(b["occupied_start"], b["occupied_end"]) for b in stored]
    for loser in losers:
        wanted = occupied_interval(cat.service(loser["service"]), loser["start"])
        assert any(overlaps(wanted, span) for span in winner_spans)
        assert len(loser["alternatives"]) == 3
        assert all(alt > loser["start"] for alt in loser["alternatives"])
