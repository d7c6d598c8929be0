"""After a visit, in the customer's chat: the feedback question (1–5) and its answer, the
"book again?" offer, and STOP / START for such messages (``booking.contact_prefs``).

The questions themselves are scheduled messages, told by ``actions.reminders.ActionReminder``
(``ask_feedback``, ``offer_again``). A score is this customer's, for a completed visit of
theirs, once: 4–5 gets thanks and the business's review link; 1–3 is put in the business's
inbox for a person (``booking.conversations`` reason ``feedback``).
"""
from __future__ import annotations

from typing import List, Text

from rasa_sdk.events import EventType, SlotSet

from actions import present
from actions.base import BookingAction, Turn, small_int
from actions.handoff import flag
from booking.contact_prefs import CustomerContact
from booking.conversations import FEEDBACK
from booking.errors import UnknownEntityError
from booking.feedback import Feedback
from booking.models import COMPLETED, Booking

SCORES = {5: "⭐⭐⭐⭐⭐", 4: "⭐⭐⭐⭐", 3: "⭐⭐⭐", 2: "⭐⭐", 1: "⭐"}


def ask_feedback(turn: Turn, booking: Booking) -> None:
    """How was it? Five choices (a list on WhatsApp)."""
    service = present.service_name(turn.catalog.service(booking.service_id), turn.tx)
    staff = turn.catalog.staff_member(booking.staff_id).name
    turn.say(turn.t("How was your {service} with {staff}? Tap a score, 5 is the best. "
                    "(Reply STOP to get no more of these.)", service=service, staff=staff),
             [present.button(stars, "rate_visit", booking_code=booking.code, score=str(score))
              for score, stars in SCORES.items()])


def offer_again(turn: Turn, booking: Booking) -> None:
    """The same treatment with the same person, one tap away."""
    service = turn.catalog.service(booking.service_id)
    staff = turn.catalog.staff_member(booking.staff_id)
    turn.say(turn.t("It's been a while since your {service} with {staff} 🌿 Would you like to "
                    "book it again? (Reply STOP to get no more of these.)",
                    service=present.service_name(service, turn.tx), staff=staff.name),
             [present.button(turn.t("Book with {staff}", staff=staff.name),
                             "book_service", service=service.id, staff=staff.id),
              present.button(turn.t("Something else"), "book_service")])


class ActionRateVisit(BookingAction):
    """A score for a visit (a tap on the feedback question)."""

    def name(self) -> Text:
        return "action_rate_visit"

    def act(self, turn: Turn) -> List[EventType]:
        code = (turn.entity("booking_code") or "").upper()
        score = small_int(turn.entity("score"), 0)
        try:
            booking = turn.core.get_owned(code, turn.customer_id, turn.business.id)
        except UnknownEntityError:
            booking = None
        if booking is None or booking.status != COMPLETED or not 1 <= score <= 5:
            turn.say(turn.t("I can't find that visit to rate. Here is what I can do:"),
                     present.menu_buttons(turn.tx))
            return [SlotSet("booking_code", None)]
        if not Feedback(turn.core.db, turn.core.clock).record(booking, score):
            turn.say(turn.t("You've already told us about that visit: thank you!"))
            return [SlotSet("booking_code", None)]
        if score >= 4:
            thanks = turn.t("Thank you, that means a lot to the {business} team! 🙏",
                            business=turn.business.name)
            if turn.business.review_url:
                review(turn, thanks, turn.business.review_url)
            else:
                turn.say(thanks)
        else:
            flag(turn, FEEDBACK)
            turn.say(turn.t("I'm sorry it wasn't what you hoped for. I've asked the {business} "
                            "team to get in touch with you here.", business=turn.business.name))
        return [SlotSet("booking_code", None)]


def review(turn: Turn, thanks: str, url: str) -> None:
    """The thanks with the business's review link (a button on WhatsApp)."""
    ask = turn.t("Would you share it in a review? It helps others find us.")
    if turn.channel == "whatsapp":
        turn.dispatcher.utter_message(json_message={"whatsapp": {
            "type": "cta_url", "text": f"{thanks}\n{ask}",
            "display_text": turn.t("Write a review"), "url": url}})
    else:
        turn.say(f"{thanks}\n{ask} {url}")


class ActionOptOut(BookingAction):
    """STOP: no more feedback questions or offers; asks about reminders too."""

    reads_open_question = False

    def name(self) -> Text:
        return "action_opt_out"

    def act(self, turn: Turn) -> List[EventType]:
        contact = CustomerContact(turn.core.db, turn.core.clock)
        also_reminders = turn.entity("scope") == "reminders"
        contact.stop(turn.business.id, turn.customer_id, reminders=also_reminders)
        if also_reminders:
            turn.say(turn.t("Done: no reminders either. Reply START any time to get them "
                            "again."))
            return []
        turn.say(turn.t("Done: {business} will send you no more feedback questions or offers. "
                        "Stop the reminders before your visits too?",
                        business=turn.business.name),
                 [present.button(turn.t("Stop reminders too"), "opt_out", scope="reminders"),
                  present.button(turn.t("Keep reminders"), "opt_in", scope="keep")])
        return []


class ActionOptIn(BookingAction):
    """START: everything is welcome again ("Keep reminders" after STOP keeps the rest off)."""

    reads_open_question = False

    def name(self) -> Text:
        return "action_opt_in"

    def act(self, turn: Turn) -> List[EventType]:
        if turn.entity("scope") == "keep":
            turn.say(turn.t("OK, you'll still get your reminders."))
            return []
        CustomerContact(turn.core.db, turn.core.clock).start(turn.business.id, turn.customer_id)
        turn.say(turn.t("Welcome back! You'll get reminders, feedback questions and offers "
                        "from {business} again. Reply STOP any time.",
                        business=turn.business.name), present.menu_buttons(turn.tx))
        return []
