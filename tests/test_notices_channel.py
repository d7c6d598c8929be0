"""The notices channel's sending loop on a real mongod: news counts as sent only when the
dialogue's action told it; otherwise it waits and is tried again (the action server was down)."""
from __future__ import annotations

import asyncio

from booking.notices import BookingNotices
from channels.notices import NoticesInput, booking_news_text


def queued(db, clock) -> BookingNotices:
    queue = BookingNotices(db, clock)
    queue.put("BK100001:moved:2", {"kind": "moved", "code": "BK100001", "version": 2,
                                   "conversation": {"channel": "rest", "sender_id": "me"}})
    return queue


def test_news_the_action_told_is_sent_once(db, clock):
    channel, queue = NoticesInput(), queued(db, clock)
    channel._queue = queue
    heard = []

    async def dialogue(message) -> None:  # what Rasa does: runs action_booking_update
        heard.append(message.text)
        queue.mark_told("BK100001:moved:2")

    assert asyncio.run(channel.drain(dialogue)) == 1
    assert heard == [booking_news_text(queue.get("BK100001:moved:2"))]
    assert heard[0].startswith("/EXTERNAL_booking_update{")
    assert queue.get("BK100001:moved:2")["state"] == "SENT"
    assert asyncio.run(channel.drain(dialogue)) == 0 and len(heard) == 1


def test_news_the_dialogue_did_not_tell_waits_and_is_tried_again(db, clock):
    from datetime import timedelta

    channel, queue = NoticesInput(), queued(db, clock)
    channel._queue = queue

    async def action_server_down(message) -> None:  # Rasa goes on without the action
        return None

    assert asyncio.run(channel.drain(action_server_down)) == 0
    doc = queue.get("BK100001:moved:2")
    assert doc["state"] == "PENDING" and doc["attempts"] == 1 and "action server" in doc["error"]
    assert asyncio.run(channel.drain(action_server_down)) == 0  # not yet: it waits
    assert queue.get("BK100001:moved:2")["attempts"] == 1
    clock.now += timedelta(seconds=31)

    async def dialogue(message) -> None:
        queue.mark_told("BK100001:moved:2")
    assert asyncio.run(channel.drain(dialogue)) == 1
    assert queue.get("BK100001:moved:2")["state"] == "SENT"
