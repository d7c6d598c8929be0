"""The per-customer worker: each customer's inbox drained in order by the server holding their
lease, a sweep that resumes customers left waiting, and the resending of kept replies.

A turn holds one of ``max_turns`` slots only for its CPU work (Rasa on this event loop): the
slot is taken before a message is claimed; mark-as-read, Graph sends and action-server calls
give it back while they wait (``channels.rasa_patches.network_wait``). While a message is being handled its
lease (and the customer's) is renewed, so a slow turn is never run again by another server; if
the lease was lost anyway, the outcome write changes nothing (fenced by owner and attempt).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Optional

from pymongo.errors import PyMongoError
from rasa.core.channels.channel import UserMessage
from rasa.core.lock_store import LockError

from booking import metrics
from booking.db import is_transient
from booking.errors import BookingError, DatabaseUnavailableError
from booking.i18n import N_
from booking.logsafe import mask_phone
from booking.retry import Backoff, retry_async
from channels.payloads import payload_parse_data
from channels.rasa_patches import TurnSlot, current_turn, network_wait
from channels.whatsapp.config import WhatsAppConfig
from channels.whatsapp.errors import GraphError, RetryableGraphError
from channels.whatsapp.graph import GraphClient
from channels.whatsapp.inbox import INTERNAL, LOST, NEWER, RELEASED, SLOW_DOWN, Inbox
from channels.whatsapp.output import WhatsAppOutput, more_page
from channels.whatsapp.staff import StaffSide

logger = logging.getLogger(__name__)
OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
UNSUPPORTED_REPLY = N_("Sorry, I can only read text and taps on buttons. "
                       "Please type your message or choose an option.")
SLOW_DOWN_REPLY = N_("You're sending messages faster than I can answer. Please slow down a "
                     "little: I'll answer your next message in a minute.")
OUTCOME_WRITES = Backoff(base=0.2, factor=2.0, cap=5.0, attempts=None)


HELD = "held"  # ``_take_next``: another server has the customer
STALLED = "stalled"  # ``_take_next``: renewing the lease took a third of it


class _Lease:
    """This worker's lease on the customer: until when it is ours (``Inbox.acquire``; None
    before it is taken), renewed once a third of it has gone rather than before every message
    (and while a turn runs, with its message's: ``_keep_leased``); ``lost`` once a renewal
    found it taken."""

    def __init__(self, length: timedelta) -> None:
        self.length, self.lost = length, False
        self.until: Optional[datetime] = None

    def due(self) -> bool:
        return self.until is None or \
            datetime.now(timezone.utc) > self.until - self.length * 2 / 3

    def renewed(self, until: datetime) -> None:
        self.until = until


def outage(exc: BaseException) -> bool:
    """Whether a turn failed because the database is away, or its conversation's lock stayed
    taken past Rasa's lock lifetime (60 s): worth running again later."""
    return isinstance(exc, (DatabaseUnavailableError, LockError)) or (
        isinstance(exc, PyMongoError) and is_transient(exc))


def flow_completion_text(extra: dict[str, Any]) -> Optional[str]:
    """A completed booking Flow continues exactly like tapping that time: ``/choose_slot``."""
    params = extra.get("flow_response")
    if not isinstance(params, dict) or not params.get("service") or not params.get("slot_time"):
        return None
    entities = {"service": str(params["service"]), "slot_time": str(params["slot_time"])}
    if params.get("villa"):
        entities["villa"] = str(params["villa"])
    return "/choose_slot" + json.dumps(entities, separators=(",", ":"))


def _store_error(exc: BaseException) -> bool:
    return isinstance(exc, (PyMongoError, BookingError))


class CustomerWorkers:
    """One worker task per customer with waiting messages on this server."""

    def __init__(self, inbox: Callable[[], Inbox], output_for: Callable[[str], WhatsAppOutput],
                 graph: GraphClient, config: WhatsAppConfig, owner: str,
                 channel_name: str = "whatsapp") -> None:
        self._inbox, self.output_for, self.graph = inbox, output_for, graph
        self.config, self._owner, self.channel_name = config, owner, channel_name
        self._workers: dict[str, asyncio.Task] = {}
        self._again: set[str] = set()  # customers kicked while their worker was running
        self._slots: Optional[asyncio.Semaphore] = None
        self._ready: Optional[Inbox] = None  # ``_the_inbox``
        self._deadline: Optional[float] = None  # (loop time) ``stop``: no turn starts after
        self.agent_of: Callable[[], Any] = lambda: None  # the Rasa agent (set by ``channel.py``)
        self.staff = StaffSide(inbox, lambda: self.agent_of(),
                               timedelta(hours=config.handoff_idle_hours))

    @property
    def owner(self) -> str:
        """This process's name in leases: the server's, and the process id (Sanic forks a
        server's worker processes after the channel is built; each holds its own leases)."""
        return f"{self._owner}:{os.getpid()}"

    def kick(self, sender: str, on_new_message: OnNewMessage) -> None:
        """Make sure one worker drains this customer's messages, in order."""
        worker = self._workers.get(sender)
        if worker is not None and not worker.done():
            self._again.add(sender)  # the running worker looks once more before it ends
            return
        task = asyncio.create_task(self._drain(sender, on_new_message))
        self._workers[sender] = task
        task.add_done_callback(lambda done: self._forget(sender, done))

    async def stop(self) -> None:
        """Hand this server's customers over as it stops: for ``stop_grace_seconds`` its
        workers go on (what arrives meanwhile for a customer it holds is answered here, not
        left to another server's sweep); then no turn starts, and each worker gives its
        customer's lease back, so a restarted or another server carries on at once rather than
        once the lease ran out (``LEASE``). A turn still running then is cancelled: its
        message runs again once its lease has run out, as after a crash."""
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + self.config.stop_grace_seconds
        while running := [task for task in self._workers.values() if not task.done()]:
            if loop.time() >= self._deadline:
                logger.warning("stopping with %d WhatsApp turns unfinished; they run again "
                               "once their leases run out", len(running))
                for task in running:
                    task.cancel()
                await asyncio.wait(running)
                return
            await asyncio.wait(running, timeout=self._deadline - loop.time())

    def _stopped(self) -> bool:
        """Past ``stop``'s grace: no turn starts."""
        return self._deadline is not None and \
            asyncio.get_running_loop().time() >= self._deadline

    def _forget(self, sender: str, task: asyncio.Task) -> None:
        """A finished worker is dropped (memory stays bounded by the customers in flight)."""
        if self._workers.get(sender) is task:
            del self._workers[sender]
            self._again.discard(sender)
        if not task.cancelled() and task.exception() is not None:
            logger.error("WhatsApp worker of %s failed: %r", mask_phone(sender), task.exception())

    async def sweep(self, on_new_message: OnNewMessage) -> None:
        """At start and every ``sweep_seconds``: resume customers with waiting messages (left
        by a restart, an outage, or a server that died holding their lease)."""
        while True:
            await self._kick_all(lambda: self._inbox().senders_with_work(), on_new_message,
                                 "unprocessed WhatsApp messages")
            try:  # a person's conversation left idle goes back to the bot
                await asyncio.to_thread(lambda: self.staff.conversations().release_idle())
            except (PyMongoError, BookingError) as exc:
                logger.warning("could not release idle conversations: %s", exc)
            try:
                await self.resend_deferred()
            except (PyMongoError, BookingError) as exc:
                logger.warning("could not look for replies to send again: %s", exc)
            await asyncio.sleep(self.config.sweep_seconds)

    async def watch_items(self, on_new_message: OnNewMessage) -> None:
        """Every ``items_poll_seconds``: start the customers whose queue got an item from the
        console (a staff reply should not wait for the sweep)."""
        while True:
            await self._kick_all(lambda: self._inbox().senders_with_items(), on_new_message,
                                 "the business's queued items")
            await asyncio.sleep(self.config.items_poll_seconds)

    async def _kick_all(self, find: Callable[[], list[str]], on_new_message: OnNewMessage,
                        what: str) -> None:
        """Start a worker for every customer ``find`` names (a database outage: none)."""
        try:
            senders = await asyncio.to_thread(find)
        except (PyMongoError, BookingError) as exc:
            logger.warning("could not look for %s: %s", what, exc)
            return
        for sender in senders:
            self.kick(sender, on_new_message)

    async def resend_deferred(self) -> None:
        """Send again the replies Graph would not take earlier (each once it is taken; given up
        after ``resend_for_hours``, past WhatsApp's 24-hour window)."""
        inbox = await self._the_inbox()
        while (doc := await asyncio.to_thread(inbox.claim_deferred)) is not None:
            try:
                wamid = await self.graph.send(doc["phone_number_id"], doc["to"], doc["message"])
            except RetryableGraphError as exc:
                age = datetime.now(timezone.utc) - doc["at"].replace(tzinfo=timezone.utc)
                wait = min(self.config.resend_seconds * 2 ** doc["attempts"], 1800.0)
                await asyncio.to_thread(
                    inbox.deferred_again, doc["_id"], str(exc),
                    None if age > timedelta(hours=self.config.resend_for_hours)
                    else timedelta(seconds=wait))
                return  # Graph still refuses: the rest waits for the next sweep
            except GraphError as exc:
                await asyncio.to_thread(inbox.deferred_again, doc["_id"], str(exc), None)
                continue
            await asyncio.to_thread(inbox.deferred_sent, doc["_id"], wamid)

    async def _drain(self, sender: str, on_new_message: OnNewMessage) -> None:
        """Process the customer's messages one at a time while holding their lease. The lease
        goes back with the last message's outcome when nothing newer was recorded meanwhile
        (one write); then, or after giving it back, look once more: a message recorded by
        another process, whose kick found the lease still ours, waits for no sweep."""
        try:
            inbox = await self._the_inbox()
            while True:
                self._again.discard(sender)
                lease = _Lease(inbox.lease)  # taken with the first claim (``_take_next``)
                outcome: Any = True
                while outcome is True:
                    outcome = await self._next(inbox, sender, on_new_message, lease)
                if outcome == HELD:
                    return  # another server is draining this customer
                if outcome not in (RELEASED, LOST):  # (lost: acquiring again tells for sure)
                    await asyncio.to_thread(inbox.release, sender, self.owner)
                    if outcome is None or self._stopped():
                        return  # an outage, a stall or a stop: the sweep (or the next
                        # server) resumes the customer
                waiting = await asyncio.to_thread(inbox.has_work, sender)
                if not (waiting or sender in self._again):  # (kicked during that read too)
                    return
        except (PyMongoError, BookingError) as exc:
            logger.error("inbox unavailable while draining %s: %s", mask_phone(sender), exc)

    async def _next(self, inbox: Inbox, sender: str, on_new_message: OnNewMessage,
                    lease: "_Lease") -> Any:
        """Claim and process the customer's oldest waiting message. True: done, look for the
        next; ``RELEASED``: done, it was the latest and the lease is given back; ``LOST``: the
        lease went to another server; ``HELD``: another server had it from the start; False:
        nothing to claim; None: an outage interrupted it (it waits for a retry), or the
        database was too slow to renew the lease."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.config.max_turns)
        # The slot is taken before a message is claimed: a message waiting for the CPU is
        # never leased, and the database calls of the waiting customers' workers do not queue
        # in front of the webhook's (which must answer Meta quickly under load).
        if lease.lost:  # (set only while a turn runs: ``_keep_leased``)
            return LOST
        if self._stopped():  # (no slot needed to start nothing)
            return HELD if lease.until is None else False  # (the lease goes back)
        async with TurnSlot(self._slots):
            taken = lease.until is not None
            claim = await asyncio.to_thread(self._take_next, inbox, sender, lease)
            if claim == HELD:
                return LOST if taken else HELD
            if claim == STALLED:
                return None
            if claim is None:
                return False
            renewing = asyncio.create_task(self._keep_leased(inbox, claim, lease))
            try:
                outcome = await self._handle(inbox, claim, on_new_message)
            finally:
                renewing.cancel()
            if outcome is True and claim.get("seq"):
                given = await asyncio.to_thread(inbox.release_if_latest, sender, self.owner,
                                                claim["seq"])
                return True if given == NEWER else given
            return outcome

    def _take_next(self, inbox: Inbox, sender: str, lease: _Lease) -> Any:
        """Blocking, one worker-thread hop: take the customer's lease when due (first, or a
        third of the way through), then claim their oldest message. The claim; None when
        there is nothing to claim; ``HELD`` while another server has the customer;
        ``STALLED`` when taking the lease took a third of it (not a time to claim)."""
        if lease.due():
            until = inbox.acquire(sender, self.owner)
            if until is None:
                return HELD
            lease.renewed(until)
            if lease.due():
                return STALLED
        return inbox.claim_next(sender, self.owner, lease.until)

    async def _the_inbox(self) -> Inbox:
        """The inbox (its first use connects: in a worker thread, once)."""
        if self._ready is None:
            self._ready = await asyncio.to_thread(self._inbox)
        return self._ready

    async def _keep_leased(self, inbox: Inbox, claim: dict[str, Any], lease: _Lease) -> None:
        """Renew the claim's lease and the customer's while its turn runs."""
        every = max(inbox.lease.total_seconds() / 3, 0.05)
        while True:
            await asyncio.sleep(every)
            try:
                until = await asyncio.to_thread(inbox.renew, claim)
            except (PyMongoError, BookingError) as exc:
                logger.warning("could not renew the lease on %s: %s", claim["_id"], exc)
                continue
            if until is None:
                logger.warning("lost the lease on WhatsApp message %s", claim["_id"])
                lease.lost = True
                return
            lease.renewed(until)

    async def _handle(self, inbox: Inbox, claim: dict[str, Any],
                      on_new_message: OnNewMessage) -> Optional[bool]:
        if claim["attempts"] > 1 and await asyncio.to_thread(inbox.in_conversation,
                                                             claim["_id"]):
            await self._until_stored(inbox.finish, claim, True, "")  # its turn ran
            return True
        try:
            if claim.get("kind") in INTERNAL:
                failed = await self._internal(inbox, claim, on_new_message)
            else:
                failed = await self._customer_message(claim, on_new_message)
                arrived = claim.get("received_at")
                if isinstance(arrived, datetime):  # webhook to the last reply sent
                    metrics.TURN.observe((datetime.now(timezone.utc) - arrived.replace(
                        tzinfo=timezone.utc)).total_seconds())
        except Exception as exc:
            if outage(exc):
                logger.error("WhatsApp message %s hit an outage; it runs again later: %s",
                             claim["_id"], exc)
                await self._until_stored(inbox.put_back, claim, repr(exc))
                return None
            logger.exception("processing WhatsApp message %s failed", claim["_id"])
            await self._until_stored(inbox.finish, claim, False, repr(exc))
            return True  # recorded; the next message still gets its turn
        await self._until_stored(inbox.finish, claim, failed is None, failed or "")
        return True

    async def _until_stored(self, write: Callable[..., Any], *args: Any) -> None:
        """Write a message's outcome, waiting out an outage (the lease keeps it ours)."""
        if not await retry_async(lambda: asyncio.to_thread(write, *args), _store_error,
                                 OUTCOME_WRITES, what="recording a message's outcome"):
            logger.warning("WhatsApp message %s was taken over by another server; its outcome "
                           "here is not recorded", args[0]["_id"])

    @staticmethod
    async def _outside_the_turn(work: Awaitable[Any]) -> Any:
        """``work`` in a task of its own: a network wait in it must not give back the slot of
        the turn it was started from (``network_wait`` finds none)."""
        current_turn.set(None)  # (this task's copy of the context only)
        return await work

    async def _mark_read(self, claim: dict[str, Any], typing: bool = True) -> None:
        """Blue ticks and the typing indicator (a network wait: gives the turn slot back)."""
        async with network_wait():
            await self._read_receipt(claim, typing)

    async def _read_receipt(self, claim: dict[str, Any], typing: bool = True) -> None:
        """Blue ticks and "typing…"; a failure is logged, never raised into the turn (whose
        first reply awaits this)."""
        try:
            await self.graph.mark_read(claim["phone_number_id"], claim["_id"], typing)
        except GraphError as exc:
            logger.info("mark as read failed: %s", exc)
        except Exception:  # (the turn's actions have run: its reply must still go)
            logger.exception("mark as read failed")

    async def _customer_message(self, doc: dict[str, Any],
                                on_new_message: OnNewMessage) -> Optional[str]:
        """Read, then a bot turn, unless a person has the conversation: then the message is
        theirs (written into the conversation for them) and the bot says nothing, not even
        "typing…"."""
        metadata = {"business_id": doc.get("business_id"), "phone_number_id":
                    doc["phone_number_id"], "message_id": doc["_id"],
                    "profile_name": doc.get("profile_name", ""),
                    "title": (doc.get("extra") or {}).get("title") or "",
                    "kind": doc.get("kind") or ""}
        if await self.staff.with_person(doc):
            await self._mark_read(doc, typing=False)
            await self.staff.to_person(doc, metadata)
            return None
        # Blue ticks and "typing…" while the turn runs (its own task, outside the turn's slot,
        # which the turn keeps); the first reply waits for them (``WhatsAppOutput.after``).
        receipt = asyncio.create_task(self._outside_the_turn(self._read_receipt(doc)))
        try:
            return await self._process(doc, metadata, on_new_message, receipt)
        finally:
            if not receipt.done():  # (nothing was sent)
                async with network_wait():
                    await asyncio.wait([receipt])

    async def _internal(self, inbox: Inbox, claim: dict[str, Any],
                        on_new_message: OnNewMessage) -> Optional[str]:
        """An item the business queued (``channels.whatsapp.staff``); why it failed, if it did."""
        return await self.staff.item(inbox, claim, self.output_for(claim["phone_number_id"]),
                                     on_new_message)

    async def _process(self, doc: dict[str, Any], metadata: dict[str, Any],
                       on_new_message: OnNewMessage, receipt: asyncio.Future) -> Optional[str]:
        output = self.output_for(doc["phone_number_id"]).after(receipt)
        if doc.get("notice") == SLOW_DOWN:
            await output.send_text_message(
                doc["sender"], await output.in_their_language(doc["sender"], SLOW_DOWN_REPLY))
            return None
        text = doc.get("text") or flow_completion_text(doc.get("extra") or {})
        page = more_page(text) if text else None
        if page is not None:
            await output.send_page(doc["sender"], *page)
            return None
        if not text:
            await output.send_text_message(
                doc["sender"], await output.in_their_language(doc["sender"], UNSUPPORTED_REPLY))
            return None
        agent = self.agent_of()
        await on_new_message(UserMessage(text, output, doc["sender"],
                                         input_channel=self.channel_name,
                                         message_id=doc["_id"], metadata=metadata,
                                         parse_data=payload_parse_data(  # a tap skips NLU
                                             text, getattr(agent, "domain", None))))
        return None
