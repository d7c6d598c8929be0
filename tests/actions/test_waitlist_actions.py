"""The waiting list in the chat, on a real mongod: [Tell me if one opens] where a day has no
free time, the offer the server triggers (once, only in the customer's own conversation), and
Confirm / No thanks (tapped, or "yes" / "no" right after it), only by the customer offered."""
from __future__ import annotations

from datetime import date

from actions.answers import ActionNo, ActionYes
from actions.booking_flow import ActionBookStep
from actions.waitlist import (ActionAcceptOffer, ActionDeclineOffer, ActionJoinWaitlist,
                              ActionWaitlistOffer)
from booking.waitlist import WAITING, Waitlist, Wish
from tests.actions.conftest import Chat, buttons, texts

SPA_NUMBER = "110000000000001"
CUSTOMER, OTHER = "6281230000101", "6281230000102"
WEDNESDAY = "2026-11-25"  # the clock is Monday 23 Nov, 08:00 in Bali


def whatsapp_chat(sender: str = CUSTOMER) -> Chat:
    return Chat(sender=sender, input_channel="whatsapp", metadata={"phone_number_id": SPA_NUMBER})


def offered(core, chat: Chat, day: str = WEDNESDAY):
    """The customer waited for a natural facial on ``day`` (when it was full) and the matcher
    held a time for them."""
    waitlist = Waitlist(core)
    waitlist.join(Wish("ubud-serenity-spa", chat.sender, "natural-facial", date.fromisoformat(day)),
                  {"sender_id": chat.sender, "channel": "whatsapp",
                   "business_id": "ubud-serenity-spa", "phone_number_id": SPA_NUMBER})
    (offer,) = waitlist.match()
    return offer, waitlist, waitlist.offers.claim()


def tell(chat: Chat, code: str, notice_id: str):
    return chat.run(ActionWaitlistOffer(), "EXTERNAL_waitlist_offer", booking_code=code,
                    notice=notice_id)


def test_a_day_without_free_time_offers_the_waiting_list_and_joining_says_what_happens(core):
    chat = whatsapp_chat()
    chat.run(ActionBookStep(), "book_service", service="natural-facial")
    _, msgs = chat.run(ActionBookStep(), "choose_day", date="2026-11-24")  # Nyoman's day off
    assert texts(msgs) == ["Sorry, there are no free times for Natural Glow Facial on Tue 24 Nov. "
                           "The next free times are:"]
    assert buttons(msgs)[-1] == ("Tell me if one opens",
                                 '/join_waitlist{"service":"natural-facial","date":"2026-11-24"}')
    _, msgs = chat.run(ActionJoinWaitlist(), "join_waitlist", service="natural-facial",
                       date="2026-11-24")
    assert texts(msgs) == ["Done: if a time for Natural Glow Facial opens up on Tue 24 Nov, I'll "
                           "message you here and hold it for you for 10 minutes."]
    (entry,) = Waitlist(core).of_customer("ubud-serenity-spa", CUSTOMER)
    assert entry["state"] == WAITING and entry["conversation"]["sender_id"] == CUSTOMER
    assert entry["conversation"]["phone_number_id"] == SPA_NUMBER
    _, msgs = chat.run(ActionJoinWaitlist(), "join_waitlist", service="natural-facial",
                       date="2026-11-24")
    assert texts(msgs) == ["You are already on the waiting list for Natural Glow Facial on Tue 24 Nov."]


def test_joining_a_day_with_free_times_shows_them_and_holds_nothing(core):
    _, msgs = whatsapp_chat().run(ActionJoinWaitlist(), "join_waitlist",
                                  service="natural-facial", date=WEDNESDAY)  # a typed payload
    assert texts(msgs) == ["Good news: there are free times for Natural Glow Facial on Wed 25 "
                           "Nov:"]
    assert buttons(msgs)[0][0] == "09:00"
    assert Waitlist(core).of_customer("ubud-serenity-spa", CUSTOMER) == []
    _, msgs = Chat(sender="web-visitor").run(ActionJoinWaitlist(), "join_waitlist",
                                              service="natural-facial", date="2026-11-24")
    assert texts(msgs)[0].startswith("I can tell you when a time opens up only on WhatsApp.")


def test_joining_for_a_past_day_another_businesss_service_or_a_bad_date_joins_nothing(core):
    chat = whatsapp_chat()
    for service, day in (("natural-facial", "2026-11-22"), ("haircut-blowdry", WEDNESDAY),
                         ("natural-facial", "tomorrow"), ("natural-facial", "2027-06-01")):
        _, msgs = chat.run(ActionJoinWaitlist(), "join_waitlist", service=service, date=day)
        assert texts(msgs) == ["Let's choose a treatment and a day first."]
    assert Waitlist(core).of_customer("ubud-serenity-spa", CUSTOMER) == []


def test_the_offer_says_what_is_held_until_when_and_is_told_once(core, clock):
    chat = whatsapp_chat()
    offer, waitlist, notice = offered(core, chat)
    _, msgs = tell(chat, offer.code, notice["_id"])
    assert texts(msgs) == ["Good news: Natural Glow Facial on Wed 25 Nov, 09:00 with Nyoman has "
                           "opened up. I'm holding it for you until 08:10. Would you like it?"]
    code = '{"booking_code":"%s"}' % offer.code
    assert buttons(msgs) == [("Confirm", f"/accept_offer{code}"),
                             ("No thanks", f"/decline_offer{code}")]
    assert msgs[0]["outside_window"] == {
        "template": "waitlist", "parameters": ["Natural Glow Facial", "Wed 25 Nov, 09:00", "08:10"],
        "payloads": [p for _, p in buttons(msgs)]}
    assert tell(chat, offer.code, notice["_id"])[1] == []  # a retry tells nothing


def test_a_typed_or_someone_elses_offer_says_nothing_of_it(core, clock):
    offer, waitlist, notice = offered(core, whatsapp_chat())
    _, forged = tell(whatsapp_chat(), offer.code, f"{offer.code}:x")
    assert not any(offer.code in (t or "") for t in texts(forged))
    assert tell(whatsapp_chat(OTHER), offer.code, notice["_id"])[1] == []
    assert not waitlist.offers.get(notice["_id"]).get("told_at")


def test_confirm_books_it_and_sends_the_payment_link(core, clock, xendit, db):
    chat = whatsapp_chat()
    offer, waitlist, notice = offered(core, chat)
    _, msgs = chat.run(ActionAcceptOffer(), "accept_offer", booking_code=offer.code)
    [invoice] = xendit.invoices_for(offer.code)
    assert texts(msgs)[0] == (f"Booked ✅\n{offer.code}: Natural Glow Facial\nWed 25 Nov, 09:00 "
                              f"with Nyoman\nRp380.000")
    pay = msgs[1]["custom"]["whatsapp"]
    assert (pay["type"], pay["url"]) == ("cta_url", invoice["invoice_url"])
    assert pay["text"].startswith(f"To confirm {offer.code}, please pay Rp380.000 by 08:30")
    assert db.bookings.find_one({"code": offer.code})["status"] == "PENDING_PAYMENT"


def test_someone_elses_confirm_or_no_thanks_takes_nothing(core, clock, db):
    offer, waitlist, notice = offered(core, whatsapp_chat())
    _, msgs = whatsapp_chat(OTHER).run(ActionAcceptOffer(), "accept_offer",
                                       booking_code=offer.code)
    assert texts(msgs)[0].startswith("Sorry, that time is no longer held for you")
    _, msgs = whatsapp_chat(OTHER).run(ActionDeclineOffer(), "decline_offer",
                                       booking_code=offer.code)
    assert texts(msgs)[0].startswith("That offer has already ended")
    assert db.bookings.find_one({"code": offer.code})["status"] == "OFFERED"


def test_yes_right_after_the_offer_takes_it_and_no_lets_it_go(core, clock, db):
    chat = whatsapp_chat()
    offer, waitlist, notice = offered(core, chat)
    _, told = tell(chat, offer.code, notice["_id"])
    chat.history.append({"event": "bot", "text": told[0]["text"],
                         "data": {"buttons": told[0]["buttons"]}})
    _, msgs = chat.run(ActionYes(), "affirm", "yes please")
    assert texts(msgs)[0].startswith(f"Booked ✅\n{offer.code}")

    other = whatsapp_chat(OTHER)
    second, _, notice = offered(core, other, day="2026-11-26")
    _, told = tell(other, second.code, notice["_id"])
    other.history.append({"event": "bot", "text": told[0]["text"],
                          "data": {"buttons": told[0]["buttons"]}})
    _, msgs = other.run(ActionNo(), "deny", "no thanks")
    assert texts(msgs) == ["No problem, I've let it go to the next person on the list."]
    assert db.bookings.find_one({"code": second.code})["status"] == "WITHDRAWN"  # freed
    assert db.waitlist.find_one({"offer.code": second.code})["state"] == "LEFT"
