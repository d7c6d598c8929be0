"""Drives the sandbox phone page like a customer: open a chat, type, tap reply buttons, pick
list rows, open the Flow form; waits on what the page shows (Playwright's own waiting, never
a sleep)."""
from __future__ import annotations

from typing import Any, Optional

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.sandbox.conftest import SandboxStack, shot

NEWEST_BOT_MESSAGES = """([before, text]) => [...document.querySelectorAll('.msg.out')]
    .slice(before).some(m => m.innerText.includes(text))"""


class PhonePage:
    """One customer's phone in one browser tab."""

    def __init__(self, context: Any, stack: SandboxStack, name: str, number: str,
                 label: str) -> None:
        self.label = label  # names this phone's screenshots: results/sandbox/<label>-NN-<step>
        self.context = context
        self.stack = stack
        self.name = name
        self.number = number
        self.page = context.new_page()
        self.steps = 0

    def open_chat(self, business: str) -> "PhonePage":
        """Pick this customer, then the business's chat."""
        self.page.goto(self.stack.url)
        self.page.fill("#customer-name", self.name)
        self.page.fill("#customer-number", self.number)
        self.page.click("#customer-start")
        self.page.locator(".chat-row", has_text=business).click()
        self.page.locator("#composer").wait_for()
        return self

    # ------------------------------------------------------------------ reading
    def bot_count(self) -> int:
        """How many bot bubbles the chat shows."""
        return self.page.locator(".msg.out").count()

    def wait_bot(self, text: str, before: int) -> Any:
        """The newest bot bubble containing ``text`` that came after the first ``before``."""
        try:
            self.page.wait_for_function(NEWEST_BOT_MESSAGES, arg=[before, text], timeout=60_000)
        except PlaywrightTimeout:
            self.shot("timed-out")
            came = self.page.locator(".msg.out").all_inner_texts()[before:]
            raise AssertionError(f"no bot message with {text!r}; after it came {came!r}\n"
                                 f"the stack's log ends:\n{self.stack.log_tail()}") from None
        return self.page.locator(".msg.out", has_text=text).last

    def shot(self, step: str) -> None:
        """A numbered screenshot of this phone under results/sandbox/."""
        self.steps += 1
        shot(self.page, f"{self.label}-{self.steps:02d}-{step}")

    # ------------------------------------------------------------------ acting
    def send(self, text: str, expect: str) -> Any:
        """Type and send ``text``; the bot bubble that answers with ``expect``."""
        before = self.bot_count()
        self.page.fill("#composer", text)
        self.page.click("#send")
        return self.wait_bot(expect, before)

    def tap(self, bubble: Any, title: str, expect: str) -> Any:
        """Tap the choice ``title`` under ``bubble`` (a reply button, or a row of its list, as
        the greeting's four-item menu is); the answer containing ``expect``."""
        if bubble.locator("button.list-button").count():
            return self.pick(bubble, title, expect)
        before = self.bot_count()
        bubble.locator("button.reply-button", has_text=title).click()
        return self.wait_bot(expect, before)

    def pick(self, bubble: Any, row: Optional[str], expect: str) -> Any:
        """Open the list under ``bubble``, choose ``row`` (None: the first), send."""
        before = self.bot_count()
        bubble.locator("button.list-button").click()
        rows = self.page.locator("label.list-row")
        (rows.first if row is None else rows.filter(has_text=row).first).click()
        self.page.click("button.list-send")
        return self.wait_bot(expect, before)

    def first_time(self, bubble: Any, expect: str) -> Any:
        """Choose the first time a bot message offers (a list, or reply buttons)."""
        if bubble.locator("button.list-button").count():
            return self.pick(bubble, None, expect)
        before = self.bot_count()
        bubble.locator("button.reply-button").first.click()
        return self.wait_bot(expect, before)
