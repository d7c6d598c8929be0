"""The console in a real browser, on the stack `make run` starts (sandbox phone, Rasa, action
server, console): the owner signs in with the account `make run` printed, sees the booking a
customer made on the phone, moves it (the customer's phone hears of it), records a no-show.
Screenshots under results/console/."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from bson.codec_options import CodecOptions

from booking.bookings import BookingRequest, BookingService
from booking.catalog import CatalogRepository
from booking.scheduler import ScheduledMessages
from tests.sandbox.conftest import ROOT, browser, context, sandbox_stack  # noqa: F401 (fixtures)
from tests.sandbox.phone_driver import PhonePage
from tests.sandbox.test_phone_e2e import SPA_NAME, book_by_tapping

pytestmark = pytest.mark.e2e
SHOTS = ROOT / "results" / "console"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(context, stack, business: str = SPA_NAME):
    username, password = stack.console_login(business)
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(stack.console_url)
    page.wait_for_url("**/login**")
    page.fill("#username", username)
    page.fill("#password", password)
    shot(page, "01-login")
    page.click("#sign-in")
    page.locator("#day-title").wait_for()
    return page


def test_the_owner_sees_a_phone_booking_moves_it_and_the_phone_is_told(context, sandbox_stack):
    phone = PhonePage(context, sandbox_stack, "Nyoman", "6281230000021", "c1-phone")
    code = book_by_tapping(phone, "Deep Tissue Massage")
    booking = sandbox_stack.db.bookings.find_one({"code": code})
    tz_day = (booking["start"].replace(tzinfo=timezone.utc) + timedelta(hours=8)).date()

    desk = sign_in(context, sandbox_stack)
    desk.goto(f"{sandbox_stack.console_url}/day/{tz_day.isoformat()}")
    block = desk.locator(f"a.booking[data-code='{code}']")
    block.wait_for()
    assert "Nyoman" in block.inner_text() and "Deep Tissue" in block.inner_text()
    shot(desk, "02-day-calendar")
    block.click()
    desk.locator("#booking-code").wait_for()
    assert desk.inner_text("#booking-status") in ("confirmed", "pending payment")
    shot(desk, "03-booking")

    desk.click("#move")
    desk.locator("#move-banner").wait_for()
    free = desk.locator(".column form.free button")
    assert free.count() > 0
    shot(desk, "04-move-pick-a-time")
    target = free.last
    label = target.get_attribute("data-start")
    before = phone.bot_count()
    target.click()
    desk.locator("#done").wait_for()
    assert "Moved" in desk.inner_text("#done")
    assert label in desk.inner_text("#booking-when")
    shot(desk, "05-moved")

    told = phone.wait_bot("has moved your booking", before)
    assert code in told.inner_text() and label in told.inner_text()
    phone.shot("told-of-the-move")
    entry = sandbox_stack.db.console_audit.find_one({"action": "moved", "target": code})
    assert entry and entry["actor"].startswith("owner@")


def test_a_no_show_is_recorded_and_frees_the_time(context, sandbox_stack):
    # a booking that started yesterday, made through the core as the bot would have
    now = datetime.now(timezone.utc)
    catalog = CatalogRepository(sandbox_stack.db).load()
    past = BookingService(sandbox_stack.db, catalog, clock=lambda: now - timedelta(days=2))
    yesterday = (now + timedelta(hours=8) - timedelta(days=1)).date()
    slot = past.free_slots("balinese-massage", yesterday)[0]
    booking = past.create(BookingRequest("balinese-massage", slot.start, "6281230000022",
                                         "Komang"))
    if booking.status == "PENDING_PAYMENT":  # the spa takes payment up front: it was paid
        past.transition(booking.code, "CONFIRMED")
    desk = sign_in(context, sandbox_stack)
    desk.goto(f"{sandbox_stack.console_url}/bookings/{booking.code}")
    desk.locator("#mark-no-show").click()
    desk.locator("#done").wait_for()
    assert desk.inner_text("#booking-status") == "no show"
    assert sandbox_stack.db.bookings.find_one({"code": booking.code})["status"] == "NO_SHOW"
    assert "cells" not in sandbox_stack.db.bookings.find_one({"code": booking.code})
    shot(desk, "06-no-show")


def offered_times(phone: PhonePage, bubble) -> list[str]:
    """Every start time a bot message offers, following "Later times ▸" to the end."""
    times: list[str] = []
    while True:
        if not bubble.locator("button.list-button").count():  # a few times: reply buttons
            buttons = bubble.locator("button.reply-button").all_inner_texts()
            return times + [b.strip() for b in buttons if b.strip()[:2].isdigit()]
        bubble.locator("button.list-button").click()
        rows = phone.page.locator("label.list-row .list-row-title").all_inner_texts()
        times += [r for r in rows if r[:2].isdigit()]
        if not any(r.startswith("Later times") for r in rows):
            phone.page.click("#list-close")
            return times
        before = phone.bot_count()
        phone.page.locator("label.list-row", has_text="Later times").click()
        phone.page.click("button.list-send")
        bubble = phone.wait_bot("Later times for", before)


def test_a_service_added_in_the_console_is_booked_by_typing_its_name(context, sandbox_stack):
    desk = sign_in(context, sandbox_stack)
    desk.goto(f"{sandbox_stack.console_url}/catalog")
    desk.click("#add-service")
    desk.fill("input[name=name]", "Lava Shell Massage")
    desk.select_option("select[name=category]", "massage")
    desk.fill("input[name=duration_minutes]", "60")
    desk.fill("input[name=price]", "520000")
    desk.fill("input[name=aliases]", "lava shells")
    shot(desk, "07-new-service")
    desk.click("#save-service")
    desk.locator("#saved").wait_for()
    desk.goto(f"{sandbox_stack.console_url}/catalog/staff/wayan")
    desk.check("input[name=services][value=lava-shell-massage]")
    desk.click("#save-staff")
    desk.locator("#saved").wait_for()
    shot(desk, "08-catalog")

    phone = PhonePage(context, sandbox_stack, "Putri", "6281230000023", "c3-new-service")
    phone.open_chat(SPA_NAME)
    days = phone.send("I'd like a lava shell massage please", "Which day")
    times = phone.tap(days, "Tomorrow", "Lava Shell Massage")
    card = phone.first_time(times, "Please confirm your booking")
    assert "Lava Shell Massage" in card.inner_text() and "520.000" in card.inner_text()
    booked = phone.tap(card, "Confirm", "Booked ✅")
    phone.shot("booked")
    code = "BK" + booked.inner_text().split("BK", 1)[1][:6]
    assert sandbox_stack.db.bookings.find_one({"code": code})["service_id"] == \
        "lava-shell-massage"


def test_a_blocked_afternoon_leaves_the_bots_offer(context, sandbox_stack):
    # the facial's only therapist, Nyoman, works 09:00-17:00 except on Tuesdays
    day = (datetime.now(timezone.utc) + timedelta(hours=8)).date() + timedelta(days=2)
    while day.weekday() == 1:
        day += timedelta(days=1)
    ask = f"natural glow facial on {day:%a} {day.day} {day:%b}"
    phone = PhonePage(context, sandbox_stack, "Wulan", "6281230000024", "c4-blocked")
    phone.open_chat(SPA_NAME)
    before = offered_times(phone, phone.send(ask, "Free times for Natural Glow Facial"))
    assert any(t >= "13:15" for t in before), before

    desk = sign_in(context, sandbox_stack)
    desk.goto(f"{sandbox_stack.console_url}/day/{day.isoformat()}")
    desk.select_option("#block-form select[name=staff]", "nyoman")
    desk.fill("#block-form input[name=from]", "13:00")
    desk.fill("#block-form input[name=to]", "17:00")
    desk.click("#block-button")
    desk.locator("#saved").wait_for()
    assert "Nyoman" in desk.inner_text("#blocks")
    shot(desk, "09-blocked-afternoon")

    after = offered_times(phone, phone.send(ask, "Free times for Natural Glow Facial"))
    assert after and all(t < "13:00" for t in after), after
    phone.shot("morning-only")


def test_a_person_takes_over_the_chat_replies_and_hands_it_back(context, sandbox_stack):
    number = "6281230000031"
    phone = PhonePage(context, sandbox_stack, "Kadek", number, "c4-handoff")
    phone.open_chat(SPA_NAME)
    asked = phone.send("I want to talk to a person", "I've asked the")
    assert "booking details" in asked.inner_text()
    phone.shot("asked-for-a-person")

    desk = sign_in(context, sandbox_stack)
    desk.click("nav a[href='/inbox']")
    row = desk.locator("#inbox-waiting a.conversation", has_text="Kadek")
    row.wait_for()
    assert "waiting" in row.inner_text() and "asked for a person" in row.inner_text()
    shot(desk, "20-inbox-waiting")
    row.click()
    desk.locator(".msg-customer", has_text="I want to talk to a person").wait_for()
    desk.click("#take")
    desk.locator("#done", has_text="You have this conversation").wait_for()

    before = phone.bot_count()
    desk.fill("#reply", "Hi Kadek, this is the front desk. How can we help?")
    desk.click("#send")
    desk.locator("#done", has_text="Sent to WhatsApp").wait_for()
    phone.wait_bot("this is the front desk", before)
    phone.shot("staff-reply")

    # Now the customer writes: the person sees it, the bot stays silent.
    sent_before = sandbox_stack.db.wa_outbox.count_documents({"to": number})
    phone.page.fill("#composer", "Can I bring my own massage oil?")
    phone.page.click("#send")
    seen = desk.locator(".msg-customer.to-staff", has_text="own massage oil")
    seen.wait_for()  # the console polls the transcript: no reload
    assert "the bot did not answer" in seen.inner_text()
    shot(desk, "21-conversation-with-a-person")
    [message] = sandbox_stack.db.wa_inbox.find({"sender": number, "text": {"$regex": "own massage"}})
    assert message["status"] == "done"
    assert sandbox_stack.db.wa_outbox.count_documents({"to": number}) == sent_before
    assert phone.bot_count() == before + 1

    desk.click("#hand-back")
    desk.locator("#done", has_text="Handed back").wait_for()
    back = phone.wait_bot("I'm back", before + 1)
    assert back is not None
    phone.send("what treatments do you have?", "we offer")
    phone.shot("bot-is-back")
    entries = [e["action"] for e in sandbox_stack.db.console_audit.find(
        {"action": {"$regex": "^conversation_"}})]
    assert entries[-3:] == ["conversation_taken", "conversation_reply", "conversation_handed_back"]


def test_the_desk_sends_a_reminder_now_the_phone_shows_it_in_and_outside_the_window(
        context, sandbox_stack):
    """The sandbox control: a booking's next scheduled message sent now, seen on the phone,
    first as a chat message with its buttons, then (a day of silence later) as the template."""
    number = "6281230000041"  # (a number no other test uses: its own chat and bookings)
    phone = PhonePage(context, sandbox_stack, "Wulan", number, "c2-reminder")
    phone.open_chat(SPA_NAME)
    phone.send("Hi", "booking assistant")
    aware = sandbox_stack.db.client.get_database(  # (as the product reads it: UTC, aware)
        sandbox_stack.db.name, codec_options=CodecOptions(tz_aware=True, tzinfo=timezone.utc))
    core = BookingService(aware, CatalogRepository(aware).load())
    day = (datetime.now(timezone.utc) + timedelta(hours=8, days=3)).date()
    slot = core.free_slots("balinese-massage", day)[0]
    booking = core.create(BookingRequest("balinese-massage", slot.start, number, "Wulan"))
    if booking.status == "PENDING_PAYMENT":  # the spa takes payment up front: it was paid
        core.transition(booking.code, "CONFIRMED")

    desk = sign_in(context, sandbox_stack)
    desk.goto(f"{sandbox_stack.console_url}/bookings/{booking.code}")
    rows = desk.locator("#scheduled tr")
    assert [r.split("\t")[0] for r in rows.all_inner_texts()] == [
        "Reminder, 24 h before", "Reminder, 2 h before", "Completed if nobody marks it",
        "How was it? (1-5)", "Book again?"]
    assert "waiting" in rows.first.inner_text()
    shot(desk, "07-scheduled-messages")

    before = phone.bot_count()
    desk.click("#send-now")
    desk.locator("#done").wait_for()
    assert "goes out now" in desk.inner_text("#done")
    reminder = phone.wait_bot("Reminder: your Balinese Massage", before)
    assert booking.code in reminder.inner_text()
    phone.shot("reminder")
    phone.tap(reminder, "Confirm", "We look forward to seeing you")
    phone.shot("reminder-confirmed")
    desk.reload()
    assert "confirmed by the customer" in desk.inner_text("#scheduled")
    shot(desk, "08-reminder-confirmed")

    phone.page.click("#chat-menu-button")
    phone.page.click("#menu-age")  # "Pretend a day passed": only a template may go now
    phone.page.get_by_text("the bot may now send only templates").wait_for()
    before = phone.bot_count()
    with desk.expect_navigation():
        desk.click("#send-now")
    # Meta refuses the chat message (131047): the reminder's own template goes instead
    template = phone.wait_bot("Reminder: your Balinese Massage is on", before)
    assert template.get_attribute("data-type") == "template", template.inner_text()
    phone.shot("reminder-template")
    phone.tap(template, "Reschedule", "Which day")  # the template's button: the chat's own
    phone.shot("reminder-template-reschedule")
    entry = sandbox_stack.db.console_audit.find_one({"action": "send_now",
                                                     "target": booking.code})
    assert entry and entry["after"]["kind"] == "reminder_24h"


def test_after_a_visit_the_desk_sends_the_feedback_question_and_the_offer_now(
        context, sandbox_stack):
    """The sandbox control after a visit: the feedback question (a 5 gets the review link, and
    the score shows on the dashboard), then the "book again?" offer, seen on the phone."""
    number = "6281230000042"
    phone = PhonePage(context, sandbox_stack, "Putri", number, "c3-after-visit")
    phone.open_chat(SPA_NAME)
    phone.send("Hi", "booking assistant")
    aware = sandbox_stack.db.client.get_database(
        sandbox_stack.db.name, codec_options=CodecOptions(tz_aware=True, tzinfo=timezone.utc))
    now = datetime.now(timezone.utc)
    catalog = CatalogRepository(aware).load()
    past = BookingService(aware, catalog, clock=lambda: now - timedelta(days=2))
    yesterday = (now + timedelta(hours=8) - timedelta(days=1)).date()
    slot = past.free_slots("balinese-massage", yesterday)[-1]
    booking = past.create(BookingRequest("balinese-massage", slot.start, number, "Putri"))
    if booking.status == "PENDING_PAYMENT":  # paid
        past.transition(booking.code, "CONFIRMED")
    ScheduledMessages.of(past).plan()  # (planned back then, before the visit)
    # not due yet, whatever the time of day the test runs (after 08:00 in Bali the question
    # about an evening visit yesterday would be due, and go by itself before the desk's tap)
    aware.scheduled_messages.update_many(
        {"code": booking.code, "kind": "feedback", "state": "PENDING"},
        {"$set": {"next_at": now + timedelta(hours=12)}})
    past.transition(booking.code, "COMPLETED")  # the desk marked it

    desk = sign_in(context, sandbox_stack)
    desk.goto(f"{sandbox_stack.console_url}/bookings/{booking.code}")
    shot(desk, "09-after-visit-messages")
    before = phone.bot_count()
    desk.click("#send-now")
    question = phone.wait_bot("How was your Balinese Massage", before)
    phone.shot("feedback-question")
    thanks = phone.pick(question, "⭐⭐⭐⭐⭐", "that means a lot")
    assert thanks.locator("a.cta-button", has_text="Write a review").count() == 1
    phone.shot("feedback-thanks-and-review-link")

    before = phone.bot_count()
    desk.goto(f"{sandbox_stack.console_url}/bookings/{booking.code}")
    desk.click("#send-now")
    offer = phone.wait_bot("book it again", before)
    phone.shot("book-again")
    staff = catalog.staff_member(booking.staff_id).name
    phone.tap(offer, f"Book with {staff}", "Which day")
    phone.shot("book-again-tapped")

    desk.goto(f"{sandbox_stack.console_url}/dashboard")
    scores = desk.inner_text("#feedback")
    assert "Balinese Massage" in scores and "5.0" in scores and staff in scores
    shot(desk, "10-dashboard-scores")
