"""The console as its own process (``python -m console``) on the session's mongod, with the seed
catalog and one owner per business; tests speak real HTTP to it."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any, Iterator

import requests

from booking.catalog import CatalogRepository
from booking.db import connect, ensure_indexes
from console.accounts import OWNER, STAFF, Accounts
from tests.conftest import ROOT
from tools.mongod import free_port

PASSWORD = "frangipani-2026"
SPA, SALON = "ubud-serenity-spa", "canggu-glow-salon"


@dataclass
class ConsoleServer:
    """Where the console listens, and its database."""

    url: str
    db: Any
    process: subprocess.Popen

    def session(self) -> requests.Session:
        """A browser-like client (keeps cookies, follows no redirects by itself)."""
        return requests.Session()

    def login(self, username: str, password: str = PASSWORD,
              client: requests.Session | None = None) -> requests.Session:
        """Sign in through the login form; the signed-in client."""
        client = client or self.session()
        status, _ = post_login(self, client, username, password)
        assert status == 303, status
        return client


def login_csrf(page: str) -> str:
    """The hidden CSRF field of a page."""
    match = re.search(r'name="csrf" value="([^"]*)"', page)
    assert match, page[:500]
    return match.group(1)


def post_login(server: ConsoleServer, client: requests.Session, username: str,
               password: str) -> tuple[int, str]:
    """Fetch the login form, then post it; status and body."""
    form = client.get(f"{server.url}/login", allow_redirects=False)
    answer = client.post(f"{server.url}/login", allow_redirects=False, data={
        "csrf": login_csrf(form.text), "username": username, "password": password, "next": "/"})
    return answer.status_code, answer.text


def start_console(mongo_url: str) -> Iterator[ConsoleServer]:
    """Seeded database, an owner per business and a front-desk account, the console running."""
    name = f"console_{uuid.uuid4().hex[:8]}"
    db = connect(mongo_url, name)
    ensure_indexes(db)
    from booking.catalog import load_seed_files
    from tests.conftest import SEED_FILES

    CatalogRepository(db).save(load_seed_files(SEED_FILES))
    accounts = Accounts(db, time_cost=1, memory_cost=8 * 1024, parallelism=1)
    accounts.ensure_indexes()
    accounts.create(SPA, f"owner@{SPA}", PASSWORD, OWNER)
    accounts.create(SPA, "desk@spa", PASSWORD, STAFF)
    accounts.create(SALON, f"owner@{SALON}", PASSWORD, OWNER)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "XENDIT_"))}
    env.update(MONGODB_URL=mongo_url, MONGODB_DB=name, CONSOLE_PORT=str(port),
               XENDIT_SECRET_KEY="xnd_development_console_tests",
               XENDIT_API_URL="http://127.0.0.1:9")  # never reached by these tests
    process = subprocess.Popen([sys.executable, "-m", "console"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, "the console exited while starting"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if b"console" in answer.read():
                    break
        except OSError:
            assert time.monotonic() < deadline, "the console did not start"
            time.sleep(0.1)  # polling a starting process, not synchronising a test
    try:
        yield ConsoleServer(url, db, process)
    finally:
        process.terminate()
        process.wait(timeout=20)
        db.client.drop_database(name)
        db.client.close()
