"""The running stack for end-to-end tests through the WhatsApp channel: real Rasa server,
action server and mongod; signed webhook payloads in; the outbound Graph calls and Xendit
recorded by local stand-ins (one stack for the whole test session)."""
from __future__ import annotations

import hashlib
import http.client
import hmac
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Iterator, Optional

import pytest
from pymongo import MongoClient

from tests.conftest import ROOT
from tests.whatsapp.flows_client import new_key_pem
from tests.whatsapp.graph_stub import GraphStub
from tests.xendit_stub import CALLBACK_TOKEN, SECRET_KEY, XenditStub
from tools.mongod import free_port

SECRET, VERIFY = "test-app-secret", "test-verify-token"
SPA, SALON = "110000000000001", "110000000000002"
_ids = itertools.count(1)


def envelope(sender: str, message: dict[str, Any], phone_number_id: str = SPA) -> dict:
    message = {"from": sender, "id": f"wamid.in{next(_ids)}", "timestamp": str(int(time.time())),
               **message}
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "62811", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Ayu"}, "wa_id": sender}],
            "messages": [message]}}]}]}


def text(sender: str, body: str, **kw: Any) -> dict:
    return envelope(sender, {"type": "text", "text": {"body": body}}, **kw)


def tap(sender: str, reply_id: str, title: str, kind: str = "button_reply") -> dict:
    return envelope(sender, {"type": "interactive", "interactive": {
        "type": kind, kind: {"id": reply_id, "title": title}}})


class Stack:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = int(env["RASA_PORT"])
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tools.run"], cwd=ROOT, env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        for line in self.proc.stdout:
            lines.append(line)
            if "Ready." in line:
                threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # drain
                return
        raise AssertionError("stack did not start:\n" + "".join(lines[-30:]))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)

    def request(self, method: str, path: str, body: bytes = b"",
                headers: Optional[dict] = None, channel: str = "whatsapp") -> tuple[int, str]:
        status, raw = self.request_bytes(method, f"/webhooks/{channel}{path}", body, headers)
        return status, raw.decode(errors="replace")

    def request_bytes(self, method: str, path: str, body: bytes = b"",
                      headers: Optional[dict] = None) -> tuple[int, bytes]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                     data=body if method == "POST" else None, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def status_of_oversized(self, path: str, size: int) -> int:
        """The status answered to a POST of a ``size``-byte body. The server may answer (413)
        and close before the whole body is written: a client then finds the socket closed
        while it writes (a broken pipe), with the answer already waiting to be read."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest("POST", f"/webhooks/whatsapp{path}")
            conn.putheader("content-type", "application/json")
            conn.putheader("content-length", str(size))
            conn.endheaders()
            try:
                conn.send(b"{" + b" " * (size - 2) + b"}")
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before the end of the body: read the refusal
            return conn.getresponse().status
        finally:
            conn.close()

    @property
    def xendit_webhook(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/xendit/webhook"

    def post(self, payload: dict, secret: str = SECRET) -> int:
        raw = json.dumps(payload).encode()
        sig = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        return self.request("POST", "/webhook", raw, {"content-type": "application/json",
                                                       "x-hub-signature-256": sig})[0]


@pytest.fixture(scope="session")
def graph() -> Iterator[GraphStub]:
    stub = GraphStub()
    yield stub
    stub.close()


@pytest.fixture(scope="session")
def xendit() -> Iterator[XenditStub]:
    stub = XenditStub()
    yield stub
    stub.close()


@pytest.fixture(scope="session")
def flows_key(tmp_path_factory):
    path = tmp_path_factory.mktemp("flows") / "private.pem"
    return new_key_pem(str(path)), str(path)


@pytest.fixture(scope="session")
def wa(mongo_url: str, graph: GraphStub, xendit: XenditStub,
       flows_key) -> Iterator[tuple[Stack, Any]]:
    if not (ROOT / "models" / "assistant.tar.gz").exists():
        pytest.fail("no trained model: run through `make test`, which trains first")
    env = dict(os.environ, MONGODB_URL=mongo_url, MONGODB_DB="wa_e2e",
               RASA_PORT=str(free_port()), ACTION_SERVER_PORT=str(free_port()),
               CONSOLE_PORT=str(free_port()), WHATSAPP_APP_SECRET=SECRET, WHATSAPP_VERIFY_TOKEN=VERIFY,
               WHATSAPP_ACCESS_TOKEN="test-token", WHATSAPP_API_URL=graph.url,
               WHATSAPP_PHONE_NUMBER_ID=SPA, WHATSAPP_RETRY_BASE_SECONDS="0.01",
               WHATSAPP_FLOWS_PRIVATE_KEY=flows_key[1],
               XENDIT_SECRET_KEY=SECRET_KEY, XENDIT_CALLBACK_TOKEN=CALLBACK_TOKEN,
               XENDIT_API_URL=xendit.url, XENDIT_RETRY_BASE_SECONDS="0.01",
               XENDIT_RECONCILE_SECONDS="3600", SCHEDULED_POLL_SECONDS="0.2",
               SCHEDULED_PLAN_SECONDS="0.5", WAITLIST_POLL_SECONDS="0.2")
    env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{env['RASA_PORT']}"
    client = MongoClient(mongo_url)
    client.drop_database("wa_e2e")
    stack = Stack(env)
    stack.start()
    try:
        yield stack, client.wa_e2e
    finally:
        stack.stop()
        client.drop_database("wa_e2e")
        client.close()


def wait_done(db, wamid: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = db.wa_inbox.find_one({"_id": wamid})
        if doc and doc["status"] in ("done", "failed"):
            return doc
        time.sleep(0.05)
    raise AssertionError(f"{wamid} not processed")


def assert_fits_meta_limits(body: dict[str, Any]) -> None:
    """One outbound Cloud API message respects Meta's documented limits."""
    assert body["messaging_product"] == "whatsapp" and body["to"]
    kind = body["type"]
    if kind == "text":
        assert 0 < len(body["text"]["body"]) <= 4096
    elif kind == "interactive":
        inter = body["interactive"]
        if inter["type"] == "button":
            buttons = inter["action"]["buttons"]
            titles = [b["reply"]["title"] for b in buttons]
            assert 1 <= len(buttons) <= 3 and len(inter["body"]["text"]) <= 1024
            assert all(len(t) <= 20 for t in titles) and len(set(titles)) == len(titles)
            assert all(len(b["reply"]["id"]) <= 256 for b in buttons)
        elif inter["type"] == "list":
            rows = [r for sec in inter["action"]["sections"] for r in sec["rows"]]
            assert 1 <= len(rows) <= 10 and len(inter["action"]["button"]) <= 20
            assert all(len(r["title"]) <= 24 and len(r["id"]) <= 200 for r in rows)
            assert all(len(r.get("description", "")) <= 72 for r in rows)
            assert len({r["title"] for r in rows}) == len(rows)
        elif inter["type"] == "cta_url":
            parameters = inter["action"]["parameters"]
            assert len(inter["body"]["text"]) <= 1024 and len(parameters["display_text"]) <= 20
            assert parameters["url"].startswith(("https://", "http://"))
        else:
            assert inter["type"] == "flow"
    elif kind == "document":
        assert body["document"]["link"] and body["document"]["filename"]
        assert len(body["document"].get("caption", "")) <= 1024
    else:
        assert kind in {"template", "image"}
