"""Signing in over real HTTP (the console's own process, a real mongod): a real and an unknown
username get the same answers, a lock is per client address, signing in again ends the old
session; and, in process, password checks run in a pool of their own."""
from __future__ import annotations

import asyncio
import re
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from requests.adapters import HTTPAdapter

from console.sessions import token_hash
from console.views.auth import LOGIN_WORKERS, check_login
from console.web import SESSION_COOKIE, Services, blocking
from tests.console.http_support import (PASSWORD, SALON, SPA, ConsoleServer, login_csrf,
                                        post_login, start_console)


@pytest.fixture(scope="module")
def console(mongo_url):
    yield from start_console(mongo_url)


class FromAddress(HTTPAdapter):
    """Connections from a given local address (any of 127.0.0.0/8 reaches the console)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[override]
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def browser_at(address: str) -> requests.Session:
    client = requests.Session()
    client.mount("http://", FromAddress(address))
    return client


def answer(console: ConsoleServer, client: requests.Session, username: str,
           password: str) -> tuple[int, str, str]:
    """Status, the message the login page shows, and Retry-After."""
    form = client.get(f"{console.url}/login", allow_redirects=False)
    reply = client.post(f"{console.url}/login", allow_redirects=False, data={
        "csrf": login_csrf(form.text), "username": username, "password": password, "next": "/"})
    message = re.search(r'id="login-error">([^<]*)<', reply.text)
    return reply.status_code, message.group(1) if message else "", \
        reply.headers.get("retry-after", "")


def set_last_attempt(console: ConsoleServer, username: str, at: datetime) -> None:
    """Move the time of the last attempt (instead of waiting for the throttle)."""
    console.db.console_login_failures.update_many({"username": username},
                                                  {"$set": {"last_at": at}})


def test_a_real_and_an_unknown_username_get_the_same_answers(console):
    answers = {}
    for username in ("desk@spa", "nobody@spa"):
        seen = []
        for attempt in range(5):
            if attempt >= 3:  # the 4th and 5th come well within the wait after the 3rd
                set_last_attempt(console, username, datetime.now(timezone.utc))
            seen.append(answer(console, console.session(), username, f"wrong-{attempt}-xxxx"))
        answers[username] = seen
    assert answers["desk@spa"] == answers["nobody@spa"]
    wrong = (401, "Wrong username or password.", "")
    throttled = (429, "Too many attempts: try again in 1 second.", "1")
    assert answers["desk@spa"] == [wrong] * 3 + [throttled] * 2
    deadline = time.monotonic() + 10  # a real account's refusals are audited, after the answer
    while console.db.console_audit.count_documents({"action": "login_refused"}) < 5:
        assert time.monotonic() < deadline, "the refused logins were not audited"
        time.sleep(0.05)  # polling the console process, not synchronising a test
    assert {e["actor"] for e in console.db.console_audit.find({"action": "login_refused"})} \
        == {"desk@spa"}


def test_a_lock_from_one_address_does_not_lock_the_owner_out_elsewhere(console):
    username, attacker, owner = f"owner@{SALON}", browser_at("127.0.0.2"), browser_at("127.0.0.3")
    for attempt in range(8):
        status, message, _ = answer(console, attacker, username, f"guess-{attempt}-xxxx")
        assert status == 401, (attempt, message)
        set_last_attempt(console, username, datetime.now(timezone.utc) - timedelta(seconds=61))
    set_last_attempt(console, username, datetime.now(timezone.utc))
    status, message, retry_after = answer(console, attacker, username, PASSWORD)
    assert status == 429 and "locked" in message and 850 <= int(retry_after) <= 900
    status, _, _ = answer(console, owner, username, PASSWORD)
    assert status == 303
    assert "Canggu Glow Salon" in owner.get(f"{console.url}/", allow_redirects=True).text
    status, message, _ = answer(console, attacker, username, PASSWORD)
    assert status == 429 and "locked" in message  # still locked where the guesses came from


def test_signing_in_again_ends_the_first_session(console):
    first = console.login(f"owner@{SPA}")
    old = first.cookies.get(SESSION_COOKIE)
    # The browser, still holding its session cookie, signs in again (the form of a moment ago).
    form = console.session().get(f"{console.url}/login")
    reply = requests.post(f"{console.url}/login", allow_redirects=False, data={
        "csrf": login_csrf(form.text), "username": f"owner@{SPA}", "password": PASSWORD,
        "next": "/"}, cookies={**form.cookies.get_dict(), SESSION_COOKIE: old})
    assert reply.status_code == 303
    new = reply.cookies.get(SESSION_COOKIE)
    assert new and new != old
    assert console.db.console_sessions.find_one({"_id": token_hash(old)}) is None
    stale = first.get(f"{console.url}/day/2026-12-01", allow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"].startswith("/login")
    fresh = requests.get(f"{console.url}/day/2026-12-01", cookies={SESSION_COOKIE: new},
                         allow_redirects=False)
    assert fresh.status_code == 200


def test_a_wrong_password_still_answers_401_with_the_login_form(console):
    status, body = post_login(console, console.session(), f"owner@{SPA}", "not-the-password")
    assert status == 401 and 'name="csrf"' in body


class HeldAccounts:
    """``authenticate`` that waits to be released, noting its threads and how many run."""

    def __init__(self) -> None:
        self.started, self.release = threading.Semaphore(0), threading.Event()
        self.lock, self.running, self.peak, self.threads = threading.Lock(), 0, 0, set()

    def authenticate(self, username, password, now, client=""):
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.threads.add(threading.current_thread().name)
        self.started.release()
        self.release.wait(10)
        with self.lock:
            self.running -= 1
        return username, client


def test_password_checks_queue_in_their_own_pool_and_leave_the_pages_threads_free():
    accounts = HeldAccounts()
    svc = Services(config=None, desk=None, accounts=accounts, sessions=None, audit=None,
                   clock=lambda: datetime(2036, 11, 24, tzinfo=timezone.utc))

    async def flood() -> list:
        logins = [asyncio.ensure_future(check_login(svc, f"user{n}", "pw", "203.0.113.5"))
                  for n in range(6)]
        try:
            for _ in range(LOGIN_WORKERS):
                assert await blocking(accounts.started.acquire, timeout=10)
            # both login workers are busy: a page's blocking call still runs at once ...
            assert await asyncio.wait_for(blocking(lambda: "page"), 5) == "page"
            # ... and no third password check has started
            assert not await blocking(accounts.started.acquire, timeout=0.3)
        finally:
            accounts.release.set()
        return await asyncio.gather(*logins)

    results = asyncio.run(flood())
    assert results[0] == ("user0", "203.0.113.5") and len(results) == 6
    assert accounts.peak == LOGIN_WORKERS == 2
    assert all(name.startswith("console-login") for name in accounts.threads)
