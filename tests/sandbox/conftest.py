"""The stack as `make run` starts it on a laptop with no credentials: MongoDB, the sandbox
(phone, Graph API, Flows client, Xendit), action server and Rasa server; and a headless
Chromium (Debian's, driven by Playwright) to use the phone page and the checkout like a
customer. Screenshots of each step go to results/sandbox/."""
from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
from pymongo import MongoClient

from tests.conftest import ROOT
from tools.mongod import free_port

SHOTS = ROOT / "results" / "sandbox"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SPA, SALON = "110000000000001", "110000000000002"


@dataclass
class SandboxStack:
    """The running stack: where the phone page is, and the product's database."""

    url: str  # the sandbox (phone page at /, checkout and payments under /xendit/)
    rasa_url: str
    graph_token: str  # what the Graph stand-in expects (the product's WHATSAPP_ACCESS_TOKEN)
    db: object
    startup: str
    log: deque = field(default_factory=lambda: deque(maxlen=60))  # the stack's newest lines
    console_url: str = ""

    def console_login(self, business_name: str) -> tuple[str, str]:
        """The owner account `make run` made for a business, as it printed it."""
        match = re.search(rf"{re.escape(business_name)}: (\S+) / (\S+)  \(shown once\)",
                          self.startup)
        assert match, self.startup
        return match.group(1), match.group(2)

    def log_tail(self) -> str:
        """The stack's newest log lines, for a failure message."""
        return "".join(list(self.log))


@pytest.fixture(scope="module")
def sandbox_stack(mongo_url: str, tmp_path_factory) -> Iterator[SandboxStack]:
    """`python -m tools.run` with no WhatsApp or Xendit credentials in its environment."""
    if not (ROOT / "models" / "assistant.tar.gz").exists():
        pytest.fail("no trained model: run through `make test`, which trains first")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WHATSAPP_", "XENDIT_", "SANDBOX")) and k != "PRODUCTION"}
    ports = {name: str(free_port()) for name in ("RASA_PORT", "ACTION_SERVER_PORT",
                                                 "SANDBOX_PORT", "CONSOLE_PORT")}
    token = secrets.token_urlsafe(16)
    env.update(ports, MONGODB_URL=mongo_url, MONGODB_DB="sandbox_e2e", SANDBOX_GRAPH_TOKEN=token,
               SANDBOX_DATA_DIR=str(tmp_path_factory.mktemp("sandbox")))
    client = MongoClient(mongo_url)
    client.drop_database("sandbox_e2e")
    proc = subprocess.Popen([sys.executable, "-m", "tools.run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "Ready." in line:
            break
    else:
        raise AssertionError("the stack did not start:\n" + "".join(lines[-40:]))
    startup = "".join(lines)
    match = re.search(r"Open (http://127\.0\.0\.1:\d+) to chat as a customer", startup)
    assert match, startup
    stack = SandboxStack(match.group(1), f"http://127.0.0.1:{ports['RASA_PORT']}", token,
                         client.sandbox_e2e, startup,
                         console_url=f"http://127.0.0.1:{ports['CONSOLE_PORT']}")
    threading.Thread(target=lambda: stack.log.extend(proc.stdout), daemon=True).start()
    try:
        yield stack
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        client.drop_database("sandbox_e2e")
        client.close()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless (no browser download: `make test` installs it). Module
    scope: Playwright's sync API keeps its event loop marked running in this thread until it
    stops, and later tests of the session call ``asyncio.run``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    """A fresh browser profile per test (its own tabs, storage and popups)."""
    ctx = browser.new_context(viewport={"width": 520, "height": 860})
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()


def shot(page, name: str) -> Path:
    """Save a screenshot of ``page`` as results/sandbox/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
