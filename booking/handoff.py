"""Requests from customers to talk to a person, recorded for the business to follow up."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database

from booking.db import with_retries

OPEN = "OPEN"


@dataclass(frozen=True)
class HandoffRequest:
    """One open request: who, for which business, since when, and what they last said."""

    business_id: str
    customer_id: str
    customer_name: str
    requested_at: datetime
    last_message: str
    times_asked: int


class HandoffDesk:
    """Keeps at most one open request per customer and business."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def request(self, business_id: str, customer_id: str, customer_name: str,
                last_message: str, now: datetime) -> HandoffRequest:
        """Open a request, or refresh the open one (asking twice is one request)."""
        doc: dict[str, Any] = with_retries(lambda: self.db.handoff_requests.find_one_and_update(
            {"business_id": business_id, "customer_id": customer_id, "status": OPEN},
            {"$setOnInsert": {"requested_at": now},
             "$set": {"customer_name": customer_name, "last_message": last_message[:500],
                      "updated_at": now},
             "$inc": {"times_asked": 1}},
            upsert=True, return_document=ReturnDocument.AFTER))
        return HandoffRequest(business_id, customer_id, doc.get("customer_name", ""),
                              doc["requested_at"], doc["last_message"], doc["times_asked"])

    def open_requests(self, business_id: str) -> list[HandoffRequest]:
        """Open requests of a business, oldest first."""
        docs = with_retries(lambda: list(self.db.handoff_requests.find(
            {"business_id": business_id, "status": OPEN}).sort("requested_at", 1)))
        return [HandoffRequest(d["business_id"], d["customer_id"], d.get("customer_name", ""),
                               d["requested_at"], d["last_message"], d["times_asked"])
                for d in docs]

