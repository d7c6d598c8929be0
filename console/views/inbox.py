"""The inbox: the business's conversations (waiting for a person first), one conversation's
transcript, and what the team does in it: take it over, reply, send a booking or the approved
template, hand it back to the bot (``booking.handoff``). Each change goes to the audit log
(never a message text or a phone number). The list and the transcript poll for news
(``/inbox/live``, ``/inbox/<id>/live``) where JavaScript runs; everything works without it."""
from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any, Callable, Optional
from urllib.parse import quote

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from booking.conversations import (HUMAN, WAITING, AlreadyTakenError, ChangedError,
                                   Conversation, HandoffError, NotYoursError)
from booking.errors import UnknownEntityError
from booking.handoff import MAX_REPLY, NotOnWhatsAppError, NotTheirsError, OutsideWindowError
from console.web import (TEMPLATES, actor, blocking, catalog, form, not_found, redirect, render,
                         services, session_of, signed_in)

# What the page says after a change (fixed texts: nothing from the URL is shown as is).
DONE = {"taken": "You have this conversation: the bot stays silent until you hand it back.",
        "reply": "Sent to WhatsApp (it shows “sending…” until WhatsApp has it).",
        "booking": "Booking sent to WhatsApp.",
        "template": "Template sent. When the customer answers it, you can write freely again.",
        "handed_back": "Handed back to the bot."}
REASONS = {"asked": "asked for a person", "fallbacks": "the bot did not understand twice",
           "failure": "a technical problem", "feedback": "low feedback score",
           "echo": "answered from the WhatsApp Business app",
           "idle": "back with the bot after a quiet spell"}
CHANGED = "The conversation changed: here it is as it is now."
OUTSIDE = ("More than 24 hours since the customer last wrote: WhatsApp only lets you send the "
           "approved template now.")
NOT_WHATSAPP = "Replies can only go to WhatsApp customers."
NO_VERSION = "This form is out of date: here is the conversation as it is now."


def form_key(request: Request) -> str:
    """The ``key`` a sending form was rendered with: the same form posted twice (a double
    click, a resubmitted page) sends once. '' when missing or odd."""
    key = form(request, "key", 40)
    return key if re.fullmatch(r"[A-Za-z0-9_-]{8,40}", key) else ""


def masked(customer_id: str) -> str:
    """A customer's number with its middle hidden (``+62 812 •••• 7890``); a local chat's id
    as it is."""
    if not customer_id.isdigit():
        return customer_id
    if len(customer_id) < 9:
        return f"+•••• {customer_id[-4:]}"
    return f"+{customer_id[:2]} {customer_id[2:5]} •••• {customer_id[-4:]}"


def waited(delta: Optional[timedelta]) -> str:
    """A wait in words: ``12 min``, ``2 h 5 min``, ``3 days``."""
    minutes = int(delta.total_seconds() // 60) if delta else 0
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"
    days = minutes // (24 * 60)
    return f"{days} day" if days == 1 else f"{days} days"


def customer_label(conversation: Conversation) -> str:
    """Who the customer is, for people: their name, else their masked number."""
    return conversation.customer_name or masked(conversation.customer_id)


TEMPLATES.filters["masked"] = masked
TEMPLATES.filters["waited"] = waited
TEMPLATES.filters["customer"] = customer_label
TEMPLATES.globals["REASONS"] = REASONS


def _fragment(request: Request, name: str, **context: Any) -> str:
    """A part of a page (the list, the transcript) for the live updates."""
    business = request.ctx.business
    return TEMPLATES.get_template(name).render(
        session=session_of(request), me=actor(request), tz=business.tz,
        now=services(request).clock(), **context)


async def _list(request: Request) -> dict[str, Any]:
    svc, business_id = services(request), session_of(request).business_id
    conversations = await blocking(svc.conversations.inbox, business_id)
    waiting = await blocking(svc.conversations.waiting_count, business_id)
    return {"conversations": conversations, "inbox_waiting": waiting}


async def _transcript(request: Request, conversation: Conversation) -> dict[str, Any]:
    svc = services(request)
    lines = await blocking(svc.transcript.lines, conversation.business_id,
                           conversation.customer_id)
    snapshot = await catalog(request)
    return {"lines": lines, "service_names": {k: s.name for k, s in snapshot.services.items()}}


async def _detail(request: Request, conversation_id: str, status: int = 200, error: str = "",
                  draft: str = "") -> HTTPResponse:
    svc = services(request)
    business_id, me = session_of(request).business_id, actor(request)
    try:
        conversation = await blocking(svc.conversations.get, business_id, conversation_id)
    except UnknownEntityError:
        return not_found(request)
    context = await _transcript(request, conversation)
    mine = conversation.state == HUMAN and conversation.assignee == me
    bookings = []
    if mine:
        upcoming = await blocking(svc.desk.core.upcoming, conversation.customer_id, business_id)
        made = [line.booking for line in context["lines"] if line.booking is not None]
        bookings = sorted({b.code: b for b in made[-10:] + upcoming}.values(),
                          key=lambda b: b.start)
    waiting = await blocking(svc.conversations.waiting_count, business_id)
    now = svc.clock()
    return render(request, "conversation.html", status=status, conversation=conversation,
                  form_key=secrets.token_urlsafe(12),
                  mine=mine, bookings=bookings, error=error, draft=draft, now=now, me=me,
                  window_open=conversation.window_open(now), max_reply=MAX_REPLY,
                  inbox_waiting=waiting, done=DONE.get(request.args.get("done") or "", ""),
                  **context)


def _not_yours(conversation: Conversation, me: str) -> str:
    """Why a change by someone who does not have the conversation was refused."""
    if conversation.state == HUMAN and conversation.assignee != me:
        return f"{conversation.assignee} has this conversation: take it over first if you must."
    return "Take the conversation over first: the bot answers it until someone does."


def _audit_view(conversation: Conversation) -> dict[str, Any]:
    return {"state": conversation.state, "assignee": conversation.assignee,
            "version": conversation.version}


async def _change(request: Request, conversation_id: str, action: str, done: str,
                  call: Callable[[], Any], draft: str = "") -> HTTPResponse:
    """Run a team change; audit it; back to the conversation with what happened."""
    svc = services(request)
    business_id, me = session_of(request).business_id, actor(request)
    try:
        before = await blocking(svc.conversations.get, business_id, conversation_id)
        result = await blocking(call)
    except UnknownEntityError:
        return not_found(request)
    except AlreadyTakenError as exc:
        return await _detail(request, conversation_id, 409,
                             f"{exc.by} took this conversation a moment ago.")
    except ChangedError:
        return await _detail(request, conversation_id, 409, CHANGED)
    except NotTheirsError:
        return await _detail(request, conversation_id, 409,
                             "That booking belongs to another customer.", draft)
    except NotYoursError:
        current = await blocking(svc.conversations.get, business_id, conversation_id)
        return await _detail(request, conversation_id, 409, _not_yours(current, me), draft)
    except OutsideWindowError:
        return await _detail(request, conversation_id, 409, OUTSIDE, draft)
    except NotOnWhatsAppError:
        return await _detail(request, conversation_id, 409, NOT_WHATSAPP)
    except HandoffError as exc:
        return await _detail(request, conversation_id, 400, f"Not sent: {exc}.", draft)
    after = getattr(result, "conversation", result)
    changed: dict[str, Any] = _audit_view(after)
    if hasattr(result, "item_id"):
        changed["item"] = result.item_id
    if action == "conversation_booking_sent":
        changed["booking"] = form(request, "code", 32)
    await blocking(svc.audit.record, business_id, me, action, conversation_id,
                   _audit_view(before), changed, svc.clock())
    return redirect(f"/inbox/{quote(conversation_id)}?done={done}")


def register(app: Sanic) -> None:
    """The routes of this module."""

    @app.get("/inbox")
    @signed_in
    async def inbox(request: Request) -> HTTPResponse:
        return render(request, "inbox.html", now=services(request).clock(),
                      me=actor(request), **await _list(request))

    @app.get("/inbox/live")
    @signed_in
    async def inbox_live(request: Request) -> HTTPResponse:
        svc, business_id = services(request), session_of(request).business_id
        if request.args.get("only") == "count":  # the nav badge of every other page
            return response.json(
                {"waiting": await blocking(svc.conversations.waiting_count, business_id)})
        context = await _list(request)
        return response.json({"waiting": context["inbox_waiting"],
                              "html": _fragment(request, "_inbox_list.html", **context)})

    @app.get("/inbox/<conversation_id>")
    @signed_in
    async def show(request: Request, conversation_id: str) -> HTTPResponse:
        return await _detail(request, conversation_id[:40])

    @app.get("/inbox/<conversation_id>/live")
    @signed_in
    async def show_live(request: Request, conversation_id: str) -> HTTPResponse:
        svc, business_id = services(request), session_of(request).business_id
        try:
            conversation = await blocking(svc.conversations.get, business_id,
                                          conversation_id[:40])
        except UnknownEntityError:
            return not_found(request)
        html = _fragment(request, "_transcript.html", **await _transcript(request, conversation))
        waiting = await blocking(svc.conversations.waiting_count, business_id)
        return response.json({"html": html, "state": conversation.state,
                              "version": conversation.version,
                              "assignee": conversation.assignee, "waiting": waiting})

    @app.post("/inbox/<conversation_id>/<action>")
    @signed_in
    async def change(request: Request, conversation_id: str, action: str) -> HTTPResponse:
        svc = services(request)
        team, business_id, me = svc.team, session_of(request).business_id, actor(request)
        cid = conversation_id[:40]
        if action == "take":
            try:
                version = int(form(request, "version", 12))
            except ValueError:
                return await _detail(request, cid, 400, NO_VERSION)
            return await _change(request, cid, "conversation_taken", "taken",
                                 lambda: team.take(business_id, cid, me, version))
        if action == "reply":
            text = (request.form.get("text") if request.form else None) or ""
            if len(text) > MAX_REPLY:
                return await _detail(request, cid, 400, f"A WhatsApp message holds at most "
                                                        f"{MAX_REPLY} characters.", text[:8192])
            key = form_key(request)
            return await _change(request, cid, "conversation_reply", "reply",
                                 lambda: team.reply(business_id, cid, me, text, key), text)
        if action == "booking":
            return await _send_booking(request, cid)
        if action == "template":
            key = form_key(request)
            return await _change(request, cid, "conversation_template", "template",
                                 lambda: team.send_template(business_id, cid, me, key))
        if action == "hand-back":
            return await _change(request, cid, "conversation_handed_back", "handed_back",
                                 lambda: team.hand_back(business_id, cid, me))
        return not_found(request)


async def _send_booking(request: Request, conversation_id: str) -> HTTPResponse:
    """One of the customer's bookings, as a card, in the business's time."""
    svc = services(request)
    business_id, me = session_of(request).business_id, actor(request)
    try:
        booking = await blocking(svc.desk.booking, business_id, form(request, "code", 32))
    except UnknownEntityError:
        return await _detail(request, conversation_id, 400,
                             "Pick one of this customer's bookings.")
    snapshot = await catalog(request)
    service, member = snapshot.services.get(booking.service_id), snapshot.staff.get(
        booking.staff_id)
    key = form_key(request)
    return await _change(request, conversation_id, "conversation_booking_sent", "booking",
                         lambda: svc.team.send_booking(
                             business_id, conversation_id, me, booking,
                             service or booking.service_id,
                             member.name if member else booking.staff_id,
                             request.ctx.business.tz, key,
                             request.ctx.business.language))
