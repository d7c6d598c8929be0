"""The fake product, fixtures and helpers of the sandbox API tests: the real ``create_app``
runs on a free port in a background thread; a small local "product" (http.server) records every
webhook POST (raw bytes and headers) and plays the product's Flows endpoint (decrypts with the
business private key, answers encrypted)."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator, Optional

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import sandbox.webhooks as sandbox_webhooks
from sandbox.app import create_app
from sandbox.config import ROOT, Business, SandboxConfig
from tests.sandbox.app_runner import RunningApp
from tools.mongod import free_port

TOKEN = "graph-token-for-tests"
APP_SECRET = "app-secret-for-tests"
FLOW_ID = "1234567890123456"
FLOW_JSON = ROOT / "flows" / "booking_flow.json"
SPA = Business("110000000000001", "Ubud Serenity Spa", "+62 811-0000-0001")
SALON = Business("110000000000002", "Kuta Salon", "+62 811-0000-0002")
SPA_DIGITS = "6281100000001"  # SPA's display number as a webhook ``context.from``
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WEBHOOK, FLOWS = "/webhooks/whatsapp/webhook", "/webhooks/whatsapp/flows"
OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(),
                    label=None)
WAIT = 5.0  # seconds a test waits for the sandbox to post something before failing


def new_customer() -> str:
    """A customer number (12 digits) no other test uses."""
    return "628" + "".join(str(secrets.randbelow(10)) for _ in range(9))


def expected_signature(raw: bytes) -> str:
    return "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------- the fake product
@dataclass
class Hit:
    """One POST the product received."""

    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any = None  # the parsed JSON body
    payload: Any = None  # Flows: the decrypted request
    key_sizes: tuple[int, int] = (0, 0)  # Flows: (AES key, IV) lengths
    answered: int = 0

    @property
    def signed(self) -> bool:
        return hmac.compare_digest(self.headers.get("x-hub-signature-256", ""),
                                   expected_signature(self.raw))

    @property
    def value(self) -> dict[str, Any]:
        """A webhook's ``entry[0].changes[0].value`` ({} when it has none)."""
        try:
            return self.body["entry"][0]["changes"][0]["value"]
        except (KeyError, IndexError, TypeError):
            return {}


def text_of(body: Any) -> Optional[str]:
    """The text body of a customer-message webhook, if it is one."""
    try:
        return body["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"]
    except (KeyError, IndexError, TypeError):
        return None


def default_flows_answer(payload: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"screen": "SERVICE", "data": {"echo": payload.get("action")}}


class Product:
    """The product's /webhooks/whatsapp/webhook and /webhooks/whatsapp/flows."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self.private_key = private_key
        self.hits: list[Hit] = []
        self.changed = threading.Condition()
        self.webhook_answer: Callable[[Any], int] = lambda body: 200
        self.flows_answer: Callable[[dict[str, Any]], tuple[int, Any]] = default_flows_answer
        product = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                hit = Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                content_type, answer = "application/json", b"{}"
                try:
                    hit.body = json.loads(raw)
                except ValueError:
                    pass
                if self.path == FLOWS:
                    hit.answered, content_type, answer = product._flows(hit)
                else:
                    hit.answered = product.webhook_answer(hit.body)
                with product.changed:
                    product.hits.append(hit)
                    product.changed.notify_all()
                try:
                    self.send_response(hit.answered)
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a sandbox stopped by a test dropped its pending webhook

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _flows(self, hit: Hit) -> tuple[int, str, bytes]:
        """Decrypt the request (421 if that fails), answer what ``flows_answer`` says."""
        try:
            envelope = hit.body
            aes_key = self.private_key.decrypt(
                base64.b64decode(envelope["encrypted_aes_key"]), OAEP)
            iv = base64.b64decode(envelope["initial_vector"])
            hit.key_sizes = (len(aes_key), len(iv))
            hit.payload = json.loads(AESGCM(aes_key).decrypt(
                iv, base64.b64decode(envelope["encrypted_flow_data"]), None))
        except Exception:  # noqa: BLE001 - anything undecryptable is the client's fault here
            return 421, "application/json", b'{"error_msg": "could not decrypt"}'
        status, answer = self.flows_answer(hit.payload)
        if isinstance(answer, bytes):
            return status, "text/plain", answer
        if status != 200:
            return status, "application/json", json.dumps(answer).encode()
        flipped = bytes(b ^ 0xFF for b in iv)
        sealed = AESGCM(aes_key).encrypt(flipped, json.dumps(answer).encode(), None)
        return 200, "text/plain", base64.b64encode(sealed)

    # ------------------------------------------------------------------ reading
    def find(self, check: Callable[[Hit], bool]) -> list[Hit]:
        with self.changed:
            return [hit for hit in self.hits if check(hit)]

    def wait(self, check: Callable[[Hit], bool], count: int = 1,
             timeout: float = WAIT) -> list[Hit]:
        """Block until ``count`` hits match ``check`` (fails after ``timeout``)."""
        with self.changed:
            arrived = self.changed.wait_for(lambda: len(self.find(check)) >= count, timeout)
        found = self.find(check)
        assert arrived, f"{len(found)} of {count} expected POSTs arrived"
        return found

    @staticmethod
    def message(message_id: str) -> Callable[[Hit], bool]:
        """Matches the customer-message webhook(s) carrying this message."""
        return lambda hit: hit.path == WEBHOOK and any(
            m.get("id") == message_id for m in hit.value.get("messages", []))

    @staticmethod
    def status(message_id: str, status: Optional[str] = None) -> Callable[[Hit], bool]:
        """Matches the status webhooks about one of the bot's messages."""
        return lambda hit: hit.path == WEBHOOK and any(
            s.get("id") == message_id and (status is None or s.get("status") == status)
            for s in hit.value.get("statuses", []))

    @staticmethod
    def from_customer(customer: str) -> Callable[[Hit], bool]:
        return lambda hit: hit.path == WEBHOOK and any(
            m.get("from") == customer for m in hit.value.get("messages", []))

    @staticmethod
    def flows(token: str) -> Callable[[Hit], bool]:
        return lambda hit: hit.path == FLOWS and (hit.payload or {}).get("flow_token") == token

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------- server-sent events
class Events:
    """A chat's event stream; ``next()`` returns (event, data). Opening it waits for the
    ``: connected`` comment, written after the sandbox registered the listener."""

    def __init__(self, url: str) -> None:
        self.response = requests.get(url, stream=True, timeout=(5, WAIT))
        assert self.response.status_code == 200, self.response.text
        assert self.response.headers["content-type"].startswith("text/event-stream")
        self.lines = self.response.iter_lines()
        assert next(self.lines) == b": connected"
        self.seen: list[tuple[str, Any]] = []

    def next(self) -> tuple[str, Any]:
        event, data = None, None
        for raw in self.lines:
            line = raw.decode()
            if line.startswith(":"):
                continue
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: "):])
            elif line == "" and event is not None:
                self.seen.append((event, data))
                return event, data
        raise AssertionError("the event stream ended")

    def until(self, check: Callable[[str, Any], bool]) -> tuple[str, Any]:
        """Read events until one passes ``check`` (a read timeout fails the test)."""
        while True:
            event, data = self.next()
            if check(event, data):
                return event, data

    def statuses(self, message_id: str) -> list[str]:
        return [d["status"] for e, d in self.seen if e == "message" and d["id"] == message_id]

    def __enter__(self) -> "Events":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.response.close()


def has_status(message_id: str, status: str) -> Callable[[str, Any], bool]:
    return lambda e, d: e == "message" and d.get("id") == message_id and d["status"] == status


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def product(private_key: rsa.RSAPrivateKey) -> Iterator[Product]:
    server = Product(private_key)
    yield server
    server.close()


@pytest.fixture(scope="module")
def config(product: Product, private_key: rsa.RSAPrivateKey,
           tmp_path_factory: pytest.TempPathFactory) -> SandboxConfig:
    keys = tmp_path_factory.mktemp("keys")
    public = keys / "flows_public.pem"
    public.write_bytes(private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return SandboxConfig(port=free_port(), product_url=product.url, app_secret=APP_SECRET,
                         access_token=TOKEN, flow_id=FLOW_ID, flow_json=FLOW_JSON,
                         flows_public_key=public, businesses=(SPA, SALON), window_hours=0,
                         data_dir=tmp_path_factory.mktemp("sandbox-data"))


@pytest.fixture(scope="module")
def sandbox(config: SandboxConfig) -> Iterator[RunningApp]:
    running = RunningApp(lambda: create_app(config), config.port)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch, product: Product) -> None:
    """Webhook retries in milliseconds (the app runs in this process), default answers."""
    monkeypatch.setattr(sandbox_webhooks, "RETRY_DELAYS", (0.01, 0.02, 0.03))
    product.webhook_answer = lambda body: 200
    product.flows_answer = default_flows_answer


# ---------------------------------------------------------------------- helpers
def chat(sandbox: RunningApp, customer: str, business: Business = SPA) -> str:
    return f"{sandbox.url}/api/chats/{business.phone_number_id}/{customer}"


def history(sandbox: RunningApp, customer: str, business: Business = SPA) -> list[dict]:
    answer = requests.get(chat(sandbox, customer, business), timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()["messages"]


def send(sandbox: RunningApp, customer: str, message: Any, name: Any = "Ayu",
         business: Business = SPA) -> requests.Response:
    return requests.post(chat(sandbox, customer, business) + "/send",
                         json={"name": name, "message": message}, timeout=10)


def say(sandbox: RunningApp, customer: str, text: str, **kwargs: Any) -> dict[str, Any]:
    """The customer sends a text; its record."""
    answer = send(sandbox, customer, {"type": "text", "text": {"body": text}}, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def graph(sandbox: RunningApp, body: Any, business: Business = SPA,
          headers: Optional[dict] = None) -> requests.Response:
    return requests.post(f"{sandbox.url}/v25.0/{business.phone_number_id}/messages",
                         json=body, headers=AUTH if headers is None else headers, timeout=10)


def bot_text(customer: str, text: str = "Hello from the bot") -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": customer,
            "type": "text", "text": {"body": text}}


def bot_says(sandbox: RunningApp, customer: str, text: str = "Hello",
             business: Business = SPA) -> str:
    """The bot sends a text through the Graph stand-in; its wamid."""
    answer = graph(sandbox, bot_text(customer, text), business)
    assert answer.status_code == 200, answer.text
    return answer.json()["messages"][0]["id"]


def bot_offers(sandbox: RunningApp, customer: str, interactive: dict[str, Any],
               business: Business = SPA) -> str:
    """The bot sends an interactive message (buttons, a list, a Flow); its wamid."""
    answer = graph(sandbox, {"messaging_product": "whatsapp", "to": customer,
                             "type": "interactive", "interactive": interactive}, business)
    assert answer.status_code == 200, answer.text
    return answer.json()["messages"][0]["id"]


def flow_offer(flow_id: str = FLOW_ID, token: str = "token") -> dict[str, Any]:
    """An interactive Flow message as the bot sends it."""
    return {"type": "flow", "body": {"text": "Book here"}, "action": {"name": "flow",
            "parameters": {"flow_message_version": "3", "flow_id": flow_id,
                           "flow_token": token, "flow_cta": "Book",
                           "flow_action": "data_exchange"}}}


def exchange(sandbox: RunningApp, customer: str, **fields: Any) -> requests.Response:
    """An exchange for the Flow message the bot sent this customer with ``flow_token``
    (default ``token-<customer>``; the message is sent first when needed)."""
    token = fields.pop("flow_token", f"token-{customer}")
    if "message_id" not in fields and SPA.phone_number_id == fields.get(
            "business", SPA.phone_number_id) and customer.isascii() and customer.isdigit() \
            and len(customer) >= 8:
        key = (customer, token)
        fields["message_id"] = _flow_messages.get(key) or _flow_messages.setdefault(
            key, bot_offers(sandbox, customer, flow_offer(token=token)))
    body = {"business": SPA.phone_number_id, "customer": customer, "action": "INIT", **fields}
    body = {k: v for k, v in body.items() if v is not None}
    return requests.post(f"{sandbox.url}/api/flows/exchange", json=body, timeout=10)


_flow_messages: dict[tuple[str, str], str] = {}  # (customer, token) -> the bot's Flow message


def png(size: int = 64) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(size)


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


IMAGE = png(300)
