"""REST and socket.io, made safe to leave on: each visitor is a customer of their own.

Rasa's own channels take the conversation id (``sender`` / ``session_id``), the input channel
name and the metadata from the client. A client could then write as a WhatsApp customer (their
number as ``sender``, ``"input_channel": "whatsapp"``) or choose a business. Here:

- REST: the conversation is ``rest:<sender>``, the input channel is always ``rest`` and client
  metadata is dropped. Anyone who knows a REST sender id can continue that REST conversation
  (it is a local test channel): it never reaches a WhatsApp customer's data.
- socket.io: a visitor is a fresh anonymous customer ``socketio:<random id>`` per session unless
  the page presents a session token this server signed (HMAC-SHA256 with
  ``CHAT_SESSION_SECRET``; a random secret per process when unset); client metadata is dropped.
- ``PRODUCTION=1`` turns both off: their routes answer 404 (only WhatsApp and Xendit are served).
"""
from __future__ import annotations

import hashlib
import hmac
import inspect
import logging
import os
import secrets
import uuid
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from socketio import AsyncServer

from booking.settings import production

logger = logging.getLogger(__name__)
MAX_SENDER = 128
MAX_TEXT = 4096


def _closed(name: str) -> Blueprint:
    logger.info("PRODUCTION is set: the %s channel is off", name)
    return Blueprint(f"{name}_off", __name__)


class LocalRestInput(RestInput):
    """``POST /webhooks/rest/webhook`` for local use: conversation ``rest:<sender>``."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls()

    async def _extract_sender(self, req: Request) -> Optional[Text]:
        sender = _json(req).get("sender")
        if not isinstance(sender, str) or not sender or len(sender) > MAX_SENDER:
            sender = "default"
        return f"rest:{sender}"

    def _extract_message(self, req: Request) -> Optional[Text]:
        text = _json(req).get("message")
        return text[:MAX_TEXT] if isinstance(text, str) else ""

    def _extract_input_channel(self, req: Request) -> Text:
        return self.name()  # never the client's word for it

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        return None  # client metadata chooses nothing

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        if production():
            return _closed("rest")
        bp = super().blueprint(on_new_message)

        @bp.middleware("request")
        async def only_json_objects(request: Request) -> Any:
            if request.method == "POST" and not isinstance(_json(request, None), dict):
                return response.json({"error": "expected a JSON object with sender and "
                                               "message"}, status=400)
            return None

        return bp


def _json(req: Request, default: Any = {}) -> Any:  # noqa: B006 (read only)
    try:
        body = req.json
    except Exception:  # Sanic raises InvalidUsage for a body that is not JSON
        return default
    return body if isinstance(body, dict) else default


async def _maybe(result: Any) -> None:
    """Await what python-socketio returns when it is a coroutine (it is in newer releases)."""
    if inspect.isawaitable(result):
        await result


class SessionTokens:
    """Signed socket.io session ids: ``<id>.<hmac>``; only this server can make one."""

    def __init__(self, secret: Optional[str] = None) -> None:
        self.key = (secret or secrets.token_urlsafe(32)).encode()

    def issue(self) -> str:
        session = uuid.uuid4().hex
        return f"{session}.{self._sign(session)}"

    def session_of(self, token: Any) -> Optional[str]:
        """The session id in a token this server signed, else None."""
        if not isinstance(token, str) or len(token) > 200 or token.count(".") != 1:
            return None
        session, signature = token.split(".")
        if not session or not hmac.compare_digest(signature.encode("utf-8", "replace"),
                                                  self._sign(session).encode()):
            return None
        return session

    def _sign(self, session: str) -> str:
        return hmac.new(self.key, session.encode("utf-8", "replace"), hashlib.sha256).hexdigest()


def socketio_transports() -> list[str]:
    """WebSocket only when the server runs several worker processes (``SANIC_WORKERS``, set
    by ``make run``): they share one port, so a long-polling client's requests would land on
    any of them, and socket.io's polling needs every request of a session to reach the same
    process. A WebSocket is one connection, served by one process from start to end."""
    try:
        workers = int(os.environ.get("SANIC_WORKERS") or 1)
    except ValueError:
        workers = 1
    return ["websocket"] if workers > 1 else ["polling", "websocket"]


class LocalSocketIOInput(SocketIOInput):
    """socket.io for a web chat: an anonymous customer per session (see the module)."""

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        return cls(credentials.get("user_message_evt", "user_uttered"),
                   credentials.get("bot_message_evt", "bot_uttered"),
                   credentials.get("namespace"), True,
                   credentials.get("socketio_path", "/socket.io"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tokens = SessionTokens(os.environ.get("CHAT_SESSION_SECRET"))
        self._sessions: dict[str, str] = {}  # socket id → conversation id

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        if production():
            return _closed("socketio")
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[],
                          transports=socketio_transports())
        bp = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> Any:
            return response.json({"status": "ok"})

        @sio.on("disconnect", namespace=self.namespace)
        async def disconnect(sid: Text) -> None:
            self._sessions.pop(sid, None)

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Any) -> None:
            token = data.get("session_id") if isinstance(data, dict) else None
            if self.tokens.session_of(token) is None:
                token = self.tokens.issue()  # a fresh anonymous customer
            self._sessions[sid] = "socketio:" + str(self.tokens.session_of(token))
            await _maybe(sio.enter_room(sid, self._sessions[sid], namespace=self.namespace))
            await sio.emit("session_confirm", token, room=sid, namespace=self.namespace)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: Text, data: Any) -> None:
            sender = self._sessions.get(sid)
            if sender is None:  # no session asked for: this socket is its own visitor
                sender = self._sessions[sid] = f"socketio:{uuid.uuid4().hex}"
                await _maybe(sio.enter_room(sid, sender, namespace=self.namespace))
            text = data.get("message") if isinstance(data, dict) else None
            await on_new_message(UserMessage(
                text[:MAX_TEXT] if isinstance(text, str) else "",
                SocketIOOutput(sio, self.bot_message_evt), sender, input_channel=self.name(),
                metadata=None))

        return bp
