"""How long the channel keeps what it records: TTL indexes, changed in place when the
configured retention changes (``DATA_RETENTION_DAYS``, default 90 days)."""
from __future__ import annotations

import logging
from datetime import timedelta

from pymongo.collection import Collection
from pymongo.errors import OperationFailure

logger = logging.getLogger(__name__)


def ensure_ttl(collection: Collection, field: str, keep: timedelta) -> None:
    """A TTL index on ``field`` removing documents ``keep`` after it; an existing one with
    another value is changed with ``collMod`` (``create_index`` would refuse it)."""
    seconds = max(0, int(keep.total_seconds()))
    for index in collection.list_indexes():
        if dict(index["key"]) == {field: 1} and "expireAfterSeconds" in index:
            if index["expireAfterSeconds"] != seconds:
                collection.database.command("collMod", collection.name, index={
                    "keyPattern": {field: 1}, "expireAfterSeconds": seconds})
                logger.info("retention of %s changed to %ss", collection.name, seconds)
            return
    try:
        collection.create_index(field, expireAfterSeconds=seconds)
    except OperationFailure as exc:  # a plain index on the field exists: make it expire
        if exc.code not in (85, 86):  # IndexOptionsConflict, IndexKeySpecsConflict
            raise
        collection.database.command("collMod", collection.name, index={
            "keyPattern": {field: 1}, "expireAfterSeconds": seconds})
