"""The customer's whole journey in the sandbox, in a real browser, on the stack `make run`
starts without credentials: the phone page sends signed webhooks to the product, the bot's
answers arrive through the Graph stand-in, the Flow form talks to the encrypted endpoint, and
the Pay now link opens the Xendit checkout, whose callbacks confirm the booking."""
from __future__ import annotations

import io
import json
import re
import time
import urllib.error
import urllib.request
from datetime import date, timedelta

import pytest
from pypdf import PdfReader

from tests.sandbox.conftest import SALON, SPA, shot
from tests.sandbox.phone_driver import PhonePage

pytestmark = pytest.mark.e2e
SPA_NAME, SALON_NAME = "Ubud Serenity Spa", "Canggu Glow Salon"


def wait_until(condition, timeout: float = 30.0) -> None:
    """Poll the product's database (written by another process) until ``condition()``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


# What the customer types, taps and waits for, in each language (the bot's own words).
ENGLISH = {"hi": "Hi", "greeting": "booking assistant", "book": "Book a treatment",
           "which": "Which treatment", "day": "Which day", "tomorrow": "Tomorrow",
           "times": "times", "card": "Please confirm your booking", "confirm": "Confirm",
           "booked": "Booked ✅", "pay": "please pay", "pay_now": "Pay now",
           "paid": "Payment received"}
INDONESIAN = {"hi": "Halo kak", "greeting": "asisten booking", "book": "Booking perawatan",
              "which": "Perawatan apa", "day": "hari apa", "tomorrow": "Besok",
              "times": "Jam yang tersedia", "card": "Mohon konfirmasi booking Anda",
              "confirm": "Konfirmasi", "booked": "Booking berhasil ✅", "pay": "silakan bayar",
              "pay_now": "Bayar sekarang", "paid": "Pembayaran sudah kami terima"}


def book_by_tapping(phone: PhonePage, treatment: str, business: str = SPA_NAME,
                    words: dict[str, str] = ENGLISH) -> str:
    """"Hi", then only taps: menu, treatment, Tomorrow, the first time, Confirm; the code."""
    phone.open_chat(business)
    menu = phone.send(words["hi"], words["greeting"])
    phone.shot("greeting")
    treatments = phone.tap(menu, words["book"], words["which"])
    days = phone.pick(treatments, treatment, words["day"])
    phone.shot("treatment")
    times = phone.tap(days, words["tomorrow"], words["times"])
    phone.shot("times")
    card = phone.first_time(times, words["card"])
    phone.shot("confirm-card")
    booked = phone.tap(card, words["confirm"], words["booked"])
    phone.shot("booked")
    return "BK" + booked.inner_text().split("BK", 1)[1][:6]


def test_book_a_balinese_massage_only_by_tapping(context, sandbox_stack):
    phone = PhonePage(context, sandbox_stack, "Ayu", "6281230000001", "1-tapping")
    code = book_by_tapping(phone, "Balinese Massage")
    booking = sandbox_stack.db.bookings.find_one({"code": code})
    assert booking is not None, code
    assert booking["customer_id"] == "6281230000001"  # the number WhatsApp proved
    phone.wait_bot("please pay", 0)  # the last message of the turn, sent after the card
    shown = phone.page.locator(".msg").evaluate_all("ms => ms.map(m => m.dataset.id)")
    phone.page.reload()  # the history lives in the sandbox, not the page
    phone.page.locator(f".msg[data-id='{shown[-1]}']").wait_for()
    assert phone.page.locator(".msg").evaluate_all("ms => ms.map(m => m.dataset.id)") == shown
    assert booking["service_id"] == "balinese-massage" and booking["status"] == "PENDING_PAYMENT"
    # the bot read each of the customer's messages (blue ticks)...
    phone.page.wait_for_function("""() => [...document.querySelectorAll('.msg.in .ticks')]
        .every(t => t.dataset.status === 'read')""")
    # ...and the phone reported each bot message delivered and read, as status webhooks
    shown = phone.page.locator(".msg.out").evaluate_all("ms => ms.map(m => m.dataset.id)")
    wait_until(lambda: {s["_id"] for s in sandbox_stack.db.wa_statuses.find(
        {"recipient": "6281230000001"})} >= {f"{i}:{k}" for i in shown
                                              for k in ("sent", "delivered", "read")})


def test_pay_on_the_checkout_page_then_get_the_confirmation_and_pdf(context, sandbox_stack):
    phone = PhonePage(context, sandbox_stack, "Ben", "6281230000002", "2-pay")
    code = book_by_tapping(phone, "Balinese Massage")
    pay = phone.wait_bot("please pay", 0)
    with context.expect_page() as opened:
        pay.locator("a.cta-button", has_text="Pay now").click()
    checkout = opened.value
    checkout.wait_for_load_state()
    assert "Rp" in checkout.inner_text("#amount") and "350" in checkout.inner_text("#amount")
    shot(checkout, "2-pay-checkout-1-pending")
    before = phone.bot_count()
    checkout.click("#pay-button")
    checkout.locator("#result").wait_for()
    shot(checkout, "2-pay-checkout-2-paid")
    confirmed = phone.wait_bot("Payment received", before)
    assert code in confirmed.inner_text()
    document = phone.page.locator(".msg.out[data-type=document]").last
    document.wait_for()
    phone.shot("paid-pdf")
    link = document.locator("a.document").get_attribute("href")
    with urllib.request.urlopen(link, timeout=30) as answer:
        assert answer.headers["content-type"] == "application/pdf"
        pdf = PdfReader(io.BytesIO(answer.read()))
    assert code in "".join(p.extract_text() for p in pdf.pages)
    assert sandbox_stack.db.bookings.find_one({"code": code})["status"] == "CONFIRMED"


def test_an_indonesian_customer_books_pays_and_gets_an_indonesian_pdf(context, sandbox_stack):
    """Greeted in Indonesian from "Halo kak", every list, card, link and the PDF receipt in
    Indonesian, the treatment under its Indonesian name."""
    words = INDONESIAN
    phone = PhonePage(context, sandbox_stack, "Putu", "6281230000011", "7-indonesian")
    code = book_by_tapping(phone, "Pijat Bali", words=words)
    card = phone.page.locator(".msg.out", has_text=words["card"]).last.inner_text()
    assert "Pijat Bali" in card and "Rp350.000" in card, card
    pay = phone.wait_bot(words["pay"], 0)
    with phone.page.context.expect_page() as opened:
        pay.locator("a.cta-button", has_text=words["pay_now"]).click()
    checkout = opened.value
    checkout.wait_for_load_state()
    before = phone.bot_count()
    checkout.click("#pay-button")
    checkout.locator("#result").wait_for()
    confirmed = phone.wait_bot(words["paid"], before)
    assert code in confirmed.inner_text()
    document = phone.page.locator(".msg.out[data-type=document]").last
    document.wait_for()
    phone.shot("paid-pdf")
    with urllib.request.urlopen(document.locator("a.document").get_attribute("href"),
                                timeout=30) as answer:
        assert answer.headers["content-type"] == "application/pdf"
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(answer.read())).pages)
    for said in (f"Konfirmasi booking dan invoice {code}", "Kode booking", "Pijat Bali",
                 "Jumlah dibayar", "Rp350.000"):
        assert said in text, (said, text)
    assert "Amount paid" not in text
    assert sandbox_stack.db.customer_languages.find_one(
        {"_id": {"$regex": "6281230000011$"}})["language"] == "id"


def test_an_invoice_left_to_expire_brings_the_recovery_buttons(context, sandbox_stack):
    phone = PhonePage(context, sandbox_stack, "Citra", "6281230000003", "3-expire")
    code = book_by_tapping(phone, "Hot Stone Massage")
    pay = phone.wait_bot("please pay", 0)
    with context.expect_page() as opened:
        pay.locator("a.cta-button").click()
    checkout = opened.value
    before = phone.bot_count()
    checkout.click("#expire-button")
    checkout.locator("#result").wait_for()
    shot(checkout, "3-expire-checkout")
    expired = phone.wait_bot("has expired", before)
    assert code in expired.inner_text()
    titles = expired.locator("button.reply-button").all_inner_texts()
    assert titles == ["Pay again", "Pick another time"]
    phone.shot("recovery")
    assert sandbox_stack.db.bookings.find_one({"code": code})["status"] == "EXPIRED"


def test_book_through_the_flow_form(context, sandbox_stack):
    phone = PhonePage(context, sandbox_stack, "Dewi", "6281230000004", "4-flow").open_chat(SPA_NAME)
    menu = phone.send("Hi", "booking assistant")
    phone.tap(menu, "Book a treatment", "booking form")
    offer = phone.page.locator(".msg.out[data-type=interactive]", has=phone.page.locator(
        "button.flow-button")).last
    offer.locator("button.flow-button").click()
    form = phone.page.locator("#flow")
    form.locator("select[name=service]").select_option("natural-facial")
    phone.shot("service")
    form.locator("#flow-footer").click()
    # the facial's only therapist has Tuesdays off: those days cannot be chosen
    calendar = form.locator("[data-date]").first
    calendar.wait_for()
    tuesdays = [d for d in form.locator("[data-date]").evaluate_all(
        "cells => cells.map(c => c.dataset.date)") if date.fromisoformat(d).weekday() == 1]
    assert tuesdays and all(form.locator(f"[data-date='{d}']").get_attribute("aria-disabled")
                            == "true" for d in tuesdays)
    phone.shot("calendar")
    form.locator(f"[data-date='{tuesdays[-1]}']").click(force=True)
    assert form.locator("#flow-footer").is_disabled()  # the Tuesday was not taken
    bookable = form.locator("[data-date]:not([aria-disabled=true])")
    if not bookable.count():  # the rest of this month is taken or off: the next month
        form.locator("button.cal-next").click()
    day = bookable.first
    chosen = date.fromisoformat(day.get_attribute("data-date"))
    day.click()
    form.locator("#flow-footer").click()
    form.locator("select[name=slot]").wait_for()
    form.locator("select[name=slot]").select_option(index=1)
    phone.shot("time")
    form.locator("#flow-footer").click()
    form.locator("input[name=name]").fill("Dewi")
    form.locator("textarea[name=notes]").fill("Sensitive skin")
    form.locator("#flow-footer").click()
    form.get_by_text("Natural Glow Facial").wait_for()
    phone.shot("summary")
    before = phone.bot_count()
    form.locator("#flow-footer").click()  # Confirm on the summary screen
    form.wait_for(state="hidden")
    phone.page.locator(".msg.in[data-type=interactive]", has_text="Sent").last.wait_for()
    card = phone.wait_bot("Please confirm your booking", before)
    phone.shot("confirm-card")
    booked = phone.tap(card, "Confirm", "Booked ✅")
    code = "BK" + booked.inner_text().split("BK", 1)[1][:6]
    booking = sandbox_stack.db.bookings.find_one({"code": code})
    assert booking["service_id"] == "natural-facial" and booking["customer_id"] == "6281230000004"
    assert (booking["start"] + timedelta(hours=8)).date() == chosen  # the day picked, Bali time


def test_two_customers_racing_for_one_time(context, sandbox_stack):
    tabs = []  # two tabs of one browser: each tab is its own customer
    for name, number in (("Eka", "6281230000005"), ("Fajar", "6281230000006")):
        phone = PhonePage(context, sandbox_stack, name, number, f"5-race-{name.lower()}")
        phone.open_chat(SALON_NAME)
        menu = phone.send("Hi", "booking assistant")
        treatments = phone.tap(menu, "Book a treatment", "Which treatment")
        days = phone.pick(treatments, "Haircut", "Which day")
        times = phone.tap(days, "Tomorrow", "times")
        tabs.append((phone, times))
    cards = [phone.first_time(times, "Please confirm your booking") for phone, times in tabs]
    assert cards[0].inner_text().split("\n")[:3] == cards[1].inner_text().split("\n")[:3]
    counts = [phone.bot_count() for phone, _ in tabs]
    for (phone, _), card in zip(tabs, cards):  # both tap Confirm, one right after the other
        card.locator("button.reply-button", has_text="Confirm").click()
    answers = []
    for (phone, _), before in zip(tabs, counts):
        phone.page.wait_for_function(
            """([n]) => [...document.querySelectorAll('.msg.out')].slice(n)
                .some(m => /Booked ✅|just taken/.test(m.innerText))""", arg=[before])
        outcome = phone.page.locator(".msg.out").filter(has_text=re.compile("Booked ✅|just taken"))
        answers.append(outcome.last.inner_text())
        phone.shot("outcome")
    assert sorted("Booked ✅" in a for a in answers) == [False, True], answers
    loser = next(phone for (phone, _), a in zip(tabs, answers) if "just taken" in a)
    offered = loser.page.locator(".msg.out", has_text="just taken").last
    assert offered.locator("button.reply-button, button.list-button").count() > 0
    assert sandbox_stack.db.bookings.count_documents(
        {"customer_id": {"$in": ["6281230000005", "6281230000006"]}}) == 1
    # each tab is still its own customer after a reload
    for phone, _ in tabs:
        phone.page.reload()
        phone.page.locator(".msg.in").first.wait_for()
    assert [phone.page.evaluate("sessionStorage.getItem('sandbox.customer')")
            for phone, _ in tabs] != [None, None]
    assert len({phone.page.evaluate("sessionStorage.getItem('sandbox.customer')")
                for phone, _ in tabs}) == 2


def test_a_payload_over_a_cloud_api_limit_shows_the_error_bubble(context, sandbox_stack):
    phone = PhonePage(context, sandbox_stack, "Gede", "6281230000007", "6-rejected").open_chat(SPA_NAME)
    phone.send("Hi", "booking assistant")
    oversized = {"messaging_product": "whatsapp", "recipient_type": "individual",
                 "to": "6281230000007", "type": "interactive", "interactive": {
                     "type": "button", "body": {"text": "Pick one"}, "action": {"buttons": [
                         {"type": "reply", "reply": {"id": f"b{i}", "title": f"Option {i}"}}
                         for i in range(4)]}}}
    status, answer = graph_post(sandbox_stack, oversized)
    assert status == 400 and answer["error"]["code"] == 131009
    bubble = phone.page.locator(".msg.rejected").last
    bubble.wait_for()
    assert "interactive.action.buttons: at most 3 buttons (got 4)" in bubble.inner_text()
    assert "131009" in bubble.inner_text()
    phone.shot("error-bubble")


def test_templates_photos_and_locations_as_whatsapp_shows_them(context, sandbox_stack):
    phone = PhonePage(context, sandbox_stack, "Hana", "6281230000008", "7-media").open_chat(
        SPA_NAME)
    phone.send("Hi", "booking assistant")
    before = phone.bot_count()
    phone.page.click("#attach")
    phone.page.click("#attach-photo")
    phone.page.set_input_files("#photo-input", files=[{
        "name": "rash.png", "mimeType": "image/png", "buffer": PNG}])
    phone.page.click("#photo-send")
    phone.page.locator(".msg.in[data-type=image] img").last.wait_for()
    phone.wait_bot("I can only read text", before)  # the bot's answer to media
    before = phone.bot_count()
    phone.page.click("#attach")
    phone.page.click("#attach-location")
    phone.page.locator(".location-preset").first.click()  # a preset is sent at once
    phone.page.locator(".msg.in[data-type=location]").last.wait_for()
    phone.page.wait_for_function(NEW_BOT_MESSAGE, arg=[before])
    # a template the business sends after 24 hours: header, parameters, quick replies
    status, _ = graph_post(sandbox_stack, {
        "messaging_product": "whatsapp", "to": "6281230000008", "type": "template",
        "template": {"name": "booking_reminder", "language": {"code": "en"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Balinese Massage"},
                                            {"type": "text", "text": "15:00"}]},
            {"type": "button", "sub_type": "quick_reply", "index": "0",
             "parameters": [{"type": "payload", "payload": "/my_bookings"}]}]}})
    assert status == 200
    template = phone.page.locator(".msg.out[data-type=template]").last
    template.get_by_text("Reminder: your Balinese Massage is on 15:00").wait_for()
    phone.shot("template")
    phone.tap(template, "Confirm", "no upcoming bookings")  # its payload reached the bot
    phone.shot("template-tapped")


NEW_BOT_MESSAGE = "([n]) => document.querySelectorAll('.msg.out').length > n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2216bc8"
                    "0000000049454e44ae426082")


def graph_post(stack, body: dict) -> tuple[int, dict]:
    """POST a message to the Graph stand-in as the bot would (with its access token)."""
    request = urllib.request.Request(
        f"{stack.url}/v25.0/{SPA}/messages", json.dumps(body).encode(),
        {"content-type": "application/json", "authorization": f"Bearer {stack.graph_token}"},
        method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_quotes_formatting_and_the_typing_indicator(context, sandbox_stack):
    phone = PhonePage(context, sandbox_stack, "Ike", "6281230000009", "8-chat").open_chat(
        SPA_NAME)
    menu = phone.send("Hi", "booking assistant")
    # a reply that quotes the bot's greeting
    menu.hover()
    menu.locator(".msg-reply").click()
    phone.page.locator("#reply-preview").wait_for()
    mine = phone.page.locator(".msg.in").count()
    phone.send("what services do you have", "Tap one to book it")  # the answer's last bubble
    quoting = phone.page.locator(".msg.in").nth(mine)
    assert quoting.locator(".quote").get_attribute("data-quoted-id") == menu.get_attribute(
        "data-id")
    # once the bot has answered (its answer would end the typing), the Graph API is told to
    # mark the message read with the typing indicator; then a message in WhatsApp formatting
    status, _ = graph_post(sandbox_stack, {"messaging_product": "whatsapp", "status": "read",
                                           "message_id": quoting.get_attribute("data-id"),
                                           "typing_indicator": {"type": "text"}})
    assert status == 200
    phone.page.locator("#typing").wait_for()
    assert phone.page.inner_text("#chat-status") == "typing…"
    phone.shot("typing")
    status, _ = graph_post(sandbox_stack, {
        "messaging_product": "whatsapp", "to": "6281230000009", "type": "text",
        "text": {"body": "*Bold* and _italic_ and ~gone~, see https://example.com/spa"}})
    assert status == 200
    formatted = phone.page.locator(".msg.out", has_text="see https://example.com/spa").last
    assert formatted.locator("strong, b").first.inner_text() == "Bold"
    assert formatted.locator("em, i").first.inner_text() == "italic"
    assert formatted.locator("a[href='https://example.com/spa']").count() == 1
    phone.page.locator("#typing").wait_for(state="hidden")  # the message ends the typing
    phone.shot("formatting")


def test_after_a_day_of_silence_the_bot_may_only_send_a_template(context, sandbox_stack):
    phone = PhonePage(context, sandbox_stack, "Joko", "6281230000010", "9-window")
    book_by_tapping(phone, "Deep Tissue Massage")
    pay = phone.wait_bot("please pay", 0)
    phone.page.click("#chat-menu-button")
    phone.page.click("#menu-age")  # "Pretend a day passed"
    with context.expect_page() as opened:
        pay.locator("a.cta-button").click()
    before = phone.bot_count()
    opened.value.click("#expire-button")
    # Meta refuses the expiry news (131047), and the bot sends its approved template instead
    template = phone.page.locator(".msg.out[data-type=template]").last
    template.wait_for()
    assert "We have news about your booking" in template.inner_text()
    refused = phone.page.locator(".msg.out[data-status=failed]").last
    assert "131047" in refused.inner_text() and "has expired" in refused.inner_text()
    assert phone.bot_count() > before
    phone.shot("template-instead")
