"""Waiting-list offers, told in the customer's own conversation: the waiting list's sender,
served by every Rasa server.

Each round it matches (``booking.waitlist``: offers nobody answered in time are withdrawn and
freed time is held for the next waiting customer), then claims the offers to tell one at a time
(atomic: two servers never tell one twice), drops those no longer held (accepted, declined or
over), and hands each of the others to Rasa as the external intent ``EXTERNAL_waitlist_offer``:
the dialogue records it and the reply ([Confirm] [No thanks]) leaves through the customer's
channel like every bot message (on WhatsApp outside the 24-hour window, as the approved
waiting-list template with the same buttons). It counts as told only once the dialogue's action
marked it; otherwise it is tried again with a growing wait, while the hold lasts. It listens to
nothing from outside (a health check only) and polls every ``WAITLIST_POLL_SECONDS`` (default
5); an offer is held ``WAITLIST_HOLD_MINUTES`` (default 10).
"""
from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any, Dict, Optional, Text

from pymongo.errors import PyMongoError
from rasa.core.channels.channel import InputChannel

from booking.errors import BookingError, UnknownEntityError
from booking.settings import Settings
from booking.waitlist import Waitlist, OfferNotices, still_offered
from channels.notices import NoticesInput

logger = logging.getLogger(__name__)


class WaitlistInput(NoticesInput):
    """Matches the waiting list and tells its offers; see the module docstring."""

    intent = "EXTERNAL_waitlist_offer"

    @classmethod
    def name(cls) -> Text:
        return "waitlist"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls(float(os.environ.get("WAITLIST_POLL_SECONDS") or 5),
                   Settings.from_env().waitlist_hold_minutes)

    def __init__(self, poll_seconds: float = 5.0, hold_minutes: float = 10.0) -> None:
        super().__init__(poll_seconds)
        self.hold = timedelta(minutes=hold_minutes)
        self._waitlist: Optional[Waitlist] = None

    def waitlist(self) -> Waitlist:
        """The waiting list (connects to MongoDB: call from the worker thread)."""
        if self._waitlist is None:
            from booking.runtime import booking_service

            self._waitlist = Waitlist(booking_service(), self.hold)
        return self._waitlist

    def queue(self) -> OfferNotices:  # type: ignore[override]
        """The offers to tell."""
        return self.waitlist().offers

    def prepare(self) -> None:
        """Match what is free to who waits (a failure here never stops telling offers)."""
        try:
            made = self.waitlist().match()
        except (PyMongoError, BookingError) as exc:
            logger.error("cannot match the waiting list: %s", exc)
            return
        except Exception:  # (a bug in matching must not stop what was offered from going)
            logger.exception("matching the waiting list failed")
            return
        if made:
            logger.info("offered %d freed times to waiting customers", len(made))

    def not_to_send(self, notice: dict[str, Any]) -> Optional[str]:
        core = self.waitlist().core
        try:
            booking = core.get(notice["code"])
        except UnknownEntityError:
            return "the offer was declined or passed on"
        if not still_offered(booking, core.clock()):
            return "the offer is no longer held"
        return None
