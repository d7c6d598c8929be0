"""Payment news in the conversation (triggered by Xendit callbacks as the external intent
``EXTERNAL_payment_update``) and "Pay again" after an expired link."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk.events import EventType, SlotSet

from actions import present
from actions.base import BookingAction, Turn, reset_booking, show_menu
from actions.booking_flow import limit_reached, offer_alternatives, send_payment_request
from booking.errors import (CustomerLimitError, InvalidTransitionError, SlotConflictError,
                            UnknownEntityError)
from booking.i18n import N_
from booking.models import CANCELLED, CONFIRMED, EXPIRED, Booking
from booking.payments import NOTICE_EXPIRED, NOTICE_LINK, NOTICE_PAID, NOTICE_REFUND


class ActionPaymentUpdate(BookingAction):
    """Tells the customer what happened to a payment: paid (confirmation + PDF), link
    expired (Pay again / Pick another time), paid too late (refund + other times), or the
    link that could not be made at first."""

    reads_open_question = False  # not an answer to the open question

    def name(self) -> Text:
        return "action_payment_update"

    def act(self, turn: Turn) -> List[EventType]:
        code = turn.entity("booking_code") or ""
        kind = turn.entity("payment_update") or ""
        payment_id = turn.entity("payment") or ""
        notice = turn.payments.notice(payment_id, kind) if payment_id and kind else None
        if notice is None or notice.get("code") != code:
            # Not news the server wrote: someone typed the external intent's text.
            return show_menu(turn)
        if (notice.get("conversation") or {}).get("sender_id") != turn.tracker.sender_id:
            return []  # payment news goes only to the conversation that made the booking
        try:
            booking = turn.core.get(code)
            payment = turn.payments.payment(payment_id) if payment_id else None
        except UnknownEntityError:
            return []
        if booking.customer_id != turn.customer_id:
            return []
        return self._tell(turn, booking, payment, kind, notice) + [SlotSet("booking_code", None)]

    def _tell(self, turn: Turn, booking: Booking, payment, kind: str,
              notice: dict) -> List[EventType]:
        service = turn.catalog.service(booking.service_id)
        if kind == NOTICE_PAID and payment is not None:
            return self._paid(turn, booking, payment)
        if kind == NOTICE_EXPIRED:
            turn.say(turn.t("The payment link for {code} has expired, so {when} is no longer "
                            "held for you.", code=booking.code,
                            when=turn.tx.moment(booking.start, turn.tz)), [
                         present.button(turn.t("Pay again"), "pay_again",
                                        booking_code=booking.code),
                         present.button(turn.t("Pick another time"), "book_service",
                                        service=service.id)])
            return []
        if kind == NOTICE_REFUND and notice.get("reason") == "withdrawn":
            turn.say(turn.t("We received a payment of {amount} for {code} on a payment link "
                            "that was no longer valid. Sorry: the full amount will be refunded.",
                            amount=turn.tx.money(booking.due_now), code=booking.code),
                     present.menu_buttons(turn.tx))
            return []
        if kind == NOTICE_REFUND:
            starts = [s.start for s in turn.core.next_free(service.id, turn.now, 3)]
            return offer_alternatives(
                turn, turn.t("We received your payment of {amount} for {code}, but sorry: "
                             "{when} was taken after your payment link expired. The full amount "
                             "will be refunded.", amount=turn.tx.money(booking.due_now),
                             code=booking.code, when=turn.tx.moment(booking.start, turn.tz)),
                starts) + [SlotSet("service", service.id)]
        if kind == NOTICE_LINK and payment is not None:
            send_payment_request(turn, payment)
        return []

    @staticmethod
    def _paid(turn: Turn, booking: Booking, payment) -> List[EventType]:
        if booking.status == CANCELLED:  # cancelled after the news was written: no PDF
            refund = turn.payments.after_cancel(booking)  # recorded (once) if not yet
            turn.say(turn.t("We received your payment of {amount} for {code}, thank you. The "
                            "booking has been cancelled, so the full amount will be refunded.",
                            amount=turn.tx.money(payment.amount), code=booking.code) if refund
                     else turn.t("We received your payment for {code}, thank you. The booking "
                                 "has been cancelled.", code=booking.code),
                     present.menu_buttons(turn.tx))
            return []
        service = turn.catalog.service(booking.service_id)
        staff = turn.catalog.staff_member(booking.staff_id)
        villa = turn.catalog.villa(booking.villa_id).name if booking.villa_id else None
        turn.say(turn.t("Payment received, thank you! ✅ Your booking is confirmed:") + "\n"
                 + present.booking_summary(booking, service, staff.name, turn.tz, turn.tx, villa))
        url = turn.payments.receipt_url(payment.receipt_token, turn.language)
        if turn.channel == "whatsapp":
            turn.dispatcher.utter_message(json_message={"whatsapp": {
                "type": "document", "link": url, "filename": f"{booking.code}.pdf",
                "caption": turn.t("Confirmation and invoice {code}", code=booking.code)}})
        else:
            turn.say(turn.t("Your confirmation and invoice (PDF): {url}", url=url))
        return []


class ActionPayAgain(BookingAction):
    """"Pay again": hold the same time again if it is still free, with a new payment link."""

    reads_open_question = False  # not an answer to the open question

    def name(self) -> Text:
        return "action_pay_again"

    def act(self, turn: Turn) -> List[EventType]:
        code = (turn.entity("booking_code") or "").upper()
        if not code:  # typed "pay again": the latest booking whose link expired
            latest = turn.core.latest(turn.customer_id, turn.business.id, EXPIRED)
            code = latest.code if latest else ""
        return self.pay(turn, code)

    @staticmethod
    def pay(turn: Turn, code: str) -> List[EventType]:
        """A new payment link for booking ``code`` of this customer, if it can still be held."""
        try:
            # only this customer's booking with the business whose number they wrote to
            booking = turn.core.get_owned(code, turn.customer_id, turn.business.id)
            payment = turn.payments.pay_again(code, turn.customer_id, turn.conversation,
                                              business_id=turn.business.id)
        except UnknownEntityError:
            turn.say(turn.t("I couldn't find that booking. Would you like to book a treatment?"),
                     present.menu_buttons(turn.tx))
            return reset_booking()
        except CustomerLimitError as exc:
            turn.say(limit_reached(turn, exc), [
                present.button(turn.t("Pick another time"), "book_service",
                               service=booking.service_id)])
            return reset_booking()
        except SlotConflictError as exc:
            return offer_alternatives(
                turn, turn.t("Sorry, {when} is no longer free.",
                             when=turn.tx.moment(booking.start, turn.tz)),
                exc.alternatives) + [SlotSet("service", booking.service_id),
                                     SlotSet("slot_chosen_at", None)]
        except InvalidTransitionError as exc:
            message = {CONFIRMED: N_("Booking {code} is already paid and confirmed."),
                       CANCELLED: N_("Booking {code} is cancelled.")}.get(
                exc.current or "", N_("Booking {code} is no longer payable."))
            turn.say(turn.t(message, code=code), present.menu_buttons(turn.tx))
            return []
        send_payment_request(turn, payment)
        return []

