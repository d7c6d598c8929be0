"""The sandbox answers only its own pages and programs on the laptop (sandbox/guard.py): a web
page the developer visits cannot drive it through their browser, whether by a cross-site POST,
a rebound DNS name, or a frame around the Pay button; and it serves only the sides it stands
in for."""
from __future__ import annotations

import dataclasses

import pytest
import requests

from sandbox.app import create_app
from tests.sandbox.api_support import (  # noqa: F401 (fixtures are used by name)
    AUTH, SPA, bot_text, config, fast_retries, graph, history, new_customer, private_key,
    product, sandbox)
from tests.sandbox.app_runner import RunningApp
from tools.mongod import free_port

TEXT = {"name": "Ayu", "message": {"type": "text", "text": {"body": "cancel my booking"}}}


def chat_url(sandbox, customer: str) -> str:
    return f"{sandbox.url}/api/chats/{SPA.phone_number_id}/{customer}"


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example", "Content-Type": "text/plain"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"},
], ids=["other origin", "opaque origin", "cross-site fetch", "another local port"])
def test_a_cross_site_post_changes_nothing(sandbox, headers):
    customer = new_customer()
    for path in ("/send", "/read"):
        answer = requests.post(chat_url(sandbox, customer) + path, json=TEXT, headers=headers,
                               timeout=5)
        assert answer.status_code == 403
    pay = requests.post(f"{sandbox.url}/xendit/checkout/any/pay", data={"channel": "OVO"},
                        headers=headers, timeout=5, allow_redirects=False)
    assert pay.status_code == 403
    assert history(sandbox, customer) == []


def test_the_sandboxs_own_pages_and_local_programs_may_post(sandbox):
    customer = new_customer()
    own = {"Origin": sandbox.url, "Sec-Fetch-Site": "same-origin"}
    assert requests.post(chat_url(sandbox, customer) + "/send", json=TEXT, headers=own,
                         timeout=5).status_code == 200
    assert requests.post(chat_url(sandbox, customer) + "/send", json=TEXT,  # curl, tests
                         timeout=5).status_code == 200
    # the product's calls carry their credentials and no browser headers
    assert graph(sandbox, bot_text(customer), headers={**AUTH, "Origin": "x"}).status_code == 200
    assert len(history(sandbox, customer)) == 3


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:%d", "127.0.0.1",
                                  "127.0.0.2:%d", ""])
def test_another_host_name_gets_nothing(sandbox, host):
    host = host % sandbox.port if "%d" in host else host
    for path in ("/", "/api/config", "/xendit/dashboard.json", "/health"):
        answer = requests.get(sandbox.url + path, headers={"Host": host}, timeout=5)
        assert answer.status_code == 403, path
    assert requests.get(f"http://localhost:{sandbox.port}/api/config", timeout=5).ok


def test_pages_may_not_be_framed_or_sniffed(sandbox):
    for path in ("/", "/api/config", "/xendit/"):
        headers = requests.get(sandbox.url + path, timeout=5).headers
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"


def test_with_real_whatsapp_credentials_only_the_payments_side_is_served(config):
    xendit_only = dataclasses.replace(config, port=free_port(), sides=frozenset({"xendit"}))
    running = RunningApp(lambda: create_app(xendit_only), xendit_only.port)
    try:
        base = running.url
        assert requests.get(f"{base}/", timeout=5, allow_redirects=False).headers[
            "Location"] == "/xendit/"
        assert requests.get(f"{base}/api/config", timeout=5).status_code == 404
        assert requests.post(f"{base}/v25.0/{SPA.phone_number_id}/messages", headers=AUTH,
                             json=bot_text("6281234500001"), timeout=5).status_code == 404
        assert requests.get(f"{base}/xendit/", timeout=5).ok
    finally:
        running.stop()
