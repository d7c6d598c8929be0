"""The inbox over real HTTP (the console as its own process, a real mongod): the business's
conversations with the waiting ones first, taking one over (once, of two at the same moment),
replies queued for WhatsApp, the 24-hour window and its template, handing back, CSRF, another
business's conversations as 404, the transcript as people read it, and the live list in a real
browser (screenshots in results/console/inbox.png and conversation.png)."""
from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional
from zoneinfo import ZoneInfo

import pytest
import requests

from booking.bookings import BookingRequest, BookingService
from booking.catalog import CatalogRepository
from booking.conversations import Conversation, Conversations
from tests.conftest import ROOT
from tests.console.http_support import (PASSWORD, SALON, SPA, ConsoleServer, login_csrf,
                                        start_console)

CHROMIUM = Path("/usr/bin/chromium")
PHONE_ID = "1001"
BALI = ZoneInfo("Asia/Makassar")


def bali_weekday_at(hour: int) -> datetime:
    """``hour`` (Bali) on a Tuesday to Friday (everyone in the seed works) a few days ahead."""
    day = datetime.now(BALI).date() + timedelta(days=3)
    while day.weekday() not in (1, 2, 3, 4):
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=BALI).astimezone(timezone.utc)


@pytest.fixture(scope="module")
def console(mongo_url):
    yield from start_console(mongo_url)


@pytest.fixture(scope="module")
def conversations(console: ConsoleServer) -> Conversations:
    return Conversations(console.db)


def customer(conversations: Conversations, number: str, name: str = "", text: str = "hello",
             reason: Optional[str] = None, business: str = SPA,
             channel: str = "whatsapp") -> Conversation:
    """A customer who wrote (and, with ``reason``, asked for a person)."""
    conversation = conversations.customer_wrote(business, number, channel, PHONE_ID, name, text)
    if reason:
        conversation = conversations.flag(business, number, reason)
    return conversation


def state(console: ConsoleServer, conversation: Conversation) -> dict[str, Any]:
    """The conversation's document as stored now."""
    from bson import ObjectId
    return console.db.conversations.find_one({"_id": ObjectId(conversation.id)})


def queued(console: ConsoleServer, number: str, kind: Optional[str] = None) -> list[dict]:
    """What the console queued for a customer's WhatsApp."""
    query: dict[str, Any] = {"sender": number, **({"kind": kind} if kind else {})}
    return list(console.db.wa_inbox.find(query))


def page_and_csrf(client: requests.Session, url: str) -> tuple[requests.Response, str]:
    page = client.get(url, allow_redirects=False)
    assert page.status_code == 200, (page.status_code, page.text[:500])
    return page, login_csrf(page.text)


def post(client: requests.Session, url: str, csrf: str, **data: Any) -> requests.Response:
    return client.post(url, data={"csrf": csrf, **data}, allow_redirects=False)


def take(console: ConsoleServer, client: requests.Session, conversation: Conversation,
         ) -> requests.Response:
    """Take a conversation over from its page, as a person does."""
    url = f"{console.url}/inbox/{conversation.id}"
    page, csrf = page_and_csrf(client, url)
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    return post(client, f"{url}/take", csrf, version=version)


def said(text: str, title: str = "", intent: str = "greet") -> dict[str, Any]:
    """A customer's message (``title``: the tapped button's) as a Rasa user event."""
    return {"event": "user", "text": text, "input_channel": "whatsapp", "message_id": "wamid",
            "metadata": {"business_id": SPA, "title": title},
            "parse_data": {"intent": {"name": intent}}}


def answered(text: Optional[str], buttons: tuple[str, ...] = (), custom: Optional[dict] = None,
             **metadata: Any) -> dict[str, Any]:
    """A bot (or, with ``staff=``, a team member's) message as a Rasa bot event."""
    return {"event": "bot", "text": text, "metadata": metadata, "data": {
        "buttons": [{"title": b, "payload": f'/choose_slot{{"slot":"{b}"}}'} for b in buttons]
        or None, "custom": custom}}


def write_tracker(console: ConsoleServer, number: str, bodies: list[dict[str, Any]],
                  first: int = 0, start: Optional[datetime] = None) -> None:
    """Event documents as Rasa's tracker store writes them, a minute apart."""
    start = start or datetime.now(timezone.utc) - timedelta(minutes=30)
    console.db.trackers_events.insert_many([
        {"sender_id": number, "seq": first + i, "at": start + timedelta(minutes=i),
         "event": {"timestamp": (start + timedelta(minutes=i)).timestamp(), **body}}
        for i, body in enumerate(bodies)])


def test_the_inbox_lists_waiting_customers_first_with_their_wait(console, conversations):
    chatting = customer(conversations, "6281200000101", "Bot Chatter", "what are your hours?")
    long_wait = customer(conversations, "6281200000102", "", "a person please", "asked")
    short_wait = customer(conversations, "6281200000103", "Made Short", "?", "fallbacks")
    console.db.conversations.update_one({"customer_id": long_wait.customer_id},
                                        {"$set": {"waiting_since": datetime.now(timezone.utc)
                                                  - timedelta(minutes=12, seconds=5)}})
    salon = customer(conversations, "6281200000104", "Salon Secret", "hi", "asked",
                     business=SALON)
    page = console.login("desk@spa").get(f"{console.url}/inbox")
    assert page.status_code == 200
    text = page.text
    first, second, third = (text.index(f'href="/inbox/{c.id}"')
                            for c in (long_wait, short_wait, chatting))
    assert first < second < third
    assert "waiting 12 min" in text and "+62 812 •••• 0102" in text
    assert "asked for a person" in text and "the bot did not understand twice" in text
    assert "a person please" in text  # the last message's preview
    assert salon.id not in text and "Salon Secret" not in text
    waiting = console.db.conversations.count_documents({"business_id": SPA, "state": "waiting"})
    badge = re.search(r'id="inbox-badge"[^>]*>(\d*)<', text).group(1)
    assert badge == str(waiting)


def test_another_businesss_conversation_is_404_everywhere(console, conversations):
    theirs = customer(conversations, "6281200000201", "Salon Secret", "hi", "asked",
                      business=SALON)
    client = console.login(f"owner@{SPA}")
    _, csrf = page_and_csrf(client, f"{console.url}/inbox")
    for path in (theirs.id, f"{theirs.id}/live", "not-an-id", "0" * 24):
        answer = client.get(f"{console.url}/inbox/{path}", allow_redirects=False)
        assert answer.status_code == 404 and "Salon Secret" not in answer.text, path
    for action in ("take", "reply", "booking", "template", "hand-back"):
        answer = post(client, f"{console.url}/inbox/{theirs.id}/{action}", csrf,
                      version=theirs.version, text="hi", code="BK000000")
        assert answer.status_code == 404, action
    stored = state(console, theirs)
    assert stored["state"] == "waiting" and stored["version"] == theirs.version
    assert queued(console, theirs.customer_id, "staff") == []


def test_taking_over_makes_the_conversation_the_takers_and_is_audited(console, conversations):
    waiting = customer(conversations, "6281200000301", "Ayu Lestari", "my booking?", "asked")
    client = console.login("desk@spa")
    answer = take(console, client, waiting)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/inbox/{waiting.id}?done=taken"
    stored = state(console, waiting)
    assert stored["state"] == "human" and stored["assignee"] == "desk@spa"
    page = client.get(f"{console.url}{answer.headers['location']}")
    assert "You have this conversation" in page.text and 'id="reply"' in page.text
    entry = console.db.console_audit.find_one({"action": "conversation_taken",
                                               "target": waiting.id})
    assert entry["actor"] == "desk@spa" and entry["business_id"] == SPA
    assert entry["before"]["state"] == "waiting" and entry["after"]["state"] == "human"
    assert waiting.customer_id not in str(entry) and "my booking?" not in str(entry)


def test_of_two_people_taking_at_once_one_wins_and_the_other_is_told_who(console,
                                                                        conversations):
    waiting = customer(conversations, "6281200000401", "Ketut", "help", "asked")
    url = f"{console.url}/inbox/{waiting.id}"
    clients = [console.login(f"owner@{SPA}"), console.login("desk@spa")]
    csrfs = [page_and_csrf(c, url)[1] for c in clients]
    barrier = threading.Barrier(2)
    answers: list[Optional[requests.Response]] = [None, None]

    def take_at_once(i: int) -> None:
        barrier.wait(timeout=10)
        answers[i] = post(clients[i], f"{url}/take", csrfs[i], version=waiting.version)
    threads = [threading.Thread(target=take_at_once, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [303, 409], statuses
    winner = state(console, waiting)["assignee"]
    assert winner in (f"owner@{SPA}", "desk@spa")
    loser = next(a for a in answers if a.status_code == 409)
    assert f"{winner} took this conversation a moment ago." in loser.text
    assert state(console, waiting)["version"] == waiting.version + 1


def test_a_stale_page_or_a_missing_version_takes_nothing(console, conversations):
    waiting = customer(conversations, "6281200000451", "Wira", "help", "asked")
    client = console.login("desk@spa")
    url = f"{console.url}/inbox/{waiting.id}"
    _, csrf = page_and_csrf(client, url)
    assert post(client, f"{url}/take", csrf).status_code == 400
    assert post(client, f"{url}/take", csrf, version="x").status_code == 400
    conversations.hand_back(SPA, waiting.id, "owner@spa")  # settled meanwhile
    stale = post(client, f"{url}/take", csrf, version=waiting.version)
    assert stale.status_code == 409
    assert "The conversation changed: here it is as it is now." in stale.text
    assert state(console, waiting)["state"] == "bot"


def test_the_takers_reply_is_queued_for_whatsapp_and_shows_as_sending(console, conversations):
    waiting = customer(conversations, "6281200000501", "Putu", "is 3pm free?", "asked")
    desk, owner = console.login("desk@spa"), console.login(f"owner@{SPA}")
    assert take(console, desk, waiting).status_code == 303
    url = f"{console.url}/inbox/{waiting.id}"
    _, csrf = page_and_csrf(desk, url)
    answer = post(desk, f"{url}/reply", csrf, text="Yes, 3pm is free for you.")
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=reply")
    items = queued(console, waiting.customer_id)
    assert [(i["kind"], i["text"], i["extra"]["who"], i["business_id"], i["status"])
            for i in items] == [("staff", "Yes, 3pm is free for you.", "desk@spa", SPA,
                                 "received")]
    page = desk.get(f"{console.url}{answer.headers['location']}")
    assert "Yes, 3pm is free for you." in page.text and "sending…" in page.text
    entry = console.db.console_audit.find_one({"action": "conversation_reply",
                                               "target": waiting.id})
    assert entry and "3pm" not in str(entry) and waiting.customer_id not in str(entry)
    _, owner_csrf = page_and_csrf(owner, url)
    refused = post(owner, f"{url}/reply", owner_csrf, text="I am not the one who has it")
    assert refused.status_code == 409 and "desk@spa has this conversation" in refused.text
    assert len(queued(console, waiting.customer_id)) == 1
    too_long = post(desk, f"{url}/reply", csrf, text="x" * 4097)
    assert too_long.status_code == 400 and len(queued(console, waiting.customer_id)) == 1


def test_the_same_reply_form_posted_twice_sends_once(console, conversations):
    waiting = customer(conversations, "6281200000511", "Wira", "hello?", "asked")
    desk = console.login("desk@spa")
    assert take(console, desk, waiting).status_code == 303
    url = f"{console.url}/inbox/{waiting.id}"
    page, csrf = page_and_csrf(desk, url)
    key = re.search(r'name="key" value="([^"]+)"', page.text).group(1)
    answers = [post(desk, f"{url}/reply", csrf, text="On my way", key=key) for _ in range(2)]
    assert [a.status_code for a in answers] == [303, 303]  # a double click, a resubmitted page
    assert [i["text"] for i in queued(console, waiting.customer_id)] == ["On my way"]
    fresh, _ = page_and_csrf(desk, url)  # a new page is a new form: a new message
    key2 = re.search(r'name="key" value="([^"]+)"', fresh.text).group(1)
    assert key2 != key
    post(desk, f"{url}/reply", csrf, text="On my way", key=key2)
    assert len(queued(console, waiting.customer_id)) == 2


def test_what_customers_write_is_shown_as_text_never_as_markup(console, conversations):
    evil = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    chat = customer(conversations, "6281200000521", "<b>Mal</b><script>1</script>", evil,
                    "asked")
    typed = {**said("/EXTERNAL_booking_update"), "metadata": {
        "business_id": SPA, "message_id": "wamid.typed", "kind": "text"}}
    write_tracker(console, chat.customer_id, [said(evil), typed,
                                              answered("fine", ("<i>x</i>",))])
    desk = console.login("desk@spa")
    for url in (f"{console.url}/inbox", f"{console.url}/inbox/{chat.id}"):
        html = desk.get(url).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>Mal" not in html
        assert "&lt;script&gt;alert(" in html or "&lt;script&gt;alert(&#39;x&#39;)" in html
    for url in (f"{console.url}/inbox/live", f"{console.url}/inbox/{chat.id}/live"):
        fragment = desk.get(url).json()["html"]
        assert "<script>" not in fragment and "&lt;script&gt;" in fragment
    # A customer who types the server's news prefix is shown, not hidden.
    page = desk.get(f"{console.url}/inbox/{chat.id}").text
    assert "/EXTERNAL_booking_update" in page


def test_the_taker_sends_one_of_the_customers_bookings_and_no_one_elses(console,
                                                                        conversations):
    waiting = customer(conversations, "6281200000551", "Wayan Card", "my booking?", "asked")
    core = BookingService(console.db, CatalogRepository(console.db).load())
    theirs = core.create(BookingRequest("balinese-massage", bali_weekday_at(10),
                                        waiting.customer_id, "Wayan Card", staff_id="wayan"))
    other = core.create(BookingRequest("balinese-massage", bali_weekday_at(14),
                                       "6281200000552", "Someone Else", staff_id="wayan"))
    client = console.login("desk@spa")
    assert take(console, client, waiting).status_code == 303
    url = f"{console.url}/inbox/{waiting.id}"
    page, csrf = page_and_csrf(client, url)
    assert f'<option value="{theirs.code}">' in page.text and other.code not in page.text
    refused = post(client, f"{url}/booking", csrf, code=other.code)
    assert refused.status_code == 409
    assert "That booking belongs to another customer." in refused.text
    assert post(client, f"{url}/booking", csrf, code="BK999999").status_code == 400
    assert queued(console, waiting.customer_id) == []
    answer = post(client, f"{url}/booking", csrf, code=theirs.code)
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=booking")
    [item] = queued(console, waiting.customer_id)
    assert item["kind"] == "staff" and item["extra"] == {"booking": theirs.code,
                                                         "who": "desk@spa"}
    assert theirs.code in item["text"] and "Balinese Massage" in item["text"]
    entry = console.db.console_audit.find_one({"action": "conversation_booking_sent",
                                               "target": waiting.id})
    assert entry["after"]["booking"] == theirs.code


def test_outside_the_24_hour_window_only_the_template_goes(console, conversations):
    waiting = customer(conversations, "6281200000601", "Nyoman", "hello?", "asked")
    client = console.login("desk@spa")
    assert take(console, client, waiting).status_code == 303
    console.db.conversations.update_one(
        {"business_id": SPA, "customer_id": waiting.customer_id},
        {"$set": {"last_customer_at": datetime.now(timezone.utc) - timedelta(hours=25)}})
    url = f"{console.url}/inbox/{waiting.id}"
    page, csrf = page_and_csrf(client, url)
    assert 'id="outside-window"' in page.text and 'id="send-template"' in page.text
    assert "Nyoman last wrote more than 24 hours ago" in page.text
    assert 'id="reply"' not in page.text
    refused = post(client, f"{url}/reply", csrf, text="are you there?")
    assert refused.status_code == 409 and 'id="send-template"' in refused.text
    assert queued(console, waiting.customer_id) == []
    answer = post(client, f"{url}/template", csrf)
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=template")
    items = queued(console, waiting.customer_id)
    assert [(i["kind"], i["extra"]["who"]) for i in items] == [("template", "desk@spa")]


def test_handing_back_gives_the_conversation_to_the_bot_which_says_so(console, conversations):
    waiting = customer(conversations, "6281200000701", "Kadek", "hi", "feedback")
    client = console.login("desk@spa")
    assert take(console, client, waiting).status_code == 303
    url = f"{console.url}/inbox/{waiting.id}"
    _, csrf = page_and_csrf(client, url)
    answer = post(client, f"{url}/hand-back", csrf)
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=handed_back")
    stored = state(console, waiting)
    assert stored["state"] == "bot" and stored["assignee"] == ""
    assert [i["kind"] for i in queued(console, waiting.customer_id)] == ["handback"]
    again = post(client, f"{url}/hand-back", csrf)
    assert again.status_code == 409 and len(queued(console, waiting.customer_id)) == 1
    assert console.db.console_audit.count_documents({"action": "conversation_handed_back",
                                                     "target": waiting.id}) == 1


def test_a_post_without_the_csrf_token_changes_nothing(console, conversations):
    waiting = customer(conversations, "6281200000801", "Gede", "hi", "asked")
    client = console.login("desk@spa")
    client.get(f"{console.url}/inbox/{waiting.id}")
    for action, data in (("take", {"version": waiting.version}), ("reply", {"text": "x"}),
                         ("template", {}), ("hand-back", {})):
        answer = client.post(f"{console.url}/inbox/{waiting.id}/{action}", data=data,
                             allow_redirects=False)
        assert answer.status_code == 403, action
    stored = state(console, waiting)
    assert stored["state"] == "waiting" and stored["version"] == waiting.version
    assert queued(console, waiting.customer_id) == []


def test_the_live_list_shows_a_conversation_flagged_after_the_page_was_loaded(console,
                                                                              conversations):
    client = console.login("desk@spa")
    page = client.get(f"{console.url}/inbox")
    assert "Late Asker" not in page.text
    late = customer(conversations, "6281200000901", "Late Asker", "still there?", "failure")
    live = client.get(f"{console.url}/inbox/live")
    assert live.status_code == 200 and live.headers["content-type"].startswith("application/json")
    data = live.json()
    assert f'href="/inbox/{late.id}"' in data["html"] and "a technical problem" in data["html"]
    assert data["waiting"] == console.db.conversations.count_documents(
        {"business_id": SPA, "state": "waiting"})
    assert client.get(f"{console.url}/inbox/live?only=count").json() == {
        "waiting": data["waiting"]}
    assert console.session().get(f"{console.url}/inbox/live",
                                 allow_redirects=False).status_code == 303  # not signed in


def test_the_transcript_reads_like_the_chat(console, conversations):
    number = "6281200001001"
    chat = customer(conversations, number, "Ayu Tap", "hi")
    write_tracker(console, number, [
        said("hi"), {"event": "action", "name": "utter_greet"},
        answered("Which time?", ("10:00 with Wayan", "14:00")),
        said('/choose_slot{"slot":"10:00 with Wayan"}', title="10:00 with Wayan"),
        said('/EXTERNAL_payment_update{"code":"BK1"}', intent="EXTERNAL_payment_update"),
        answered("I will ask the team."),
        answered("Hi Ayu, Wayan is free at 10.", staff="desk@spa", kind="staff", item="staff:x"),
        said("great, thanks", intent="message_to_staff"),
        answered("See you!", staff="WhatsApp Business app", kind="echo", item="echo:y")])
    page = console.login("desk@spa").get(f"{console.url}/inbox/{chat.id}")
    assert page.status_code == 200
    chat_html = page.text[page.text.index('id="chat-lines"'):]
    assert "10:00 with Wayan" in chat_html and "choose_slot" not in chat_html
    assert "EXTERNAL" not in chat_html and "utter_greet" not in chat_html
    assert '<span class="msg-from">desk@spa</span>' in chat_html
    assert '<span class="msg-from">WhatsApp Business app</span>' in chat_html
    assert "to the team (the bot did not answer)" in chat_html
    assert chat_html.index("Which time?") < chat_html.index("Hi Ayu, Wayan") < chat_html.index(
        "See you!")
    assert 'id="take"' in page.text  # a bot conversation can be taken over
    live = console.login("desk@spa").get(f"{console.url}/inbox/{chat.id}/live").json()
    assert "Hi Ayu, Wayan is free at 10." in live["html"]
    assert live["state"] == "bot" and live["version"] == chat.version


def test_a_local_chat_shows_its_transcript_but_takes_no_reply(console, conversations):
    local = customer(conversations, "rest:visitor", "Shell Visitor", "hi", channel="rest")
    page = console.login("desk@spa").get(f"{console.url}/inbox/{local.id}")
    assert page.status_code == 200
    assert "replies can only go to WhatsApp customers" in page.text
    assert 'id="reply"' not in page.text and 'id="take"' not in page.text


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
def test_a_new_waiting_customer_appears_in_the_open_inbox_without_a_reload(console,
                                                                          conversations):
    from playwright.sync_api import expect, sync_playwright

    number = "6281200001101"
    shown = customer(conversations, "6281200001102", "Sari Dewi", "can I bring my kid?", "asked")
    sari = shown.customer_id
    core = BookingService(console.db, CatalogRepository(console.db).load())
    core.create(BookingRequest("balinese-massage", bali_weekday_at(16), sari, "Sari Dewi",
                               staff_id="wayan"))
    write_tracker(console, sari, [
        said("Hi! A Balinese massage on Saturday?"),
        answered("Happy to help. Which time suits you?", ("11:00 with Wayan", "15:00 with Made")),
        said('/choose_slot{"slot":"x"}', title="11:00 with Wayan"),
        answered(None, custom={"type": "interactive", "interactive": {
            "type": "cta_url", "body": {"text": "Your booking is held for 30 minutes."},
            "action": {"parameters": {"display_text": "Pay Rp350.000"}}}}),
        said("can I bring my kid?", intent="ask_human")], start=datetime.now(timezone.utc)
        - timedelta(minutes=20))
    problems: list[str] = []
    shots = ROOT / "results" / "console"
    shots.mkdir(parents=True, exist_ok=True)
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
            page.fill("#username", "desk@spa")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            page.wait_for_url("**/day/**")
            page.goto(f"{console.url}/inbox")
            loaded = page.evaluate("() => window.performance.timeOrigin")
            new = customer(conversations, number, "Komang Baru", "I need a person please",
                           "asked")
            row = page.locator(f'#inbox-waiting a[data-id="{new.id}"]')
            expect(row).to_be_visible(timeout=15000)
            expect(row).to_contain_text("Komang Baru")
            expect(row).to_contain_text("waiting")
            waiting = console.db.conversations.count_documents({"business_id": SPA,
                                                                "state": "waiting"})
            expect(page.locator("#inbox-badge")).to_have_text(str(waiting))
            assert page.evaluate("() => window.performance.timeOrigin") == loaded  # no reload
            page.screenshot(path=str(shots / "inbox.png"), full_page=True)
            page.goto(f"{console.url}/inbox/{shown.id}")
            page.click("#take")
            page.wait_for_url(f"**/inbox/{shown.id}?done=taken")
            page.fill("#reply", "Of course, children are welcome.")
            page.click("#send")
            page.wait_for_url(f"**/inbox/{shown.id}?done=reply")
            expect(page.locator(".msg-staff").last).to_contain_text("sending…")
            expect(page.locator("#booking-code")).to_contain_text("Balinese")
            expect(page.locator(".chat-booking")).to_contain_text("Booked BK")
            page.fill("#reply", "a draft being typed")
            conversations.customer_wrote(SPA, sari, "whatsapp", PHONE_ID, "", "thank you!")
            write_tracker(console, sari, [said("thank you!", intent="message_to_staff")],
                          first=5, start=datetime.now(timezone.utc))
            expect(page.locator(".msg-customer").last).to_contain_text("thank you!",
                                                                       timeout=15000)
            expect(page.locator("#reply")).to_have_value("a draft being typed")
            page.screenshot(path=str(shots / "conversation.png"), full_page=True)
        finally:
            browser.close()
    assert not problems, problems  # no CSP refusal, no missing file, no failed request
