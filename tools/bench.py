"""`make bench`: measured figures (not tests). Engine part against a real, throwaway mongod:

- free slots of a staff-day holding 30 bookings (p50/p95; target p95 <= 5 ms)
- single-process booking creation rate (target >= 300/s)
- 50-way contention for one slot from 5 processes x 10 threads (p95 resolution; target <= 100 ms)
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional
from zoneinfo import ZoneInfo

from booking.bookings import BookingRequest, BookingService
from booking.catalog import Catalog, parse_catalog
from booking.db import connect, ensure_indexes
from booking.errors import SlotConflictError
from tools.mongod import LocalMongod, free_port

BALI = ZoneInfo("Asia/Makassar")
NOW = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)
DAY = date(2026, 11, 24)
ALL_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def bench_catalog(staff_count: int = 10) -> Catalog:
    """One spa, a 25-minute service with a 5-minute buffer, staff working 06:00-22:00 daily."""
    staff = [{"id": f"t{i}", "name": f"Therapist {i}", "services": ["s25"],
              "weekly_hours": {d: "06:00-22:00" for d in ALL_DAYS}} for i in range(staff_count)]
    return parse_catalog({"businesses": [{
        "id": "bench", "name": "Bench Spa", "timezone": "Asia/Makassar",
        "whatsapp_phone_number_id": "1", "categories": [{"id": "c", "name": "C"}],
        "services": [{"id": "s25", "name": "Quick Massage", "category": "c",
                      "duration_minutes": 25, "price": 200000, "buffer_after_minutes": 5}],
        "staff": staff}]}, "bench")


def local(day: date, minutes: int) -> datetime:
    return (datetime(day.year, day.month, day.day, tzinfo=BALI)
            + timedelta(minutes=minutes)).astimezone(timezone.utc)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_free_slots(url: str, calls: int) -> dict[str, float]:
    db = connect(url, "bench_slots")
    ensure_indexes(db)
    svc = BookingService(db, bench_catalog(), clock=lambda: NOW)
    for i in range(30):  # 06:00, 06:30, ... 20:30: 30 bookings on t0's day
        svc.create(BookingRequest("s25", local(DAY, 360 + 30 * i), f"c{i}", staff_id="t0"))
    samples = []
    for _ in range(calls):
        t = time.perf_counter()
        svc.free_slots("s25", DAY, staff_id="t0")
        samples.append((time.perf_counter() - t) * 1000)
    db.client.drop_database("bench_slots")
    return {"p50": pct(samples, 0.5), "p95": pct(samples, 0.95), "n": calls}


def bench_create_rate(url: str, count: int) -> dict[str, float]:
    db = connect(url, "bench_create")
    ensure_indexes(db)
    cat = bench_catalog()
    svc = BookingService(db, cat, clock=lambda: NOW)
    starts = [(f"t{s}", local(DAY + timedelta(days=d), 360 + 30 * k))
              for d in range(10) for k in range(32) for s in range(10)][:count]
    t = time.perf_counter()
    for i, (staff_id, start) in enumerate(starts):
        svc.create(BookingRequest("s25", start, f"c{i}", staff_id=staff_id))
    elapsed = time.perf_counter() - t
    db.client.drop_database("bench_create")
    return {"rate": count / elapsed, "n": count, "seconds": elapsed}


def _contender(url: str, rounds: int, threads: int, barrier: Any, out: Any) -> None:
    db = connect(url, "bench_race", maxPoolSize=threads + 2)
    svc = BookingService(db, bench_catalog(1), clock=lambda: NOW)
    svc.free_slots("s25", DAY)  # warm up connections
    for r in range(rounds):
        start = local(DAY + timedelta(days=r // 20), 360 + 45 * (r % 20))
        local_go = threading.Barrier(threads)
        results: list[tuple[bool, float]] = []

        def attempt(i: int) -> None:
            local_go.wait()
            t = time.perf_counter()
            try:
                svc.create(BookingRequest("s25", start, f"r{r}-{i}", staff_id="t0"))
                ok = True
            except SlotConflictError:
                ok = False
            results.append((ok, (time.perf_counter() - t) * 1000))

        barrier.wait()
        workers = [threading.Thread(target=attempt, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        out.put(results)
    db.client.close()


def bench_contention(url: str, rounds: int, processes: int = 5, threads: int = 10) -> dict[str, float]:
    db = connect(url, "bench_race")
    ensure_indexes(db)
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_contender, args=(url, rounds, threads, barrier, out))
             for _ in range(processes)]
    for p in procs:
        p.start()
    results = [r for _ in range(processes * rounds) for r in out.get(timeout=300)]
    for p in procs:
        p.join()
    winners = sum(1 for ok, _ in results if ok)
    stored = db.bookings.count_documents({})
    db.client.drop_database("bench_race")
    latencies = [ms for _, ms in results]
    return {"p50": pct(latencies, 0.5), "p95": pct(latencies, 0.95), "max": max(latencies),
            "attempts": len(results), "winners": winners, "stored": stored, "rounds": rounds}


def main(argv: Optional[list[str]] = None) -> int:
    """Run the engine benchmarks on a temporary mongod and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args(argv)
    calls, count, rounds = (200, 300, 4) if args.quick else (1000, 1500, 20)
    with tempfile.TemporaryDirectory() as tmp:
        server = LocalMongod(data_dir=Path(tmp), port=free_port())
        url = server.start()
        try:
            slots = bench_free_slots(url, calls)
            create = bench_create_rate(url, count)
            race = bench_contention(url, rounds)
        finally:
            server.stop()
    rows = [
        ("free slots, staff-day with 30 bookings", f"p50 {slots['p50']:.2f} ms, p95 {slots['p95']:.2f} ms "
         f"({slots['n']} calls)", "p95 <= 5 ms", slots["p95"] <= 5),
        ("booking creation, one process", f"{create['rate']:.0f}/s ({create['n']} bookings in "
         f"{create['seconds']:.1f} s)", ">= 300/s", create["rate"] >= 300),
        ("50-way contention for one slot", f"p50 {race['p50']:.1f} ms, p95 {race['p95']:.1f} ms, "
         f"max {race['max']:.0f} ms ({race['attempts']} attempts, {race['rounds']} rounds)",
         "p95 <= 100 ms", race["p95"] <= 100),
        ("  winners per round / stored bookings", f"{race['winners'] / race['rounds']:.0f} / "
         f"{race['stored']}", "1 per round", race["winners"] == race["rounds"] == race["stored"]),
    ]
    print("\nEngine benchmark (real mongod 6.0.5, one-member replica set, w:majority)")
    print(f"{'measure':42} {'figure':62} {'target':14} met")
    for name, figure, target, met in rows:
        print(f"{name:42} {figure:62} {target:14} {'yes' if met else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
