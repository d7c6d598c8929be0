"""`make run`'s orchestrator on a fresh data directory: the embedded MongoDB replica set, the
seed, both servers answering over REST (one turn runs a custom action reading the catalog from
MongoDB), and a clean stop on Ctrl-C that also stops the MongoDB it started."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from pymongo import MongoClient

from tests.conftest import ROOT
from tools.mongod import free_port

pytestmark = pytest.mark.e2e


def say(port: int, sender: str, text: str) -> list[dict]:
    body = json.dumps({"sender": sender, "message": text}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/rest/webhook", body,
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as response:
        return json.loads(response.read())


def test_run_starts_everything_and_ctrl_c_stops_it(tmp_path):
    if not (ROOT / "models" / "assistant.tar.gz").exists():
        pytest.fail("no trained model: run through `make test`, which trains first")
    rasa_port, action_port, mongo_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URL"}
    env.update(LOCAL_MONGODB_DIR=str(tmp_path / "mongo"), MONGODB_PORT=str(mongo_port),
               RASA_PORT=str(rasa_port), ACTION_SERVER_PORT=str(action_port),
               MONGODB_DB="run_test")
    proc = subprocess.Popen([sys.executable, "-m", "tools.run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "Ready." in line or proc.poll() is not None:
                break
        output = "".join(lines)
        assert "Ready." in output, output
        assert f"Rasa server:   http://127.0.0.1:{rasa_port}" in output
        assert f"Action server: http://127.0.0.1:{action_port}/webhook" in output
        assert f"mongodb://127.0.0.1:{mongo_port}/?replicaSet=rs0" in output

        assert "booking assistant" in say(rasa_port, "run-test", "hello")[0]["text"]
        help_text = say(rasa_port, "run-test", "what can you do")[0]["text"]
        assert "Ubud Serenity Spa" in help_text and "Body Treatments" in help_text

        client = MongoClient(f"mongodb://127.0.0.1:{mongo_port}/?replicaSet=rs0")
        assert client.admin.command("hello")["setName"] == "rs0"
        conversation = client.run_test.conversations.find_one({"sender_id": "run-test"})
        assert [e.get("text") for e in conversation["events"] if e["event"] == "user"] == [
            "hello", "what can you do"]
        client.close()
        pid_file = tmp_path / "mongo" / "mongod.pid"
        mongod_pid = int(pid_file.read_text())
    finally:
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, rest
    assert "Stopping" in rest
    # The mongod it started is gone (signal 0 probes without killing).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(mongod_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("mongod still running after Ctrl-C")
