"""Messages the server sends at a time (reminders before a visit), in the customer's own
conversation: the scheduler's sender, served by every Rasa server.

Each round it plans (at most every ``SCHEDULED_PLAN_SECONDS``, default 60: the confirmed
bookings of the next days, ``booking.scheduler``), then claims the due messages one at a time
(atomic: two servers never send one twice), drops those whose booking changed or ended (or
that the customer stopped, or past the week's one optional message), completes the visits
nobody marked (``complete``: no message), and hands each of the others (reminders, feedback
questions, "book again?" offers) to Rasa as the external intent ``EXTERNAL_reminder``: the dialogue
records it and the reply leaves through the customer's channel like every bot message (on
WhatsApp outside the 24-hour window, as the approved reminder template with the same buttons).
It counts as sent only once the dialogue's action marked it told; otherwise it is tried again
with a growing wait. It listens to nothing from outside (a health check only) and polls every
``SCHEDULED_POLL_SECONDS`` (default 5).
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Dict, Optional, Text

from pymongo.errors import PyMongoError
from rasa.core.channels.channel import InputChannel

from booking.errors import BookingError, InvalidTransitionError, UnknownEntityError
from booking.models import COMPLETED, CONFIRMED
from booking.conversations import Conversations
from booking.reminders import COMPLETE, NUDGE, OPTIONAL
from booking.scheduler import ScheduledMessages
from channels.notices import LATER, NoticesInput

logger = logging.getLogger(__name__)


class ScheduledInput(NoticesInput):
    """Plans and sends scheduled messages; see the module docstring."""

    intent = "EXTERNAL_reminder"

    @classmethod
    def name(cls) -> Text:
        return "scheduled"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        env = os.environ
        return cls(float(env.get("SCHEDULED_POLL_SECONDS") or 5),
                   float(env.get("SCHEDULED_PLAN_SECONDS") or 60))

    def __init__(self, poll_seconds: float = 5.0, plan_seconds: float = 60.0) -> None:
        super().__init__(poll_seconds)
        self.plan_seconds = plan_seconds
        self._planned_at = float("-inf")
        self._core: Any = None

    def queue(self) -> ScheduledMessages:  # type: ignore[override]
        """The scheduled messages (connects to MongoDB: call from the worker thread)."""
        if self._queue is None:
            from booking.runtime import booking_service

            self._core = booking_service()
            self._queue = ScheduledMessages.of(self._core)
        return self._queue  # type: ignore[return-value]

    def prepare(self) -> None:
        """Plan what is still to come, at most every ``plan_seconds``."""
        if time.monotonic() - self._planned_at < self.plan_seconds:
            return
        try:
            added = self.queue().plan()
        except (PyMongoError, BookingError) as exc:  # sending what is planned goes on
            logger.error("cannot plan scheduled messages: %s", exc)
            return
        except Exception:  # (a bug in planning must not stop what is planned from going)
            logger.exception("planning scheduled messages failed")
            return
        self._planned_at = time.monotonic()
        if added:
            logger.info("planned %d scheduled messages", added)

    def not_to_send(self, notice: dict[str, Any]) -> Optional[str]:
        try:
            booking = self._core.get(notice["code"])
        except UnknownEntityError:
            return "the booking is gone"
        queue = self.queue()
        reason = queue.still_due(notice, booking)
        if reason is not None:
            return reason
        business = self._core.catalog.businesses.get(booking.business_id)
        until = queue.quiet_until(notice, business) if business else None
        if until is not None and notice["kind"] != COMPLETE:  # nobody is woken up
            queue.postpone(notice["_id"], until)
            return LATER
        if notice["kind"] in OPTIONAL:
            return self._optional(queue, notice, booking)
        return None

    def _optional(self, queue: ScheduledMessages, notice: dict[str, Any],
                  booking: Any) -> Optional[str]:
        """Feedback questions and offers: only in WhatsApp's 24-hour window (outside it only
        an approved template may go, and these have none: marketing needs its own opt-in),
        and one a week (an offer waits for the week's end; a question would be stale)."""
        conversation = Conversations(self._core.db, self._core.clock).of_customer(
            booking.business_id, booking.customer_id)
        if conversation is None or not conversation.window_open(self._core.clock()):
            return "outside WhatsApp's 24-hour window"
        if queue.use_allowance(notice):
            return None
        if notice["kind"] == NUDGE:
            free = queue.contact.allowance_free_at(booking.business_id, booking.customer_id)
            if free is not None and free < notice["expires_at"]:
                queue.postpone(notice["_id"], free)
                return LATER
        return "one feedback question or offer a week at most"

    def done_here(self, notice: dict[str, Any]) -> bool:
        """A visit nobody marked is completed (it tells nobody)."""
        if notice["kind"] != COMPLETE:
            return False
        try:
            self._core.transition(notice["code"], COMPLETED, expected=CONFIRMED,
                                  fields={"auto_completed": True}, by="auto-complete")
        except InvalidTransitionError:  # marked meanwhile (completed, no-show): theirs stands
            pass
        return True

