"""The waiting list on the console's day page, over real HTTP and in a real browser
(screenshot in results/console/waiting-list.png): who waits for the day in order, the time held
for the first one (in the calendar too), and nothing of another business's list."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from booking.bookings import BookingService
from booking.catalog import CatalogRepository
from booking.waitlist import Waitlist, Wish
from tests.conftest import ROOT, seed_weekday_ahead
from tests.console.http_support import PASSWORD, SALON, SPA, start_console
from tests.sandbox.conftest import CHROMIUM_ARGS

CHROMIUM = Path("/usr/bin/chromium")
DAY = seed_weekday_ahead(4)


@pytest.fixture(scope="module")
def console(mongo_url):
    yield from start_console(mongo_url)


@pytest.fixture(scope="module")
def waiting(console):
    """Two spa customers and one salon customer wait for DAY; the first spa one is offered
    Wayan's 10:00 (the rest of the day is free here: only the list is under test)."""
    core = BookingService(console.db, CatalogRepository(console.db).load())
    waitlist = Waitlist(core)
    salon_service = next(s.id for s in core.catalog.services_of(SALON))
    for business, customer, name, service, part in (
            (SPA, "6281230000201", "Putu Ayu", "balinese-massage", "morning"),
            (SPA, "6281230000202", "Kadek Wirawan", "natural-facial", None),
            (SALON, "6281230000203", "Secret Sari", salon_service, None)):
        waitlist.join(Wish(business, customer, service, DAY, part_of_day=part,
                           customer_name=name), {"sender_id": customer, "channel": "whatsapp"})
    start = datetime(DAY.year, DAY.month, DAY.day, 2, 0, tzinfo=timezone.utc)  # 10:00 Bali
    entry = waitlist.entries.find_one({"customer_id": "6281230000201"})
    claimed = waitlist.entries.find_one_and_update(
        {"_id": entry["_id"]}, {"$set": {"state": "OFFERING", "claimed_at": core.clock()},
                                "$inc": {"offers": 1}}, return_document=True)
    offer = waitlist._hold(claimed, start)  # what a round of matching does
    assert offer is not None
    return offer


def test_the_day_page_lists_who_waits_in_order_and_the_time_held(console, waiting):
    client = console.login(f"owner@{SPA}")
    page = client.get(f"{console.url}/day/{DAY.isoformat()}").text
    section = page[page.index('id="waiting-list"'):]
    section = section[:section.index("</section>")]
    assert section.index("Putu Ayu") < section.index("Kadek Wirawan")
    assert "Balinese Massage · morning" in section and "held until" in section
    assert "Secret Sari" not in page and "6281230000201" not in page  # no phone numbers
    assert f'data-code="{waiting.code}"' in page  # the held time, in the calendar
    assert "1 offered" in page and "<b>0</b> booked" in page  # an offer is no booking yet


def test_the_waiting_list_in_a_browser(console, waiting):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{console.url}/login")
            page.fill("#username", f"owner@{SPA}")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            page.wait_for_url("**/day/**")
            page.goto(f"{console.url}/day/{DAY.isoformat()}")
            rows = page.locator("#waiting-list li").all_inner_texts()
            block = page.locator(f'[data-code="{waiting.code}"]')
            assert block.is_visible()
            shots = ROOT / "results" / "console"
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "waiting-list.png"), full_page=True)
        finally:
            browser.close()
    assert [r.split(" · ")[0] for r in rows] == ["Balinese Massage", "Natural Glow Facial"]
    assert "held until" in rows[0] and "waiting" in rows[1]
    assert timedelta(0) <= waiting.hold_until - waiting.created_at <= timedelta(minutes=10)
