"""A local stand-in for Meta's Graph API: records every call, answers like the Cloud API, and
fails on demand. Written from the documented payloads, independently of the channel code."""
from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # Meta takes a burst: the default listen backlog of 5 resets some


class GraphStub:
    """``calls``: (path, body, error code answered or None) of every POST; ``fail_with``:
    queued failures to answer with, one per call: a Graph error code (answered with HTTP 400),
    or (HTTP status, Graph error code or None) such as (429, 130429) or (503, None)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], Optional[int]]] = []
        self.call_times: list[float] = []  # time.perf_counter() at each call's arrival
        self.fail_with: list[int] = []
        self.outside_window: set[str] = set()  # recipients who last wrote over 24 h ago:
        # anything but a template to them is refused with 131047, as Meta does
        self._ids = itertools.count(1)
        self._changed = threading.Condition()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Graph does
            disable_nagle_algorithm = True  # headers and body go in two writes

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with stub._changed:
                    code = stub.fail_with.pop(0) if stub.fail_with else None
                    if code is None and body.get("to") in stub.outside_window and \
                            body.get("type") != "template" and body.get("status") != "read":
                        code = 131047
                    stub.calls.append((self.path, body, code))
                    stub.call_times.append(time.perf_counter())
                    stub._changed.notify_all()
                if code is not None:
                    status, code = code if isinstance(code, tuple) else (400, code)
                    error = {"message": "stub error"} if code is None else {
                        "code": code, "message": "stub error"}
                    self._answer(status, {"error": error})
                elif body.get("status") == "read":
                    self._answer(200, {"success": True})
                else:
                    self._answer(200, {"messaging_product": "whatsapp",
                                       "messages": [{"id": f"wamid.out{next(stub._ids)}"}]})

            def _answer(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def sent_to(self, recipient: str) -> list[dict[str, Any]]:
        """Messages (not read receipts) accepted for one recipient, in order."""
        with self._changed:
            return [b for _, b, code in self.calls
                    if b.get("to") == recipient and code is None and b.get("status") != "read"]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60) -> None:
        """Block until ``predicate()`` holds after some call (or fail after ``timeout``)."""
        with self._changed:
            if not self._changed.wait_for(predicate, timeout):
                raise AssertionError(f"timed out; calls so far: {self.calls[-5:]}")

    def wait_for_messages(self, recipient: str, count: int, timeout: float = 60) -> list[dict]:
        """Block until ``recipient`` got ``count`` messages in all; return them."""
        self.wait_for(lambda: len(self.sent_to(recipient)) >= count, timeout)
        return self.sent_to(recipient)

    def close(self) -> None:
        self.server.shutdown()
