"""`make shell` in a terminal (a pseudo-terminal here): Rasa's prompt talks to our REST channel
on a loopback-only server, so the shell's visitor is a customer of their own (`rest:<id>`)."""
from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest
from pymongo import MongoClient

from tests.conftest import ROOT
from tools.mongod import free_port

pytestmark = pytest.mark.e2e


def read_until(fd: int, wanted: bytes, timeout: float) -> bytes:
    """What the terminal showed until ``wanted`` appeared (or the time ran out)."""
    seen, deadline = b"", time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def listening_on(port: int) -> set[str]:
    """The IPv4 addresses (hex, as /proc shows them) with a socket listening on ``port``."""
    with open("/proc/net/tcp") as table:
        rows = [row.split() for row in list(table)[1:]]
    return {local.rsplit(":", 1)[0] for local, state in ((r[1], r[3]) for r in rows)
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port}


def test_the_shell_is_a_local_customer_on_a_loopback_server(mongo_url, tmp_path):
    if not (ROOT / "models" / "assistant.tar.gz").exists():
        pytest.fail("no trained model: run through `make test`, which trains first")
    rasa_port, action_port = free_port(), free_port()
    env = dict(os.environ, MONGODB_URL=mongo_url, MONGODB_DB="shell_test",
               RASA_PORT=str(rasa_port), ACTION_SERVER_PORT=str(action_port), TERM="dumb",
               SANDBOX_PORT=str(free_port()), SANDBOX_DATA_DIR=str(tmp_path / "sandbox"))
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "tools.run", "shell"], cwd=ROOT, env=env,
                            stdin=child, stdout=child, stderr=child, start_new_session=True)
    os.close(child)
    client = MongoClient(mongo_url)
    try:
        shown = read_until(main, b"Bot loaded", 300)
        assert b"Bot loaded" in shown, shown[-3000:]
        assert listening_on(rasa_port) == {"0100007F"}  # 127.0.0.1 only
        os.write(main, b"/my_bookings\r")
        shown = read_until(main, b"no upcoming bookings", 120)
        assert b"You have no upcoming bookings." in shown, shown[-3000:]
        heads = client.shell_test.trackers.distinct("_id")
        assert len(heads) == 1 and heads[0].startswith("rest:"), heads
        event = client.shell_test.trackers_events.find_one({"event.event": "user"})
        assert event["event"]["input_channel"] == "rest"
        os.write(main, b"\x03")  # Ctrl-C, as a person leaves the shell: everything stops
        code = proc.wait(timeout=60)
        assert code == 0, read_until(main, b"\x00", 2)[-3000:]  # stopped, not killed
        assert not listening_on(rasa_port) and not listening_on(action_port)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(main)
        client.drop_database("shell_test")
        client.close()
