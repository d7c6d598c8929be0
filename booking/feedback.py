"""Customers' scores of their visits (``feedback``, one per booking: the first answer counts),
and their averages per service and per staff member for the console's dashboard. Blocking
pymongo."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from booking.db import with_retries
from booking.models import Booking

LOW = 3  # a score of this or less is a visit a person of the business should hear about


class Feedback:
    """Scores, one per booking."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.collection = db.feedback
        self.clock = clock

    def record(self, booking: Booking, score: int) -> bool:
        """Keep the customer's score of ``booking`` (1–5); False when it was scored already."""
        if not 1 <= score <= 5:
            raise ValueError(f"a score is 1 to 5, got {score!r}")
        try:
            with_retries(lambda: self.collection.insert_one({
                "_id": booking.code, "business_id": booking.business_id,
                "service_id": booking.service_id, "staff_id": booking.staff_id,
                "score": score, "at": self.clock()}))
        except DuplicateKeyError:
            return False
        return True

    def summary(self, business_id: str, since: datetime,
                until: datetime) -> dict[str, list[dict[str, Any]]]:
        """Average score, count and low scores per service and per staff member, of the scores
        given in [since, until): ``{"service": [{"id", "average", "count", "low"}...],
        "staff": [...]}``."""
        def by(field: str) -> list[dict[str, Any]]:
            rows = with_retries(lambda: list(self.collection.aggregate([
                {"$match": {"business_id": business_id,
                            "at": {"$gte": since, "$lt": until}}},
                {"$group": {"_id": f"${field}", "average": {"$avg": "$score"},
                            "count": {"$sum": 1},
                            "low": {"$sum": {"$cond": [{"$lte": ["$score", LOW]}, 1, 0]}}}},
                {"$sort": {"_id": 1}}])))
            return [{"id": r["_id"], "average": round(r["average"], 1), "count": r["count"],
                     "low": r["low"]} for r in rows]
        return {"service": by("service_id"), "staff": by("staff_id")}
