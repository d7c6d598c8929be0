"""Property-based fuzzing of the running stack's HTTP endpoints: whatever arrives, the answer is
a deliberate 2xx/4xx, never a 5xx; a refused request stores nothing, an accepted one stores
whole records only; and the server keeps serving."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.whatsapp.conftest import SECRET, SPA
from tests.xendit_stub import CALLBACK_TOKEN

pytestmark = pytest.mark.e2e
FUZZ = settings(max_examples=1000, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
message = st.fixed_dictionaries(
    {"from": st.text(max_size=15) | st.integers(), "id": st.text(max_size=20),
     "type": st.sampled_from(["text", "interactive", "button", "image", "location", "nfm", "x"])},
    optional={"text": json_values, "interactive": json_values, "timestamp": scalars,
              "button": json_values})
envelopes = st.builds(
    lambda messages, statuses, extra: {"object": "whatsapp_business_account", "entry": [{
        "id": "W", "changes": [{"field": "messages", "value": {
            "metadata": {"phone_number_id": SPA}, "messages": messages, "statuses": statuses,
            **extra}}]}]},
    st.lists(message, max_size=2), st.lists(json_values, max_size=2),
    st.dictionaries(st.text(max_size=8), json_values, max_size=2))


def messages_in(body) -> list:
    """The message objects of a webhook body, wherever the envelope has them."""
    found = []
    for entry in (body.get("entry") or []) if isinstance(body, dict) else []:
        for change in (entry.get("changes") or []) if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if isinstance(value, dict) and isinstance(value.get("messages"), list):
                found += [m for m in value["messages"] if isinstance(m, dict)]
    return found


def signed(stack, path: str, raw: bytes) -> int:
    sig = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return stack.request("POST", path, raw, {"content-type": "application/json",
                                             "x-hub-signature-256": sig})[0]


INBOX_FIELDS = {"_id", "sender", "phone_number_id", "kind", "text", "timestamp", "profile_name",
                "extra", "business_id", "status", "received_at", "seq", "attempts"}


def test_whatsapp_webhook_never_answers_5xx_nor_stores_partial_records(wa):
    stack, db = wa

    @FUZZ
    @given(json_values | envelopes)
    def check(body):
        before = db.wa_inbox.estimated_document_count(), db.wa_statuses.estimated_document_count()
        status = signed(stack, "/webhook", json.dumps(body).encode())
        assert status in (200, 400)
        if status == 400:  # refused: nothing of it was stored
            assert (db.wa_inbox.estimated_document_count(),
                    db.wa_statuses.estimated_document_count()) == before
            return
        for message in messages_in(body):
            stored = db.wa_inbox.find_one({"_id": message.get("id")})
            if stored is not None:  # (a message the parser skipped is not stored at all)
                assert INBOX_FIELDS <= set(stored), stored
                assert isinstance(stored["sender"], str) and isinstance(stored["seq"], int)
        assert db.wa_inbox.count_documents({"seq": {"$exists": False}}) == 0

    check()


def test_flows_endpoint_never_answers_5xx(wa):
    stack, _ = wa

    @FUZZ
    @given(json_values | st.fixed_dictionaries({
        "encrypted_flow_data": st.text(max_size=40), "encrypted_aes_key": st.text(max_size=40),
        "initial_vector": st.text(max_size=30)}))
    def check(body):
        assert signed(stack, "/flows", json.dumps(body).encode()) in (421, 427)

    check()


def test_xendit_callback_never_answers_5xx_nor_stores_partial_records(wa):
    stack, db = wa

    @FUZZ
    @given(json_values | st.fixed_dictionaries(
        {"id": scalars, "status": scalars, "external_id": scalars},
        optional={"amount": scalars, "currency": scalars, "paid_at": scalars}))
    def check(body):
        before = db.xendit_callbacks.estimated_document_count()
        status = stack.request("POST", "/webhook", json.dumps(body).encode(),
                               {"content-type": "application/json",
                                "x-callback-token": CALLBACK_TOKEN}, channel="xendit")[0]
        assert status in (200, 400)
        if status == 400:
            assert db.xendit_callbacks.estimated_document_count() == before
            return
        stored = db.xendit_callbacks.find_one({"_id": f"{body['id']}:{body['status']}"})
        assert stored is not None and json.loads(stored["body"])["id"] == body["id"]

    check()
    assert stack.request("GET", "/", channel="xendit")[0] == 200  # still serving
