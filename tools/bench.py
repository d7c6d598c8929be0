"""`make bench`: measured figures (not tests), each against real, throwaway servers.

Engine: free slots of a staff-day holding 30 bookings (target p95 <= 5 ms); single-process
booking creation rate (>= 300/s); 50-way contention for one slot from 5 processes x 10 threads
(p95 resolution <= 100 ms).
Assistant: REST turns that run a custom action, MongoDB tracker store (p95 <= 120 ms), as a
ratio to a plain Rasa bot of the same NLU size trained and served in the same run (<= 2.5x);
turn 10 against turn 500 of one conversation (<= 1.2x); WhatsApp acknowledgements (p50 <= 20,
p99 <= 100 ms) and full turns from webhook to reply for taps and text (p95 <= 120 ms); Flows
data_exchange (p95 <= 100 ms); Xendit callback acknowledgement (p99 <= 50 ms); sustained
inbound WhatsApp messages, text and taps in turn from 200 customers, at 40 to 160 per second
(80/s for 60 s): every one acknowledged and processed, replies p95 <= 300 ms, acks p99 <= 100
ms, on `make run`'s layout (one Rasa server, a worker process per core) and on the cluster of
`make run-cluster`; the processing rate at saturation as a ratio to the plain bot's (>= 0.8x,
when both are measured in the run); `rasa train` wall time from scratch (<= 3 minutes).
``--only engine|rest|whatsapp|cluster|train`` runs one part (repeatable).
"""
from __future__ import annotations

import argparse
import multiprocessing
import signal
import statistics
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
    env = {"SANDBOX": "0", **env}  # the bench's own stand-ins, never the sandbox
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


def _rest_say(port: int, sender: str, text: str) -> tuple[list, float]:
    """One REST turn: the bot's answer and the milliseconds it took."""
    import json
    import urllib.request

    body = json.dumps({"sender": sender, "message": text}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/rest/webhook", body,
                                 {"Content-Type": "application/json"})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as response:
        answer = json.loads(response.read())
    return answer, (time.perf_counter() - t) * 1000


def bench_rest_turns(turns: int, long_turns: int = 500) -> dict[str, float]:
    """Start the stack as `make run` does (fresh MongoDB) and time REST turns: ones that run
    ``action_my_bookings`` (NLU + policy + action call + tracker store round trip), greetings
    (no custom action, to compare with a plain bot), and one conversation of ``long_turns``
    turns (is turn 500 as fast as turn 10?)."""
    import os

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "MONGODB_URL"}
        env.update(LOCAL_MONGODB_DIR=str(Path(tmp) / "mongo"), MONGODB_PORT=str(free_port()),
                   RASA_PORT=str(port), ACTION_SERVER_PORT=str(free_port()),
                   MONGODB_DB="bench")
        with running_stack(env):
            for i in range(10):  # warm-up (first parse, connections)
                _rest_say(port, f"warm{i}", "show my bookings")
            samples, greetings = [], []
            for i in range(turns):
                reply, ms = _rest_say(port, f"bench{i % 10}", "show my bookings")
                samples.append(ms)
                assert reply and "bookings" in reply[0]["text"], reply
                reply, ms = _rest_say(port, f"greet{i % 10}", "hello")
                greetings.append(ms)
                assert reply and "booking assistant" in reply[0]["text"], reply
            # Turn 10 against turn ~500, side by side so both see the same machine: one long
            # conversation is built up, 20 short ones reach their 9th turn, then their 10th
            # turns alternate with the long one's last 20.
            for i in range(long_turns - 20):
                assert _rest_say(port, "long-conversation", "show my bookings")[0]
            for j in range(20):
                for _ in range(9):
                    _rest_say(port, f"short{j}", "show my bookings")
            early, late = [], []
            for j in range(20):
                early.append(_rest_say(port, f"short{j}", "show my bookings")[1])
                late.append(_rest_say(port, "long-conversation", "show my bookings")[1])
    return {"p50": pct(samples, 0.5), "p95": pct(samples, 0.95), "n": turns,
            "greet_p95": pct(greetings, 0.95), "greet_p50": pct(greetings, 0.5),
            "turn10": statistics.median(early), "turn500": statistics.median(late),
            "turn10_p95": pct(early, 0.95), "turn500_p95": pct(late, 0.95),
            "long_turns": long_turns}


def _write_plain_bot(folder: Path) -> None:
    """A plain Rasa bot of the same size: our config, NLU data and intents, and one rule per
    intent answering with a fixed response (no custom actions, no slots, no tracker store)."""
    import shutil

    import yaml

    root = Path(__file__).resolve().parent.parent
    domain = yaml.safe_load((root / "domain.yml").read_text())
    intents = [i if isinstance(i, str) else next(iter(i)) for i in domain["intents"]]
    (folder / "data").mkdir(parents=True)
    shutil.copy(root / "config.yml", folder / "config.yml")
    for name in ("nlu.yml", "synonyms.yml"):
        shutil.copy(root / "data" / name, folder / "data" / name)
    plain_domain = {"version": "3.1", "intents": intents, "entities": domain.get("entities", []),
                    "responses": {f"utter_{i}": [{"text": f"plain answer to {i}"}]
                                  for i in intents}}
    (folder / "domain.yml").write_text(yaml.safe_dump(plain_domain))
    rules = [{"rule": i, "steps": [{"intent": i}, {"action": f"utter_{i}"}]} for i in intents]
    (folder / "data" / "rules.yml").write_text(yaml.safe_dump({"version": "3.1", "rules": rules}))


def bench_plain_bot(turns: int, saturating: int = 2000) -> dict[str, float]:
    """Train and serve the plain bot (REST channel, in-memory tracker store), and time turns
    on the same sentence our bench sends ("show my bookings")."""
    import os

    rasa = str(Path(sys.executable).parent / "rasa")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write_plain_bot(folder)
        root = Path(__file__).resolve().parent.parent  # our NLU components (config.yml: nlu.*)
        env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(root),
                                                            os.environ.get("PYTHONPATH")])))
        subprocess.run([rasa, "train", "--out", "models", "--fixed-model-name", "plain"],
                       cwd=folder, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        (folder / "credentials.yml").write_text("rest:\n")
        (folder / "endpoints.yml").write_text("# in-memory tracker store, no action server\n")
        port = free_port()
        proc = subprocess.Popen(
            [rasa, "run", "--model", "models/plain.tar.gz", "--port", str(port),
             "--credentials", "credentials.yml", "--endpoints", "endpoints.yml"],
            cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    _rest_say(port, "warm", "hello")
                    break
                except OSError:
                    assert time.monotonic() < deadline and proc.poll() is None, "plain bot down"
                    time.sleep(0.5)
            for i in range(10):
                _rest_say(port, f"warm{i}", "show my bookings")
            samples = []
            for i in range(turns):
                reply, ms = _rest_say(port, f"plain{i % 10}", "show my bookings")
                assert reply and reply[0]["text"].startswith("plain answer"), reply
                samples.append(ms)
            throughput = _saturated_rate(port, saturating)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    return {"p50": pct(samples, 0.5), "p95": pct(samples, 0.95), "n": turns,
            "throughput": throughput}


def _saturated_rate(port: int, turns: int, senders: int = 8) -> float:
    """Turns per second with ``senders`` customers talking at once, as fast as answered: what
    Rasa itself can process on this machine (the ceiling for any bot of this size)."""
    from concurrent.futures import ThreadPoolExecutor

    start = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(lambda i: _rest_say(port, f"load{i % 50}", "show my bookings"),
                      range(turns)))
    return turns / (time.perf_counter() - start)


SUSTAINED_RATES = (40, 80, 120, 160)


def bench_whatsapp(acks: int, flows: int, steady: float = 10.0,
                   at_target: float = 60.0) -> dict[str, Any]:
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
                   XENDIT_CALLBACK_TOKEN=CALLBACK_TOKEN,
                   # 200 customers at 80 msg/s each write 24 a minute, past the flood limit
                   # (20: a real customer's ceiling), which would keep some from running.
                   WHATSAPP_FLOOD_MESSAGES="1000")
        try:
            with running_stack(env):
                ack_ms, status_ms, flow_ms = _measure_whatsapp(port, secret, key, url, acks,
                                                               flows)
                tap_ms, text_ms = _measure_turns(port, secret, graph, acks // 3)
                callback_ms = _measure_callbacks(port, url, xendit, acks // 2, 5.0)
                burst_ms = _measure_callbacks(port, url, xendit, acks // 3, 10.0)
                sustained = [measure_sustained(f"http://127.0.0.1:{port}", secret, url,
                                               "bench_wa", rate, at_target if
                                               rate == TARGET_RATE else steady, f"one{rate}")
                             for rate in SUSTAINED_RATES]
                texts = measure_sustained(f"http://127.0.0.1:{port}", secret, url, "bench_wa",
                                          SUSTAINED_RATES[-1], steady, "text", mixed=False)
        finally:
            mongo.stop()
            graph.close()
            xendit.close()
    return {"ack_p50": pct(ack_ms, 0.5), "ack_p99": pct(ack_ms, 0.99), "acks": acks,
            "status_p50": pct(status_ms, 0.5), "status_p99": pct(status_ms, 0.99),
            "flow_p95": pct(flow_ms, 0.95), "flow_p50": pct(flow_ms, 0.5), "flows": flows,
            "callback_p50": pct(callback_ms, 0.5), "callback_p99": pct(callback_ms, 0.99),
            "tap": tap_ms, "text": text_ms,
            "callbacks": len(callback_ms), "burst_p50": pct(burst_ms, 0.5),
            "burst_p99": pct(burst_ms, 0.99), "bursts": len(burst_ms), "sustained": sustained,
            "text_only": texts}


def bench_cluster(steady: float) -> list[dict[str, float]]:
    """The same sustained load through nginx on `make run-cluster`'s layout: two Rasa servers
    and two action servers, Redis lock store, shared mongod."""
    import os

    from tests.whatsapp.graph_stub import GraphStub
    from tools.cluster import Cluster

    secret = "bench-secret"
    graph = GraphStub()
    with tempfile.TemporaryDirectory() as tmp:
        mongo = LocalMongod(data_dir=Path(tmp) / "mongo", port=free_port())
        url = mongo.start()
        env = dict(os.environ, MONGODB_URL=url, MONGODB_DB="bench_cluster",
                   WHATSAPP_APP_SECRET=secret, WHATSAPP_API_URL=graph.url,
                   WHATSAPP_ACCESS_TOKEN="t", WHATSAPP_FLOOD_MESSAGES="1000")  # (see above)
        nodes = Cluster(env, rasa=2, actions=2, workdir=Path(tmp) / "cluster")
        try:
            nodes.start()
            return [measure_sustained(nodes.url, secret, url, "bench_cluster", rate, steady,
                                      f"cluster{rate}") for rate in SUSTAINED_RATES]
        finally:
            nodes.stop()
            mongo.stop()
            graph.close()


def _measure_turns(port: int, secret: str, graph: Any, count: int) -> tuple[list, list]:
    """Full turn latency through WhatsApp: signed webhook sent → the reply's Graph call made
    (the Graph stand-in timestamps arrivals), for a button tap and for free text, one turn at
    a time over 20 customers."""
    import hashlib
    import hmac
    import json
    import urllib.request

    def send(sender: str, message: dict) -> float:
        payload = {"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [{
            "field": "messages", "value": {
                "metadata": {"phone_number_id": "110000000000001"},
                "contacts": [{"profile": {"name": "Bench"}, "wa_id": sender}],
                "messages": [{"from": sender, "id": f"wamid.turn{time.perf_counter_ns()}",
                              "timestamp": "0", **message}]}}]}]}
        raw = json.dumps(payload).encode()
        sig = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/whatsapp/webhook", raw,
                                     {"content-type": "application/json",
                                      "x-hub-signature-256": sig})
        with graph._changed:
            seen = len(graph.calls)
        t = time.perf_counter()
        with urllib.request.urlopen(req, timeout=30) as response:
            assert response.status == 200

        def replied() -> bool:
            return any(b.get("to") == sender and b.get("status") != "read"
                       for _, b, _ in graph.calls[seen:])
        graph.wait_for(replied, 30)
        with graph._changed:
            at = next(graph.call_times[seen + i] for i, (_, b, _) in enumerate(graph.calls[seen:])
                      if b.get("to") == sender and b.get("status") != "read")
        return (at - t) * 1000

    taps, texts = [], []
    for i in range(count):
        sender = f"62877{i % 20:06d}"
        taps.append(send(sender, {"type": "interactive", "interactive": {
            "type": "button_reply", "button_reply": {"id": "/my_bookings", "title": "My bookings"}}}))
        texts.append(send(sender, {"type": "text", "text": {"body": "show my bookings"}}))
    return taps, texts


# What the sustained load sends, in turn: a typed message (the NLU runs) and a button tap (a
# payload: no NLU); both run the same custom action and reply. A booking is mostly taps.
MIX = ({"type": "text", "text": {"body": "show my bookings"}},
       {"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {
           "id": "/my_bookings", "title": "My bookings"}}})


def measure_sustained(base_url: str, secret: str, db_url: str, db_name: str, rate: float,
                      seconds: float, tag: str, mixed: bool = True) -> dict[str, float]:
    """Open-loop load: signed messages from 200 customers at ``rate`` per second for
    ``seconds`` (sent on schedule whatever the answers take), text and taps in turn (``MIX``;
    text only unless ``mixed``), then wait until every one has been processed (a full turn
    with a custom action and its reply). Errors: anything but 200.
    Processing: messages / (last finished - first received), and each message's delay from
    being recorded to its turn finishing."""
    import hashlib
    import hmac
    import json
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    from pymongo import MongoClient

    def post(i: int) -> tuple[bool, float]:
        message = {"from": f"62866{i % 200:06d}", "id": f"wamid.{tag}.{i}", "timestamp": "0",
                   **(MIX[i % len(MIX)] if mixed else MIX[0])}
        raw = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [{
            "field": "messages", "value": {"metadata": {"phone_number_id": "110000000000001"},
                                           "messages": [message]}}]}]}).encode()
        sig = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        req = urllib.request.Request(f"{base_url}/webhooks/whatsapp/webhook", raw,
                                     {"content-type": "application/json",
                                      "x-hub-signature-256": sig})
        t = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status == 200, (time.perf_counter() - t) * 1000
        except OSError:
            return False, (time.perf_counter() - t) * 1000

    count = int(rate * seconds)
    start = time.perf_counter()
    with ThreadPoolExecutor(64) as pool:
        futures = []
        for i in range(count):
            time.sleep(max(0.0, start + i / rate - time.perf_counter()))
            futures.append(pool.submit(post, i))
        results = [f.result() for f in futures]
    sent_for = time.perf_counter() - start
    inbox = MongoClient(db_url)[db_name].wa_inbox
    ids = [f"wamid.{tag}.{i}" for i in range(count)]
    deadline = time.monotonic() + 300
    while inbox.count_documents({"_id": {"$in": ids}, "status": {"$in": ["done", "failed"]}}) < \
            sum(ok for ok, _ in results):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    docs = list(inbox.find({"_id": {"$in": ids}}, {"received_at": 1, "finished_at": 1,
                                                   "status": 1}))
    inbox.database.client.close()
    finished = [d for d in docs if d.get("finished_at")]
    delays = [(d["finished_at"] - d["received_at"]).total_seconds() * 1000 for d in finished]
    span = (max(d["finished_at"] for d in finished)
            - min(d["received_at"] for d in docs)).total_seconds() if finished else 0
    return {"rate": rate, "offered": count / sent_for, "sent": count,
            "errors": sum(not ok for ok, _ in results),
            "ack_p99": pct([ms for _, ms in results], 0.99),
            "processed": len(finished), "failed": sum(d["status"] == "failed" for d in docs),
            "throughput": len(finished) / span if span else 0.0,
            "delay_p50": pct(delays, 0.5) if delays else 0, "delay_p95": pct(delays, 0.95)
            if delays else 0}


TARGET_RATE = 80  # msg/s the stack must keep up with (issue 18)
TARGET_DELAY_P95_MS = 300  # from the webhook to the reply sent
TARGET_ACK_P99_MS = 100


def keeps_up(run: dict[str, float]) -> bool:
    """A step met the targets: every message acknowledged and processed, replies p95 within
    ``TARGET_DELAY_P95_MS`` and acknowledgements p99 within ``TARGET_ACK_P99_MS``."""
    return (run["errors"] == 0 and run["processed"] == run["sent"] and not run.get("failed")
            and run["delay_p95"] <= TARGET_DELAY_P95_MS and run["ack_p99"] <= TARGET_ACK_P99_MS)


def sustained_rows(label: str, runs: list[dict[str, float]]) -> list[tuple[str, str, str, bool]]:
    """Rows for the sustained-load steps: the highest rate kept up with (every message
    acknowledged and processed, within the delay targets: processing, not only acceptance),
    the rate turns were processed at, and each step judged by the same targets (steps above
    ``TARGET_RATE`` are for information)."""
    best = 0.0  # the highest rate up to which every step kept up
    for step in sorted(runs, key=lambda r: r["rate"]):
        if not keeps_up(step):
            break
        best = step["rate"]
    at80 = next((r for r in runs if r["rate"] == 80), None)
    processing = max((r["throughput"] for r in runs), default=0)
    rows = [(f"sustained inbound, {label}",
             f"{best:.0f} msg/s kept up with (all processed, in time)"
             + (f"; ack p99 at 80/s {at80['ack_p99']:.0f} ms" if at80 else ""),
             f">= {TARGET_RATE} msg/s", keeps_up(at80) if at80 else best >= TARGET_RATE),
            ("  turns processed per second", f"{processing:.0f}/s (the rest wait in the inbox)",
             f">= {TARGET_RATE}/s", processing >= TARGET_RATE)]
    for run in runs:
        judged = run["rate"] <= TARGET_RATE
        rows.append((f"  {run['rate']:.0f} msg/s for {run['sent']} msgs",
                     f"{run['errors']} errors, ack p99 {run['ack_p99']:.0f} ms; processed "
                     f"{run['processed']} at {run['throughput']:.0f}/s, delay p50 "
                     f"{run['delay_p50'] / 1000:.1f} / p95 {run['delay_p95'] / 1000:.1f} s",
                     f"p95 <= {TARGET_DELAY_P95_MS} ms" if judged else "(beyond)",
                     keeps_up(run) if judged else True))
    return rows


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
    parser.add_argument("--only", choices=["engine", "rest", "whatsapp", "cluster", "train"],
                        action="append", help="run this part (repeatable: --only rest --only "
                        "whatsapp compares WhatsApp processing to the plain bot in one run)")
    args = parser.parse_args(argv)
    parts = set(args.only) if args.only else (
        {"engine"} if args.engine_only else {"engine", "rest", "whatsapp", "cluster", "train"})
    calls, count, rounds = (200, 300, 4) if args.quick else (1000, 1500, 20)
    rows: list[tuple[str, str, str, bool]] = []
    plain: Optional[dict[str, float]] = None
    if "engine" in parts:
        rows += bench_engine(calls, count, rounds)
    if "rest" in parts:
        turns = bench_rest_turns(50 if args.quick else 250, 100 if args.quick else 500)
        plain = bench_plain_bot(50 if args.quick else 250, 500 if args.quick else 2000)
        ratio = turns["p95"] / plain["p95"]
        rows += [
            ("REST turn running a custom action", f"p50 {turns['p50']:.1f} ms, p95 "
             f"{turns['p95']:.1f} ms ({turns['n']} turns, MongoDB tracker store)",
             "p95 <= 120 ms", turns["p95"] <= 120),
            ("REST greeting (no custom action)", f"p50 {turns['greet_p50']:.1f} ms, p95 "
             f"{turns['greet_p95']:.1f} ms", "(information)", True),
            ("plain Rasa bot, same NLU and config", f"p50 {plain['p50']:.1f} ms, p95 "
             f"{plain['p95']:.1f} ms (REST, in-memory tracker, rules only)", "(baseline)", True),
            ("  our action turn p95 / plain bot p95", f"{ratio:.2f}x", "<= 2.5x", ratio <= 2.5),
            ("plain Rasa bot, saturated (8 at once)", f"{plain['throughput']:.0f} turns/s "
             f"(Rasa's own ceiling on this machine)", "(baseline)", True),
            (f"one conversation: turn 10 vs turn {turns['long_turns']}",
             f"median {turns['turn10']:.1f} ms vs {turns['turn500']:.1f} ms "
             f"({turns['turn500'] / turns['turn10']:.2f}x)", "<= 1.2x",
             turns["turn500"] <= 1.2 * turns["turn10"]),
        ]
    if "whatsapp" in parts:
        wa = bench_whatsapp(60 if args.quick else 300, 20 if args.quick else 100,
                            3.0 if args.quick else 10.0, 10.0 if args.quick else 60.0)
        rows += whatsapp_rows(wa) + sustained_rows("one Rasa server", wa["sustained"])
        text = wa["text_only"]
        rows.append((f"  text only, {text['rate']:.0f} msg/s", f"processed at "
                     f"{text['throughput']:.0f}/s (every message runs the NLU)",
                     "(information)", True))
        processing = max(r["throughput"] for r in wa["sustained"])
        if plain is None:
            rows.append(("  processing / plain bot saturated", "(plain bot not measured: run "
                         "with the rest part)", ">= 0.8x", True))
        else:
            ratio = processing / plain["throughput"]
            rows.append(("  processing / plain bot saturated", f"{ratio:.2f}x ({processing:.0f}/s "
                         f"vs {plain['throughput']:.0f}/s, same run)", ">= 0.8x", ratio >= 0.8))
            # Like for like: the plain bot's turns are all text (NLU each time), no action, an
            # in-memory tracker; the mix above has taps, which skip the NLU.
            rows.append(("  text only / plain bot saturated",
                         f"{text['throughput'] / plain['throughput']:.2f}x (both all text)",
                         "(information)", True))
    if "cluster" in parts:
        rows += sustained_rows("cluster, 2+2 behind nginx",
                               bench_cluster(3.0 if args.quick else 10.0))
    if "train" in parts:
        train = bench_train()
        rows.append(("rasa train from scratch", f"{train:.0f} s", "<= 180 s", train <= 180))
    print("\nBenchmark (real mongod 6.0.5, one-member replica set, w:majority)")
    print(f"{'measure':42} {'figure':62} {'target':14} met")
    for name, figure, target, met in rows:
        print(f"{name:42} {figure:62} {target:14} {'yes' if met else 'NO'}")
    missed = [name for name, _, _, met in rows if not met]
    if missed:
        print(f"\n{len(missed)} target(s) missed: {', '.join(n.strip() for n in missed)}")
    return 1 if missed else 0


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


def _spread(samples: list[float]) -> str:
    return (f"p50 {pct(samples, 0.5):.1f}, p95 {pct(samples, 0.95):.1f}, "
            f"p99 {pct(samples, 0.99):.1f} ms ({len(samples)})")


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
        ("WhatsApp full turn, button tap", _spread(wa["tap"]) + " (webhook → reply sent)",
         "p50 <= 20, p95 <= 120", pct(wa["tap"], 0.5) <= 20 and pct(wa["tap"], 0.95) <= 120),
        ("WhatsApp full turn, free text", _spread(wa["text"]) + " (webhook → reply sent)",
         "p95 <= 120 ms", pct(wa["text"], 0.95) <= 120),
        ("Xendit callback ack (PAID, 5/s)", f"p50 {wa['callback_p50']:.1f} ms, p99 "
         f"{wa['callback_p99']:.1f} ms ({wa['callbacks']} callbacks, each confirms)",
         "p99 <= 50 ms", wa["callback_p99"] <= 50),
        ("Xendit callback ack (PAID, 10/s)", f"p50 {wa['burst_p50']:.1f} ms, p99 "
         f"{wa['burst_p99']:.1f} ms ({wa['bursts']} callbacks)", "p99 <= 50 ms",
         wa["burst_p99"] <= 50),
    ]


if __name__ == "__main__":
    sys.exit(main())
