"""Human handoff through the running stack (Rasa, actions, the WhatsApp channel, a Graph
stand-in): the customer asks for a person, a person takes the conversation, the bot is silent,
the person's replies go out through the bot's outbound path and into the Rasa conversation, the
owner's replies from the WhatsApp Business app (coexistence echoes) silence the bot too, and
the hand back brings the bot back. The console's part (pages) is tested in tests/console/; here
its calls are the core's (``TeamDesk`` over the channel inbox's ``post``)."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from bson import ObjectId

from booking.conversations import ECHO_AGENT, HUMAN, WAITING, Conversations
from booking.handoff import OutsideWindowError, TeamDesk
from channels.whatsapp.inbox import Inbox
from tests.whatsapp.conftest import SPA, _ids, tap, wait_done
from tests.whatsapp.test_payments_e2e import Customer, body_text, choices

pytestmark = pytest.mark.e2e
SPA_ID = "ubud-serenity-spa"


def desk(db) -> TeamDesk:
    """The console's desk over the same database (its post port is the channel's inbox)."""
    inbox = Inbox(db)
    return TeamDesk(Conversations(db), inbox.post_for,
        Conversations(db).clock)


def conversation(db, who: str):
    found = Conversations(db).of_customer(SPA_ID, who)
    assert found is not None
    return found


def echo(customer: str, body: str, wamid: str | None = None) -> dict:
    """The owner's own message from the WhatsApp Business app, as Meta echoes it."""
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
        "field": "smb_message_echoes", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "62811", "phone_number_id": SPA},
            "message_echoes": [{"from": "62811", "to": customer,
                                "id": wamid or f"wamid.echo{next(_ids)}",
                                "timestamp": str(int(time.time())), "type": "text",
                                "text": {"body": body}}]}}]}]}


def events_of(db, who: str) -> list[dict[str, Any]]:
    return [d["event"] for d in db.trackers_events.find({"sender_id": who}).sort("seq", 1)]


def last_inbound(db, who: str) -> str:
    return db.wa_inbox.find_one({"sender": who, "kind": {"$in": ["text", "interactive"]}},
                                sort=[("seq", -1)])["_id"]


def silent(graph, who: str, seen: int) -> None:
    """The bot sent nothing more than the ``seen`` messages (its turn is recorded done, so
    anything it would have sent was sent before that)."""
    assert len(graph.sent_to(who)) == seen, graph.sent_to(who)[seen:]


def test_ask_take_reply_silence_hand_back(wa, graph):
    stack, db = wa
    ayu = Customer(stack, graph)
    ayu.say("I want to talk to a real person")
    asked = body_text(ayu.next())
    assert asked.startswith("I've asked the Ubud Serenity Spa team to reply to you here.")
    assert "I'll keep your booking details" in asked
    waiting = conversation(db, ayu.who)
    assert (waiting.state, waiting.reason, waiting.channel) == (WAITING, "asked", "whatsapp")

    team = desk(db)
    team.take(SPA_ID, waiting.id, "made", waiting.version)
    ayu.say("hello? is anyone there")
    wamid = last_inbound(db, ayu.who)
    assert wait_done(db, wamid)["status"] == "done"
    silent(graph, ayu.who, ayu.seen)
    reads = [b for _, b, _ in graph.calls if b.get("message_id") == wamid]
    assert reads and reads[0]["status"] == "read"  # acknowledged as read all the same
    told = [e for e in events_of(db, ayu.who) if e.get("message_id") == wamid]
    assert told and told[0]["parse_data"]["intent"]["name"] == "message_to_staff"

    sent = team.reply(SPA_ID, waiting.id, "made", "Hi Ayu, Made here. How can I help?")
    assert wait_done(db, sent.item_id)["status"] == "done"
    reply = ayu.next()
    assert reply["type"] == "text" and reply["text"]["body"] == "Hi Ayu, Made here. How can I help?"
    [outbound] = db.wa_outbox.find({"ref": sent.item_id})
    assert outbound["status"] == "sent" and outbound["wamid"]
    [staff_event] = [e for e in events_of(db, ayu.who)
                     if (e.get("metadata") or {}).get("item") == sent.item_id]
    assert (staff_event["event"], staff_event["metadata"]["staff"]) == ("bot", "made")

    # An old bot button tapped now is shown to the person, not acted on.
    assert stack.post(tap(ayu.who, "/my_bookings", "My bookings")) == 200
    assert wait_done(db, last_inbound(db, ayu.who))["status"] == "done"
    silent(graph, ayu.who, ayu.seen)
    tapped = [e for e in events_of(db, ayu.who) if e.get("event") == "user"][-1]
    assert tapped["metadata"]["title"] == "My bookings"

    back = team.hand_back(SPA_ID, waiting.id, "made")
    assert back.state == "bot"
    welcome = ayu.next()
    assert body_text(welcome).startswith("I'm back to help you again.")
    assert "Book a treatment" in choices(ayu.next() if welcome["type"] == "text" else welcome)
    ayu.say("what treatments do you have?")
    assert body_text(ayu.next()).startswith("At Ubud Serenity Spa we offer:")


def test_a_coexistence_echo_hands_the_chat_to_a_person_once(wa, graph):
    stack, db = wa
    ayu = Customer(stack, graph)
    ayu.say("hi")
    ayu.next()
    wrote_at = conversation(db, ayu.who).last_customer_at
    wamid = f"wamid.echo{next(_ids)}"
    for _ in range(2):  # Meta delivers at least once
        assert stack.post(echo(ayu.who, "Hi Ayu, this is Putu from the spa", wamid)) == 200
    assert wait_done(db, f"echo:{wamid}")["status"] == "done"
    taken = conversation(db, ayu.who)
    assert (taken.state, taken.assignee, taken.reason) == (HUMAN, ECHO_AGENT, "echo")
    echoed = [e for e in events_of(db, ayu.who) if (e.get("metadata") or {}).get("kind") == "echo"]
    assert [(e["text"], e["metadata"]["staff"]) for e in echoed] == [
        ("Hi Ayu, this is Putu from the spa", ECHO_AGENT)]
    assert db.wa_inbox.count_documents({"_id": f"echo:{wamid}"}) == 1
    seen = ayu.seen
    silent(graph, ayu.who, seen)  # an echo is never answered, never re-sent
    ayu.say("great, can I come at 4 instead?")
    assert wait_done(db, last_inbound(db, ayu.who))["status"] == "done"
    silent(graph, ayu.who, seen)
    # The echo did not open the 24-hour window: only the customer's own messages do.
    assert taken.last_customer_at == wrote_at

    # Handed back, the same echo delivered again changes nothing.
    desk(db).hand_back(SPA_ID, taken.id, "made")
    assert body_text(ayu.next()).startswith("I'm back")
    ayu.next()  # the menu
    assert stack.post(echo(ayu.who, "Hi Ayu, this is Putu from the spa", wamid)) == 200
    assert stack.post(echo(ayu.who, "to a number of no business", None) | {"entry": [{
        "id": "WABA", "changes": [{"field": "smb_message_echoes", "value": {
            "metadata": {"phone_number_id": "999000999"}, "message_echoes": [{
                "to": ayu.who, "id": "wamid.nobody", "type": "text",
                "text": {"body": "x"}}]}}]}]}) == 200
    ayu.say("what do you offer?")
    assert body_text(ayu.next()).startswith("At Ubud Serenity Spa we offer:")
    assert conversation(db, ayu.who).state == "bot"
    assert db.wa_inbox.count_documents({"_id": "echo:wamid.nobody"}) == 0


def test_outside_the_window_the_reply_goes_as_the_template(wa, graph):
    stack, db = wa
    ayu = Customer(stack, graph)
    ayu.say("talk to a human please")
    ayu.next()
    conv = conversation(db, ayu.who)
    team = desk(db)
    team.take(SPA_ID, conv.id, "wayan", conv.version)
    db.conversations.update_one(  # the customer last wrote 25 hours ago
        {"_id": ObjectId(conv.id)},
        {"$set": {"last_customer_at": conv.last_customer_at - timedelta(hours=25)}})
    with pytest.raises(OutsideWindowError):
        team.reply(SPA_ID, conv.id, "wayan", "Sorry for the wait!")
    sent = team.send_template(SPA_ID, conv.id, "wayan")
    assert wait_done(db, sent.item_id)["status"] == "done"
    message = ayu.next()
    assert message["type"] == "template"
    assert message["template"]["name"] == "booking_follow_up"
    [event] = [e for e in events_of(db, ayu.who)
               if (e.get("metadata") or {}).get("item") == sent.item_id]
    assert event["metadata"]["kind"] == "template" and event["data"]["custom"]["type"] == "template"


def interrupted_item(db: Any, who: str, text: str, graph_answer: str = "") -> str:
    """What a server that died while sending a staff reply leaves behind: the item marked as
    sending (and Graph's answer, when it had been kept), written as one insert: the live
    servers poll items every second and must never see it unmarked."""
    inbox, item = Inbox(db), f"staff:{ObjectId()}"
    if graph_answer:
        inbox.record_outbound(graph_answer, who, "text", "sent", "", item)
    seq = inbox._next_seq(who, customer=False)[0]
    now = datetime.now(timezone.utc)
    db.wa_inbox.insert_one({
        "_id": item, "sender": who, "phone_number_id": SPA, "kind": "staff", "text": text,
        "timestamp": 0, "profile_name": "", "extra": {"who": "made"}, "business_id": SPA_ID,
        "status": "received", "received_at": now, "seq": seq, "attempts": 0, "sending_at": now})
    return item


def test_an_item_whose_sending_was_interrupted_is_never_sent_twice(wa, graph):
    stack, db = wa
    ayu = Customer(stack, graph)
    ayu.say("I need a human")
    ayu.next()
    conv = conversation(db, ayu.who)
    team = desk(db)
    team.take(SPA_ID, conv.id, "made", conv.version)
    # A server that died mid-send left this: marked as sending, no Graph answer kept.
    item = interrupted_item(db, ayu.who, "lost in a crash")
    ayu.say("hello?")  # wakes the customer's worker
    done = wait_done(db, item)
    assert done["status"] == "failed" and "may not have arrived" in done["error"]
    assert wait_done(db, last_inbound(db, ayu.who))["status"] == "done"
    assert [m for m in graph.sent_to(ayu.who) if m.get("text", {}).get("body") == "lost in a crash"] == []

    # One that Graph did take before the crash (its answer kept): done, written once, not resent.
    item = interrupted_item(db, ayu.who, "taken before the crash", "wamid.out-before-crash")
    ayu.say("still there?")
    assert wait_done(db, item)["status"] == "done"
    assert [m for m in graph.sent_to(ayu.who)
            if m.get("text", {}).get("body") == "taken before the crash"] == []
    assert len([e for e in events_of(db, ayu.who)
                if (e.get("metadata") or {}).get("item") == item]) == 1


def test_two_fallbacks_in_a_row_put_the_customer_in_the_inbox(wa, graph):
    stack, db = wa
    ayu = Customer(stack, graph)
    ayu.say("jsjsjs")
    assert body_text(ayu.next()).startswith("Sorry, I didn't quite get that.")
    assert Conversations(db).of_customer(SPA_ID, ayu.who).state == "bot"
    ayu.say("xyz")
    second = body_text(ayu.next())
    assert "I've also asked the Ubud Serenity Spa team" in second, second
    flagged = conversation(db, ayu.who)
    assert (flagged.state, flagged.reason) == (WAITING, "fallbacks")
