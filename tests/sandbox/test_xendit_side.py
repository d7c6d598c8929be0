"""The sandbox's Xendit stand-in over real HTTP: the API as the product's client calls it, the
checkout page, the dashboard and the invoice callbacks (caught by a small local receiver that
plays the product's /webhooks/xendit/webhook)."""
from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest
import requests
from aiohttp import web

from sandbox.config import SandboxConfig
from sandbox.xendit import XENDIT_SANDBOX, XenditSandbox, setup
from sandbox.xendit_state import SETTLE_SECONDS
from tests.sandbox.app_runner import RunningApp
from tools.mongod import free_port

SECRET = "xnd_development_sandbox_side_test"
TOKEN = "callback-token-for-tests"
STATIC = Path(__file__).resolve().parents[2] / "sandbox" / "static"
MOBILE = "+6281234567890"


class Receiver:
    """The product's callback endpoint: records every POST and answers the statuses queued
    for its invoice id first, then 200."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.queued: dict[str, list[int]] = {}
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                body = json.loads(raw)
                with receiver.changed:
                    queue = receiver.queued.get(body.get("id"), [])
                    status = queue.pop(0) if queue else 200
                    receiver.calls.append({"path": self.path, "headers": dict(self.headers),
                                           "body": body, "answered": status})
                    receiver.changed.notify_all()
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, invoice_id: str) -> list[dict[str, Any]]:
        """Callbacks received about one invoice, in arrival order."""
        with self.changed:
            return [c for c in self.calls if c["body"].get("id") == invoice_id]

    def wait(self, invoice_id: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until ``count`` callbacks about the invoice arrived (fails after ``timeout``)."""
        with self.changed:
            arrived = self.changed.wait_for(lambda: len(self.of(invoice_id)) >= count, timeout)
        assert arrived, f"{len(self.of(invoice_id))} of {count} callbacks for {invoice_id}"
        return self.of(invoice_id)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RunningSandbox(RunningApp):
    """The stand-in's aiohttp app (as app.py mounts it, plus /static) on its own loop and
    thread."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.api = f"http://127.0.0.1:{config.port}/xendit"
        self.service: XenditSandbox

        def make_app() -> web.Application:
            app = web.Application()
            setup(app, config)
            app.router.add_static("/static", STATIC)
            self.service = app[XENDIT_SANDBOX]
            return app

        super().__init__(make_app, config.port)

    def until(self, check: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Poll ``check`` on the loop (every 50 ms) until it gives something truthy."""
        async def poll() -> Any:
            for _ in range(int(timeout / 0.05)):
                found = check()
                if found:
                    return found
                await asyncio.sleep(0.05)
            raise AssertionError(f"nothing came of {check} in {timeout} s")
        return self.call(poll())



def make_config(tmp: Path, product_url: str) -> SandboxConfig:
    return SandboxConfig(port=free_port(), product_url=product_url, xendit_secret_key=SECRET,
                         xendit_callback_token=TOKEN, data_dir=tmp)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def sandbox(receiver: Receiver,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    running = RunningSandbox(make_config(tmp_path_factory.mktemp("xendit"), receiver.url))
    yield running
    running.stop()


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[requests.Session]:
    """A session authenticated as the product is."""
    with requests.Session() as session:
        session.auth = (SECRET, "")
        yield session


def invoice_body(**overrides: Any) -> dict[str, Any]:
    body = {"external_id": "BK100001-1", "amount": 350000, "currency": "IDR",
            "description": "Balinese Massage, Tue 24 Nov 2026 15:00, booking BK100001",
            "invoice_duration": 3600, "customer": {"given_names": "Ayu", "mobile_number": MOBILE},
            "items": [{"name": "Balinese Massage", "price": 350000, "quantity": 1}],
            "success_redirect_url": "http://127.0.0.1:5005/webhooks/xendit/return?booking=BK1",
            "failure_redirect_url": "http://127.0.0.1:5005/webhooks/xendit/return?booking=BK1",
            "metadata": {"booking_code": "BK100001"}}
    body.update(overrides)
    return body


def create(api: requests.Session, sandbox: RunningSandbox, **overrides: Any) -> dict[str, Any]:
    answer = api.post(f"{sandbox.api}/v2/invoices", json=invoice_body(**overrides))
    assert answer.status_code == 200, answer.text
    return answer.json()


def payout_body(account: str = "5270001111", **overrides: Any) -> dict[str, Any]:
    body = {"reference_id": "BK100001-vendor-1", "channel_code": "ID_BCA",
            "channel_properties": {"account_number": account,
                                   "account_holder_name": "PT Ubud Serenity"},
            "amount": 280000, "currency": "IDR", "description": "Booking BK100001: vendor share"}
    body.update(overrides)
    return body


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------------- auth
@pytest.mark.parametrize("auth", [None, ("xnd_development_wrong", ""), "Basic !!!", "Bearer x"])
def test_api_refuses_a_missing_or_wrong_key(sandbox: RunningSandbox, auth: Any) -> None:
    headers = {"Authorization": auth} if isinstance(auth, str) else {}
    answer = requests.get(f"{sandbox.api}/v2/invoices", headers=headers,
                          auth=auth if isinstance(auth, tuple) else None)
    assert answer.status_code == 401
    assert answer.json()["error_code"] == "INVALID_API_KEY"
    refused = requests.post(f"{sandbox.api}/v2/payouts", json=payout_body(),
                            headers={"Idempotency-key": "k-refused", **headers})
    assert refused.status_code == 401
    assert not sandbox.on_loop(lambda: sandbox.service.state.payout_keys.get("k-refused"))


# ---------------------------------------------------------------------- invoices
def test_invoice_create_read_search_and_expire(api: requests.Session, sandbox: RunningSandbox,
                                               receiver: Receiver) -> None:
    invoice = create(api, sandbox, external_id="BK200001-1", amount=350000.75)
    assert invoice["status"] == "PENDING"
    assert invoice["amount"] == 350000  # IDR decimals truncated
    assert invoice["invoice_url"] == f"{sandbox.url}/xendit/checkout/{invoice['id']}"
    assert epoch(invoice["expiry_date"]) - epoch(invoice["created"]) == pytest.approx(3600, abs=1)
    assert invoice["customer"]["mobile_number"] == MOBILE
    assert api.get(f"{sandbox.api}/v2/invoices/{invoice['id']}").json() == invoice

    found = api.get(f"{sandbox.api}/v2/invoices", params={"external_id": "BK200001-1"}).json()
    assert [i["id"] for i in found] == [invoice["id"]]
    assert api.get(f"{sandbox.api}/v2/invoices", params={"external_id": "nope"}).json() == []

    expired = api.post(f"{sandbox.api}/invoices/{invoice['id']}/expire!")
    assert expired.status_code == 200 and expired.json()["status"] == "EXPIRED"
    again = api.post(f"{sandbox.api}/invoices/{invoice['id']}/expire!")
    assert (again.status_code, again.json()["error_code"]) == (404, "INVOICE_NOT_FOUND_ERROR")
    missing = api.get(f"{sandbox.api}/v2/invoices/0123456789abcdef01234567")
    assert (missing.status_code, missing.json()["error_code"]) == (404, "INVOICE_NOT_FOUND_ERROR")
    [callback] = receiver.wait(invoice["id"])
    assert callback["body"]["status"] == "EXPIRED"


@pytest.mark.parametrize("change, code", [
    ({"external_id": None}, "API_VALIDATION_ERROR"),
    ({"external_id": "x" * 256}, "API_VALIDATION_ERROR"),
    ({"amount": "350000"}, "API_VALIDATION_ERROR"),
    ({"amount": True}, "API_VALIDATION_ERROR"),
    ({"amount": 999}, "MINIMAL_TRANSFER_AMOUNT_ERROR"),
    ({"amount": 10 ** 12}, "MAXIMUM_TRANSFER_AMOUNT_ERROR"),
    ({"invoice_duration": 0}, "API_VALIDATION_ERROR"),
    ({"items": [{"name": "x"}]}, "API_VALIDATION_ERROR"),
    ({"metadata": {str(n): n for n in range(51)}}, "API_VALIDATION_ERROR"),
    ({"payment_methods": ["NOT_A_METHOD"]}, "UNAVAILABLE_PAYMENT_METHOD_ERROR"),
])
def test_invoice_validation_errors(api: requests.Session, sandbox: RunningSandbox,
                                   change: dict[str, Any], code: str) -> None:
    body = {k: v for k, v in invoice_body(**change).items() if v is not None}
    answer = api.post(f"{sandbox.api}/v2/invoices", json=body)
    assert answer.status_code == 400
    assert answer.json()["error_code"] == code and answer.json()["message"]


def test_invoice_body_that_is_not_json(api: requests.Session, sandbox: RunningSandbox) -> None:
    answer = api.post(f"{sandbox.api}/v2/invoices", data=b"{not json",
                      headers={"content-type": "application/json"})
    assert (answer.status_code, answer.json()["error_code"]) == (400, "API_VALIDATION_ERROR")


# ---------------------------------------------------------------------- checkout
def test_checkout_page_shows_the_invoice_escaped(api: requests.Session,
                                                 sandbox: RunningSandbox) -> None:
    invoice = create(api, sandbox, description='Spa <b>"Sari"</b> & friends')
    page = requests.get(invoice["invoice_url"])
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    text = page.text
    assert "Rp 350.000" in text and "Bali Booking" in text
    assert "Spa &lt;b&gt;&quot;Sari&quot;&lt;/b&gt; &amp; friends" in text
    assert "<b>" not in text
    assert "Pay with e-wallet" in text and "Let it expire" in text
    assert f'data-expiry="{invoice["expiry_date"]}"' in text
    assert MOBILE not in text
    assert requests.get(f"{sandbox.url}/xendit/checkout/nope").status_code == 404


def test_paying_on_the_checkout_form_sends_the_paid_callback(
        api: requests.Session, sandbox: RunningSandbox, receiver: Receiver) -> None:
    invoice = create(api, sandbox, external_id="BK300001-1")
    answer = requests.post(f"{sandbox.url}/xendit/checkout/{invoice['id']}/pay",
                           data={"channel": "DANA"}, allow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/xendit/checkout/{invoice['id']}"
    page = requests.get(invoice["invoice_url"]).text
    assert "Payment successful" in page and "paid with DANA" in page
    assert re.search(r'id="pay"\s+hidden', page)

    [callback] = receiver.wait(invoice["id"])
    assert callback["path"] == "/webhooks/xendit/webhook"
    assert callback["headers"]["x-callback-token"] == TOKEN
    assert callback["headers"]["Content-Type"].startswith("application/json")
    body = callback["body"]
    for name in ("id", "external_id", "user_id", "status", "amount", "currency", "created",
                 "updated", "paid_amount", "paid_at", "payment_id", "payment_method",
                 "payment_channel"):
        assert body.get(name) not in (None, ""), name
    assert (body["status"], body["external_id"], body["amount"], body["paid_amount"]) == \
        ("PAID", "BK300001-1", 350000, 350000)
    assert (body["payment_method"], body["payment_channel"]) == ("EWALLET", "DANA")
    assert "customer" not in body
    stored = api.get(f"{sandbox.api}/v2/invoices/{invoice['id']}").json()
    assert stored["status"] == "PAID" and stored["payment_id"] == body["payment_id"]
    assert stored["paid_at"] == body["paid_at"]

    twice = requests.post(f"{sandbox.url}/xendit/checkout/{invoice['id']}/pay",
                          data={"channel": "OVO"}, headers={"Accept": "application/json"})
    assert twice.status_code == 409 and twice.json()["status"] == "PAID"
    assert len(receiver.of(invoice["id"])) == 1


def test_paying_with_fetch_answers_the_new_state(api: requests.Session,
                                                 sandbox: RunningSandbox) -> None:
    invoice = create(api, sandbox)
    state = requests.get(f"{sandbox.url}/xendit/checkout/{invoice['id']}/state").json()
    assert state["status"] == "PENDING" and "customer" not in state
    refused = requests.post(f"{sandbox.url}/xendit/checkout/{invoice['id']}/pay",
                            data={"channel": "GOPAY"}, headers={"Accept": "application/json"})
    assert refused.status_code == 400 and refused.json()["status"] == "PENDING"
    answer = requests.post(f"{sandbox.url}/xendit/checkout/{invoice['id']}/pay",
                           data={"channel": "OVO"}, headers={"Accept": "application/json"})
    assert answer.status_code == 200
    assert (answer.json()["status"], answer.json()["payment_channel"]) == ("PAID", "OVO")


def test_payment_methods_limit_the_wallets_offered(api: requests.Session,
                                                   sandbox: RunningSandbox) -> None:
    invoice = create(api, sandbox, payment_methods=["DANA", "BCA"])
    assert invoice["available_ewallets"] == [{"ewallet_type": "DANA"}]
    page = requests.get(invoice["invoice_url"]).text
    assert 'value="DANA"' in page and 'value="OVO"' not in page
    answer = requests.post(f"{sandbox.url}/xendit/checkout/{invoice['id']}/pay",
                           headers={"Accept": "application/json"})  # no choice: the first
    assert (answer.json()["status"], answer.json()["payment_channel"]) == ("PAID", "DANA")


def test_let_it_expire_sends_the_expired_callback(api: requests.Session, sandbox: RunningSandbox,
                                                  receiver: Receiver) -> None:
    invoice = create(api, sandbox, external_id="BK400001-1")
    answer = requests.post(f"{sandbox.url}/xendit/checkout/{invoice['id']}/expire",
                           headers={"Accept": "application/json"})
    assert answer.status_code == 200 and answer.json()["status"] == "EXPIRED"
    [callback] = receiver.wait(invoice["id"])
    assert callback["headers"]["x-callback-token"] == TOKEN
    body = callback["body"]
    assert (body["status"], body["external_id"]) == ("EXPIRED", "BK400001-1")
    assert "paid_at" not in callback["body"]
    page = requests.get(invoice["invoice_url"]).text
    assert "This invoice has expired" in page
    late = requests.post(f"{sandbox.url}/xendit/checkout/{invoice['id']}/pay",
                         data={"channel": "OVO"}, allow_redirects=False)
    assert late.status_code == 303
    assert api.get(f"{sandbox.api}/v2/invoices/{invoice['id']}").json()["status"] == "EXPIRED"


def test_an_invoice_expires_on_its_own(api: requests.Session, sandbox: RunningSandbox,
                                       receiver: Receiver) -> None:
    invoice = create(api, sandbox, external_id="BK500001-1", invoice_duration=1)
    [callback] = receiver.wait(invoice["id"], timeout=5)  # no read in between: the task did it
    assert callback["body"]["status"] == "EXPIRED"
    assert api.get(f"{sandbox.api}/v2/invoices/{invoice['id']}").json()["status"] == "EXPIRED"


def test_a_refused_callback_is_retried_and_each_answer_recorded(
        api: requests.Session, sandbox: RunningSandbox, receiver: Receiver) -> None:
    invoice = create(api, sandbox, external_id="BK600001-1")
    receiver.queued[invoice["id"]] = [500]
    requests.post(f"{sandbox.url}/xendit/checkout/{invoice['id']}/pay", data={"channel": "OVO"})
    first, second = receiver.wait(invoice["id"], count=2, timeout=5)
    assert (first["answered"], second["answered"]) == (500, 200)
    assert first["body"] == second["body"]
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    record = sandbox.until(lambda: next((r for r in sandbox.service.state.callbacks[invoice["id"]]
                                        if r["state"] != "SENDING"), None))  # the 200 is read
    assert [a["status"] for a in record["attempts"]] == [500, 200]
    assert record["state"] == "DELIVERED"
    dashboard = requests.get(f"{sandbox.url}/xendit/").text
    row = re.search(rf'<tr data-invoice="{invoice["id"]}">.*?</tr>', dashboard, re.S).group(0)
    assert 'data-answers="500,200"' in row and 'data-state="DELIVERED"' in row

    requests.post(f"{sandbox.url}/xendit/dashboard/resend/{invoice['id']}")
    assert receiver.wait(invoice["id"], count=3)[2]["body"]["status"] == "PAID"


def test_an_unreachable_product_is_recorded_and_retried(tmp_path: Path) -> None:
    running = RunningSandbox(make_config(tmp_path, f"http://127.0.0.1:{free_port()}"))
    try:
        running.service.retry_delays = (0.0, 0.1)
        invoice = requests.post(f"{running.api}/v2/invoices", json=invoice_body(),
                                auth=(SECRET, "")).json()
        requests.post(f"{running.url}/xendit/checkout/{invoice['id']}/expire")
        record = running.until(lambda: next(
            (r for r in running.service.state.callbacks.get(invoice["id"], [])
             if r["state"] != "SENDING"), None))
        assert record["state"] == "FAILED"
        assert [(a["status"], a["error"]) for a in record["attempts"]] == \
            [(None, "unreachable")] * 2
    finally:
        running.stop()


# ---------------------------------------------------------------------- payouts
def test_payouts_are_idempotent_by_key(api: requests.Session, sandbox: RunningSandbox) -> None:
    url = f"{sandbox.api}/v2/payouts"
    first = api.post(url, json=payout_body(), headers={"Idempotency-key": "payout-b1-vendor-1"})
    assert first.status_code == 200, first.text
    payout = first.json()
    assert payout["status"] == "ACCEPTED" and payout["id"].startswith("disb-")
    assert payout["reference_id"] == "BK100001-vendor-1" and payout["amount"] == 280000
    repeat = api.post(url, json=payout_body(), headers={"Idempotency-key": "payout-b1-vendor-1"})
    assert repeat.json()["id"] == payout["id"]
    other = api.post(url, json=payout_body(amount=1),
                     headers={"Idempotency-key": "payout-b1-vendor-1"})
    assert (other.status_code, other.json()["error_code"]) == (400, "DUPLICATE_ERROR")
    keyless = api.post(url, json=payout_body())
    assert (keyless.status_code, keyless.json()["error_code"]) == (400, "API_VALIDATION_ERROR")
    for bad in (payout_body(amount=0), payout_body(channel_properties={}),
                payout_body(currency=None)):
        refused = api.post(url, json=bad, headers={"Idempotency-key": f"bad-{id(bad)}"})
        assert (refused.status_code, refused.json()["error_code"]) == (400, "API_VALIDATION_ERROR")
    unknown = api.get(f"{url}/disb-nope")
    assert (unknown.status_code, unknown.json()["error_code"]) == (404, "DATA_NOT_FOUND")


@pytest.mark.parametrize("account, status, failure", [
    ("5270009999", "SUCCEEDED", None), ("123456", "FAILED", "TEMPORARY_TRANSFER_ERROR"),
    ("999999", "FAILED", "REJECTED_BY_CHANNEL"), ("121212", "FAILED", "INVALID_DESTINATION")])
def test_payouts_settle_with_test_mode_outcomes(api: requests.Session, sandbox: RunningSandbox,
                                                account: str, status: str,
                                                failure: Optional[str]) -> None:
    reference = f"BK700001-villa-{account}"
    created = api.post(f"{sandbox.api}/v2/payouts",
                       json=payout_body(account, reference_id=reference),
                       headers={"Idempotency-key": f"payout-{account}"}).json()
    assert created["status"] == "ACCEPTED"
    read = api.get(f"{sandbox.api}/v2/payouts/{created['id']}").json()  # settles on a read
    assert (read["status"], read.get("failure_code")) == (status, failure)
    listed = api.get(f"{sandbox.api}/v2/payouts", params={"reference_id": reference}).json()
    assert [(p["id"], p["status"]) for p in listed] == [(created["id"], status)]


def test_a_payout_settles_without_being_read(api: requests.Session,
                                             sandbox: RunningSandbox) -> None:
    state = sandbox.service.state
    sandbox.on_loop(lambda: setattr(state, "settle_seconds", 0.3))  # 2 s by default
    try:
        created = api.post(f"{sandbox.api}/v2/payouts", json=payout_body(reference_id="BK-unread"),
                           headers={"Idempotency-key": "payout-unread"}).json()
    finally:
        sandbox.on_loop(lambda: setattr(state, "settle_seconds", SETTLE_SECONDS))
    assert created["status"] == "ACCEPTED"
    payouts = state.payouts  # the background task settles it on its next tick
    status = sandbox.until(lambda: payouts[created["id"]]["status"] != "ACCEPTED"
                           and payouts[created["id"]]["status"])
    assert status == "SUCCEEDED"


# ---------------------------------------------------------------------- refunds
def test_refunds_of_a_paid_invoice(api: requests.Session, sandbox: RunningSandbox) -> None:
    invoice = create(api, sandbox, external_id="BK800001-1")
    url = f"{sandbox.api}/refunds"
    early = api.post(url, json={"invoice_id": invoice["id"], "reason": "CANCELLATION"})
    assert (early.status_code, early.json()["error_code"]) == (403, "INELIGIBLE_TRANSACTION")
    requests.post(f"{sandbox.url}/xendit/checkout/{invoice['id']}/pay", data={"channel": "OVO"})

    body = {"invoice_id": invoice["id"], "amount": 100000, "reason": "CANCELLATION",
            "reference_id": "BK800001-refund-1"}
    first = api.post(url, json=body, headers={"Idempotency-key": "refund-BK800001-1"})
    assert first.status_code == 200, first.text
    refund = first.json()
    assert (refund["status"], refund["amount"], refund["invoice_id"], refund["currency"]) == \
        ("PENDING", 100000, invoice["id"], "IDR")
    assert refund["id"].startswith("rfd-") and refund["channel_code"] == "OVO"
    same = api.post(url, json=body, headers={"Idempotency-key": "refund-BK800001-1"})
    assert same.json()["id"] == refund["id"]
    changed = api.post(url, json={**body, "amount": 1},
                       headers={"Idempotency-key": "refund-BK800001-1"})
    assert (changed.status_code, changed.json()["error_code"]) == (400, "DUPLICATE_ERROR")
    too_much = api.post(url, json={**body, "amount": 250001})
    assert (too_much.status_code, too_much.json()["error_code"]) == \
        (400, "MAXIMUM_REFUND_AMOUNT_REACHED")
    bad_reason = api.post(url, json={**body, "reason": "BECAUSE"})
    assert (bad_reason.status_code, bad_reason.json()["error_code"]) == \
        (400, "API_VALIDATION_ERROR")
    rest = api.post(url, json={"invoice_id": invoice["id"], "reason": "REQUESTED_BY_CUSTOMER"})
    assert rest.json()["amount"] == 250000  # no amount: what is left
    none_left = api.post(url, json={"invoice_id": invoice["id"], "reason": "OTHERS"})
    assert none_left.json()["error_code"] == "MAXIMUM_REFUND_AMOUNT_REACHED"

    assert api.get(f"{url}/{refund['id']}").json()["status"] == "SUCCEEDED"
    listed = api.get(url, params={"invoice_id": invoice["id"]}).json()
    assert sorted(r["amount"] for r in listed["data"]) == [100000, 250000]
    assert listed["has_more"] is False
    unknown = api.post(url, json={"invoice_id": "0" * 24, "reason": "OTHERS"})
    assert (unknown.status_code, unknown.json()["error_code"]) == (404, "DATA_NOT_FOUND")
    assert api.get(f"{url}/rfd-nope").status_code == 404


# ---------------------------------------------------------------------- dashboard
def test_dashboard_lists_everything_escaped(api: requests.Session, sandbox: RunningSandbox) -> None:
    invoice = create(api, sandbox, external_id="<script>alert(1)</script>",
                     description="<img src=x onerror=alert(2)>")
    for party in ("vendor", "villa"):
        api.post(f"{sandbox.api}/v2/payouts",
                 json=payout_body(reference_id=f"BK900001-{party}-1",
                                  description=f"Booking BK900001: {party} share <script>"),
                 headers={"Idempotency-key": f"payout-dash-{party}"})
    for path in ("/xendit/", "/xendit"):
        page = requests.get(f"{sandbox.url}{path}")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    text = page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>alert" not in text
    assert "&lt;img src=x onerror=alert(2)&gt;" in text and "<img" not in text
    assert "BK900001-vendor-1" in text and "BK900001-villa-1" in text
    assert "villa share &lt;script&gt;" in text
    assert f'href="/xendit/checkout/{invoice["id"]}"' in text
    assert MOBILE not in text and SECRET not in text and TOKEN not in text
    data = requests.get(f"{sandbox.url}/xendit/dashboard.json").json()
    assert invoice["id"] in [i["id"] for i in data["invoices"]]
    assert MOBILE not in json.dumps(data)


def test_no_secret_or_phone_number_is_logged(api: requests.Session, sandbox: RunningSandbox,
                                             receiver: Receiver,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    invoice = create(api, sandbox, external_id="BK910001-1")
    requests.post(f"{sandbox.url}/xendit/checkout/{invoice['id']}/pay", data={"channel": "OVO"})
    receiver.wait(invoice["id"])
    assert "BK910001-1" in caplog.text  # it does log, just not these
    for secret in (SECRET, TOKEN, MOBILE, MOBILE[1:]):
        assert secret not in caplog.text


# ---------------------------------------------------------------------- the product's client
def test_the_products_client_works_unchanged(sandbox: RunningSandbox) -> None:
    from booking.xendit import XenditClient, XenditConfig, XenditError

    client = XenditClient(XenditConfig(secret_key=SECRET, api_url=sandbox.api, max_attempts=1))
    invoice = client.ensure_invoice(invoice_body(external_id="BK920001-1"), look_first=True)
    again = client.ensure_invoice(invoice_body(external_id="BK920001-1"), look_first=True)
    assert again["id"] == invoice["id"]
    assert client.get_invoice(invoice["id"])["status"] == "PENDING"
    assert client.live_invoice("BK920001-1")["id"] == invoice["id"]
    client.request("POST", f"/invoices/{invoice['id']}/expire!")
    assert client.live_invoice("BK920001-1") is None
    payout = client.create_payout(payout_body(reference_id="BK920001-vendor-1"), "payout-c-1")
    assert client.create_payout(payout_body(reference_id="BK920001-vendor-1"),
                                "payout-c-1")["id"] == payout["id"]
    assert client.get_payout(payout["id"])["status"] == "SUCCEEDED"
    wrong = XenditClient(XenditConfig(secret_key="xnd_development_other", api_url=sandbox.api))
    with pytest.raises(XenditError) as refused:
        wrong.get_invoice(invoice["id"])
    assert (refused.value.status, refused.value.code) == (401, "INVALID_API_KEY")


# ---------------------------------------------------------------------- restart
def test_state_survives_a_restart(tmp_path: Path, receiver: Receiver) -> None:
    config = make_config(tmp_path, receiver.url)
    first = RunningSandbox(config)
    try:
        invoice = requests.post(f"{first.api}/v2/invoices", json=invoice_body(),
                                auth=(SECRET, "")).json()
        payout = requests.post(f"{first.api}/v2/payouts", json=payout_body(), auth=(SECRET, ""),
                               headers={"Idempotency-key": "payout-restart"}).json()
    finally:
        first.stop()
    assert (tmp_path / "xendit.json").exists()
    second = RunningSandbox(config)
    try:
        again = requests.get(f"{second.api}/v2/invoices/{invoice['id']}", auth=(SECRET, ""))
        assert again.json()["status"] == "PENDING"
        repeat = requests.post(f"{second.api}/v2/payouts", json=payout_body(), auth=(SECRET, ""),
                               headers={"Idempotency-key": "payout-restart"})
        assert repeat.json()["id"] == payout["id"]
        assert "Rp 350.000" in requests.get(invoice["invoice_url"]).text
    finally:
        second.stop()
