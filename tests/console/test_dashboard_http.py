"""The "Numbers" page over real HTTP (the console as its own process, a real mongod): the charts
as SVG images with their own CSP, owners only, the CSV export scoped to the signed-in business,
and the page in a real browser (screenshot in results/console/dashboard.png)."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from booking import orders
from booking.availability import working_windows
from booking.bookings import BookingRequest, BookingService
from booking.catalog import CatalogRepository
from booking.models import COMPLETED
from booking.split import split_payment
from console.app import CSP
from console.views.dashboard import SVG_CSP
from tests.conftest import ROOT
from tests.console.http_support import PASSWORD, SALON, SPA, ConsoleServer, start_console

BALI = ZoneInfo("Asia/Makassar")
CHROMIUM = Path("/usr/bin/chromium")


def _past_weekday():
    """A Tuesday to Friday (everyone in the seed works) a week or so ago, in Bali."""
    day = datetime.now(BALI).date() - timedelta(days=6)
    while day.weekday() not in (1, 2, 3, 4):
        day -= timedelta(days=1)
    return day


DAY = _past_weekday()
PERIOD = f"from={DAY - timedelta(days=2)}&to={DAY}"


@pytest.fixture(scope="module")
def console(mongo_url):
    yield from start_console(mongo_url)


@pytest.fixture(scope="module")
def bookings(console: ConsoleServer):
    """On DAY, booked two days ahead: the spa's paid and completed Balinese massage (an order
    of 8 s from slot to booking) and a Deep Tissue waiting for payment; the salon's haircut."""
    made_at = datetime(DAY.year, DAY.month, DAY.day, tzinfo=timezone.utc) - timedelta(days=2)
    core = BookingService(console.db, CatalogRepository(console.db).load(), clock=lambda: made_at)
    log = orders.OrderLog(console.db)
    log.record("o-1", SPA, orders.ORDER_RECEIVED, made_at - timedelta(seconds=30))
    log.record("o-1", SPA, orders.SLOT_SELECTED, made_at - timedelta(seconds=8))

    def at(hour: int) -> datetime:
        return datetime(DAY.year, DAY.month, DAY.day, hour, tzinfo=BALI).astimezone(timezone.utc)

    massage = core.create(BookingRequest("balinese-massage", at(11), "6281234000001",
                                         "Ayu Lestari", staff_id="wayan", order_id="o-1"))
    console.db.payments.insert_one({
        "_id": "pay-1", "code": massage.code, "attempt": 1, "business_id": SPA,
        "amount": massage.price, "currency": "IDR", "state": "PAID", "paid_at": made_at,
        "created_at": made_at, "updated_at": made_at})
    core.settle_payment(massage.code, "pay-1")
    massage = core.transition(massage.code, COMPLETED)
    waiting = core.create(BookingRequest("deep-tissue-massage", at(14), "6281234000003",
                                         "Made Wira", staff_id="made"))
    haircut = core.create(BookingRequest("haircut-blowdry", at(11), "6281234000002",
                                         "Secret Sari", staff_id="putu"))
    return massage, waiting, haircut


def charts_of(page: str) -> list[str]:
    """The ``src`` of every image of a page."""
    return [src.replace("&amp;", "&") for src in re.findall(r'<img[^>]*\ssrc="([^"]+)"', page)]


def test_the_owner_sees_four_charts_served_as_svg_with_the_bookings_numbers(console, bookings):
    massage, waiting, _ = bookings
    client = console.login(f"owner@{SPA}")
    page = client.get(f"{console.url}/dashboard?{PERIOD}")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP  # the page's own is unchanged
    assert page.text.count("<img") == 4 and 'href="/static/dashboard.css"' in page.text
    assert f'href="/export/bookings.csv?{PERIOD.replace("&", "&amp;")}"' in page.text
    share = split_payment(massage.price, CatalogRepository(console.db).load().business(SPA))
    svgs = {}
    for src in charts_of(page.text):
        answer = client.get(f"{console.url}{src}")
        assert answer.status_code == 200, src
        assert answer.headers["content-type"].startswith("image/svg+xml")
        assert answer.headers["content-security-policy"] == SVG_CSP
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.text.startswith("<?xml") and "<svg" in answer.text
        assert "<script" not in answer.text
        svgs[src.split("/")[-1].split(".svg")[0]] = answer.text
    assert set(svgs) == {"bookings", "revenue", "utilisation", "funnel"}
    assert "completed" in svgs["bookings"] and "pending payment" in svgs["bookings"]
    assert '<desc class="value">1</desc>' in svgs["bookings"]
    assert f"Vendor Rp{share.vendor:,}".replace(",", ".") in svgs["revenue"]
    assert f"Platform Rp{share.platform:,}".replace(",", ".") in svgs["revenue"]
    wayan = CatalogRepository(console.db).load().staff_member("wayan")
    working = sum((b - a).total_seconds() / 60 for d in range(3)
                  for a, b in working_windows(wayan, DAY - timedelta(days=d), BALI))
    assert "Wayan" in svgs["utilisation"] and f"{60 / working:.1%}".replace("%", " %") in svgs[
        "utilisation"]  # the massage's 60 minutes
    assert "Slot selection: 100.0% (target &gt; 95%)" in svgs["funnel"]
    assert "Time to confirm: 8.0 s (target &lt; 30 s)" in svgs["funnel"]
    assert "Rp350.000" in page.text and "pay-1" not in page.text and massage.code in page.text
    default = client.get(f"{console.url}/dashboard")
    assert default.status_code == 200 and default.text.count("<img") == 4
    assert 'id="tile-bookings">2<' in default.text  # DAY is within the last 30 days


def test_front_desk_staff_get_403_for_the_numbers_charts_and_export(console, bookings):
    client = console.login("desk@spa")
    for path in ("/dashboard", "/dashboard/charts/bookings.svg", "/export/bookings.csv"):
        answer = client.get(f"{console.url}{path}?{PERIOD}", allow_redirects=False)
        assert answer.status_code == 403, path
        assert "Rp" not in answer.text and "<svg" not in answer.text


def test_the_csv_holds_the_signed_in_business_bookings_only(console, bookings):
    massage, waiting, haircut = bookings
    client = console.login(f"owner@{SPA}")
    answer = client.get(f"{console.url}/export/bookings.csv?{PERIOD}&business={SALON}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="bookings-{SPA}-{DAY - timedelta(days=2)}-{DAY}.csv"')
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["code"], r["status"], r["customer name"]) for r in rows] == [
        (massage.code, "COMPLETED", "Ayu Lestari"), (waiting.code, "PENDING_PAYMENT", "Made Wira")]
    assert haircut.code not in answer.text and "Secret Sari" not in answer.text
    assert console.db.console_audit.find_one({"action": "bookings.export",
                                              "actor": f"owner@{SPA}"})
    salon = console.login(f"owner@{SALON}").get(f"{console.url}/export/bookings.csv?{PERIOD}")
    assert haircut.code in salon.text and massage.code not in salon.text


def test_a_reversed_or_too_long_period_is_refused_with_a_message(console, bookings):
    client = console.login(f"owner@{SPA}")
    answer = client.get(f"{console.url}/dashboard?from={DAY}&to={DAY - timedelta(days=1)}")
    assert answer.status_code == 400 and "ends before it starts" in answer.text
    assert "<img" not in answer.text
    answer = client.get(f"{console.url}/dashboard?from=2024-01-01&to=2025-06-30")
    assert answer.status_code == 400 and "at most 366 days" in answer.text
    chart = client.get(f"{console.url}/dashboard/charts/funnel.svg?from={DAY}&to=2020-01-01")
    assert chart.status_code == 400
    assert client.get(f"{console.url}/dashboard/charts/secrets.svg").status_code == 404
    assert client.get(f"{console.url}/dashboard?from=yesterday&to=").status_code == 200


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
def test_the_page_and_its_charts_render_in_a_browser(console, bookings):
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(f"{m.text} {m.location.get('url')}")
                    if m.type == "error" and "favicon.ico" not in m.location.get("url", "")
                    else None)
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
                    if r.status >= 400 else None)
            page.goto(f"{console.url}/login")
            page.fill("#username", f"owner@{SPA}")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            page.wait_for_url("**/day/**")
            page.goto(f"{console.url}/dashboard?{PERIOD}")
            page.wait_for_function("Array.from(document.images).every(i => i.complete)")
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
            shots = ROOT / "results" / "console"
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
        finally:
            browser.close()
    assert len(widths) == 4 and all(w > 0 for w in widths), widths
    assert not problems, problems  # no CSP refusal, no missing file
