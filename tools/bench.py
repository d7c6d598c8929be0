"""`make bench`: measured figures (not tests), each against real, throwaway servers.

Engine: free slots of a staff-day holding 30 bookings (target p95 <= 5 ms); single-process
booking creation rate (>= 300/s); 50-way contention for one slot from 5 processes x 10 threads
(p95 resolution <= 100 ms).
Assistant: one REST turn that runs a custom action, MongoDB tracker store, p50/p95 over 250
turns (target p95 <= 120 ms); WhatsApp acknowledgements and Flows; Xendit callback
acknowledgement p99 (<= 50 ms); `rasa train` wall time from scratch (<= 3 minutes).
"""
from __future__ import annotations

import argparse
import multiprocessing
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Optional
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


@contextmanager
def running_stack(env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """The stack as `make run` starts it, with ``env``; stopped (Ctrl-C) afterwards."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "tools.run"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if "Ready." in line:
                break
        else:
            raise RuntimeError("the stack did not start")
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def bench_rest_turns(turns: int) -> dict[str, float]:
    """Start the stack as `make run` does (fresh MongoDB) and time REST turns that run
    ``action_my_bookings`` (NLU + policy + action call + tracker store round trip)."""
    import json
    import os
    import urllib.request

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "MONGODB_URL"}
        env.update(LOCAL_MONGODB_DIR=str(Path(tmp) / "mongo"), MONGODB_PORT=str(free_port()),
                   RASA_PORT=str(port), ACTION_SERVER_PORT=str(free_port()),
                   MONGODB_DB="bench")
        with running_stack(env):

            def say(sender: str, text: str) -> list:
                body = json.dumps({"sender": sender, "message": text}).encode()
                req = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/rest/webhook",
                                             body, {"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=60) as response:
                    return json.loads(response.read())

            for i in range(10):  # warm-up (first parse, connections)
                say(f"warm{i}", "show my bookings")
            samples = []
            for i in range(turns):
                t = time.perf_counter()
                reply = say(f"bench{i % 10}", "show my bookings")
                samples.append((time.perf_counter() - t) * 1000)
                assert reply and "bookings" in reply[0]["text"], reply
    return {"p50": pct(samples, 0.5), "p95": pct(samples, 0.95), "n": turns}


def bench_whatsapp(acks: int, flows: int) -> dict[str, float]:
    """Start the stack with the WhatsApp channel (Graph stand-in, Flows key) and time webhook
    acknowledgements (signed POST → 200) and Flows data_exchange round trips."""
    import os

    from tests.whatsapp.flows_client import new_key_pem
    from tests.whatsapp.graph_stub import GraphStub

    from tests.xendit_stub import CALLBACK_TOKEN, SECRET_KEY, XenditStub

    secret = "bench-secret"
    graph = GraphStub()
    xendit = XenditStub()
    with tempfile.TemporaryDirectory() as tmp:
        key = new_key_pem(str(Path(tmp) / "flows.pem"))
        mongo = LocalMongod(data_dir=Path(tmp) / "mongo", port=free_port())
        url = mongo.start()
        port = free_port()
        env = dict(os.environ, MONGODB_URL=url, MONGODB_DB="bench_wa", RASA_PORT=str(port),
                   ACTION_SERVER_PORT=str(free_port()), WHATSAPP_APP_SECRET=secret,
                   WHATSAPP_API_URL=graph.url, WHATSAPP_ACCESS_TOKEN="t",
                   WHATSAPP_FLOWS_PRIVATE_KEY=str(Path(tmp) / "flows.pem"),
                   XENDIT_API_URL=xendit.url, XENDIT_SECRET_KEY=SECRET_KEY,
                   XENDIT_CALLBACK_TOKEN=CALLBACK_TOKEN)
        try:
            with running_stack(env):
                ack_ms, status_ms, flow_ms = _measure_whatsapp(port, secret, key, url, acks,
                                                               flows)
                callback_ms = _measure_callbacks(port, url, xendit, acks // 2, 5.0)
                burst_ms = _measure_callbacks(port, url, xendit, acks // 3, 10.0)
        finally:
            mongo.stop()
            graph.close()
            xendit.close()
    return {"ack_p50": pct(ack_ms, 0.5), "ack_p99": pct(ack_ms, 0.99), "acks": acks,
            "status_p50": pct(status_ms, 0.5), "status_p99": pct(status_ms, 0.99),
            "flow_p95": pct(flow_ms, 0.95), "flow_p50": pct(flow_ms, 0.5), "flows": flows,
            "callback_p50": pct(callback_ms, 0.5), "callback_p99": pct(callback_ms, 0.99),
            "callbacks": len(callback_ms), "burst_p50": pct(burst_ms, 0.5),
            "burst_p99": pct(burst_ms, 0.99), "bursts": len(burst_ms)}


def _measure_callbacks(port: int, url: str, xendit: Any, count: int, rate: float) -> list[float]:
    """Xendit PAID callbacks for real pending bookings, ``rate`` per second (each confirms a
    booking, tells the customer through a Rasa turn and sends a payout in the background)."""
    from booking.bookings import BookingRequest, BookingService
    from booking.db import connect
    from booking.payments import Conversation, PaymentService
    from booking.runtime import CachedCatalog
    from booking.xendit import XenditClient, XenditConfig
    from tests.xendit_stub import SECRET_KEY

    db = connect(url, "bench_wa")
    core = BookingService(db, CachedCatalog(db))
    payments = PaymentService(core, XenditClient(XenditConfig(SECRET_KEY, xendit.url)))
    invoices = []
    first = db.bookings.find_one({"customer_id": {"$regex": "^bench-pay-"}}, sort=[("start", -1)])
    after = first["start"] if first else datetime.now(timezone.utc) + timedelta(days=1)
    done_before = db.bookings.count_documents({"customer_id": {"$regex": "^bench-pay-"}})
    for n in range(count):
        i = done_before + n
        [slot] = core.next_free("balinese-massage", after, 1)
        booking = core.create(BookingRequest("balinese-massage", slot.start, f"bench-pay-{i}",
                                             "Bench"))
        payment = payments.request_payment(booking, Conversation(
            f"bench-pay-{i}", "rest", booking.business_id))
        invoices.append(payment.invoice_id)
        after = slot.start
    hook = f"http://127.0.0.1:{port}/webhooks/xendit/webhook"
    samples = []
    next_at = time.perf_counter()
    for invoice_id in invoices:
        next_at += 1 / rate
        xendit.set_status(invoice_id, "PAID")
        t = time.perf_counter()
        assert xendit.send_callback(hook, xendit.callback_body(invoice_id)) == 200
        samples.append((time.perf_counter() - t) * 1000)
        time.sleep(max(0.0, next_at - time.perf_counter()))
    deadline = time.monotonic() + 60
    while db.bookings.count_documents({"customer_id": {"$regex": "^bench-pay-"},
                                       "status": "CONFIRMED"}) < done_before + count:
        assert time.monotonic() < deadline, "paid bookings were not all confirmed"
        time.sleep(0.2)
    db.client.close()
    return samples


def _measure_whatsapp(port: int, secret: str, key: Any, url: str, acks: int,
                      flows: int) -> tuple[list[float], list[float], list[float]]:
    """Signed webhooks (paced messages, then receipts) and Flows data_exchange round trips."""
    import hashlib
    import hmac
    import json
    import urllib.request

    from booking.db import connect
    from booking.flow_tokens import FlowTokens
    from tests.whatsapp.flows_client import FlowsClient

    def post(path: str, payload: dict) -> tuple[int, bytes, float]:
        raw = json.dumps(payload).encode()
        sig = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/whatsapp{path}", raw,
                                     {"content-type": "application/json",
                                      "x-hub-signature-256": sig})
        t = time.perf_counter()
        with urllib.request.urlopen(req, timeout=30) as response:
            body = response.read()
            return response.status, body, (time.perf_counter() - t) * 1000

    def hook(value: dict) -> dict:
        value["metadata"] = {"phone_number_id": "110000000000001"}
        return {"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [{
            "field": "messages", "value": value}]}]}

    ack_ms, status_ms, flow_ms = [], [], []
    next_at = time.perf_counter()
    for i in range(acks):  # customer messages at a steady 5/s (each runs a full turn)
        next_at += 0.2
        message = {"from": f"62899{i % 40:06d}", "id": f"wamid.bench{i}", "timestamp": "0",
                   "type": "text", "text": {"body": "my bookings"}}
        status, _, ms = post("/webhook", hook({"messages": [message]}))
        assert status == 200
        ack_ms.append(ms)
        time.sleep(max(0.0, next_at - time.perf_counter()))
    for i in range(acks):  # delivery receipts, back to back (stored, nothing to run)
        receipt = {"id": f"wamid.out{i}", "status": "delivered", "timestamp": "0",
                   "recipient_id": "62899"}
        status, _, ms = post("/webhook", hook({"statuses": [receipt]}))
        assert status == 200
        status_ms.append(ms)
    db = connect(url, "bench_wa")
    token = FlowTokens(db).issue("62800", "ubud-serenity-spa", datetime.now(timezone.utc),
                                 timedelta(hours=1))
    for i in range(flows):
        client = FlowsClient(key.public_key())
        screen, data = (("SERVICE", {"service": "balinese-massage"}) if i % 2 == 0 else
                        ("DATE", {"date": (datetime.now(timezone.utc) + timedelta(days=3))
                                  .date().isoformat()}))
        status, body, ms = post("/flows", client.seal({
            "action": "data_exchange", "screen": screen, "data": data, "flow_token": token,
            "version": "3.0"}))
        assert status == 200 and "screen" in client.open(body.decode())
        flow_ms.append(ms)
    db.client.close()
    return ack_ms, status_ms, flow_ms


def bench_train() -> float:
    """Wall seconds of `rasa train` from scratch into a temporary folder."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "rasa"), "train", "--out", out,
                        "--force"], cwd=root, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        return time.perf_counter() - t


def main(argv: Optional[list[str]] = None) -> int:
    """Run the engine benchmarks on a temporary mongod and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--engine-only", action="store_true", help="skip the assistant part")
    parser.add_argument("--only", choices=["engine", "rest", "whatsapp", "train"],
                        help="run one part")
    args = parser.parse_args(argv)
    parts = {args.only} if args.only else (
        {"engine"} if args.engine_only else {"engine", "rest", "whatsapp", "train"})
    calls, count, rounds = (200, 300, 4) if args.quick else (1000, 1500, 20)
    rows: list[tuple[str, str, str, bool]] = []
    if "engine" in parts:
        rows += bench_engine(calls, count, rounds)
    if "rest" in parts:
        turns = bench_rest_turns(50 if args.quick else 250)
        rows.append(("REST turn running a custom action", f"p50 {turns['p50']:.1f} ms, p95 "
                     f"{turns['p95']:.1f} ms ({turns['n']} turns, MongoDB tracker store)",
                     "p95 <= 120 ms", turns["p95"] <= 120))
    if "whatsapp" in parts:
        rows += whatsapp_rows(bench_whatsapp(60 if args.quick else 300, 20 if args.quick else 100))
    if "train" in parts:
        train = bench_train()
        rows.append(("rasa train from scratch", f"{train:.0f} s", "<= 180 s", train <= 180))
    print("\nBenchmark (real mongod 6.0.5, one-member replica set, w:majority)")
    print(f"{'measure':42} {'figure':62} {'target':14} met")
    for name, figure, target, met in rows:
        print(f"{name:42} {figure:62} {target:14} {'yes' if met else 'NO'}")
    return 0


def bench_engine(calls: int, count: int, rounds: int) -> list[tuple[str, str, str, bool]]:
    """The booking core on a throwaway mongod."""
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
    return rows


def whatsapp_rows(wa: dict[str, float]) -> list[tuple[str, str, str, bool]]:
    """Table rows of the WhatsApp and Xendit figures."""
    return [
        ("WhatsApp ack, messages at 5/s", f"p50 {wa['ack_p50']:.1f} ms, p99 "
         f"{wa['ack_p99']:.1f} ms ({wa['acks']} signed POSTs, each runs a turn)",
         "p50 <= 20, p99 <= 100", wa["ack_p50"] <= 20 and wa["ack_p99"] <= 100),
        ("WhatsApp ack, delivery receipts", f"p50 {wa['status_p50']:.1f} ms, p99 "
         f"{wa['status_p99']:.1f} ms ({wa['acks']} back to back)",
         "p50 <= 20, p99 <= 100", wa["status_p50"] <= 20 and wa["status_p99"] <= 100),
        ("Flows data_exchange (decrypt, core, encrypt)", f"p50 {wa['flow_p50']:.1f} ms, "
         f"p95 {wa['flow_p95']:.1f} ms ({wa['flows']} requests)", "p95 <= 100 ms",
         wa["flow_p95"] <= 100),
        ("Xendit callback ack (PAID, 5/s)", f"p50 {wa['callback_p50']:.1f} ms, p99 "
         f"{wa['callback_p99']:.1f} ms ({wa['callbacks']} callbacks, each confirms)",
         "p99 <= 50 ms", wa["callback_p99"] <= 50),
        ("Xendit callback ack (PAID, 10/s)", f"p50 {wa['burst_p50']:.1f} ms, p99 "
         f"{wa['burst_p99']:.1f} ms ({wa['bursts']} callbacks)", "p99 <= 50 ms",
         wa["burst_p99"] <= 50),
    ]


if __name__ == "__main__":
    sys.exit(main())
