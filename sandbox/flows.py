"""The WhatsApp client's side of a Flow: the phone page renders the Flow JSON; this module
talks to the product's Flows endpoint the way WhatsApp does (RSA-OAEP-wrapped AES-128-GCM,
signed with the app secret; INIT, data_exchange, BACK), and when the endpoint answers the
SUCCESS screen it sends the completion to the bot as the customer's ``nfm_reply`` message.

    GET  /api/flows/{flow_id}     the Flow JSON published under that id (one per language)
    POST /api/flows/exchange      {business, customer, message_id (the Flow message), action,
                                   screen, data, name} -> the next screen, or an error
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sandbox.config import SandboxConfig
from sandbox.bodies import BadRequest, json_body
from sandbox.phone import Phone

logger = logging.getLogger(__name__)
ACTIONS = {"INIT", "data_exchange", "BACK", "complete"}
TIMEOUT_SECONDS = 10.0  # WhatsApp gives up on the endpoint after 10 s


class Sealed:
    """One request's AES key and IV: ``seal`` the request, ``open`` the answer."""

    def __init__(self, public_key: Any) -> None:
        self.public_key = public_key
        self.key = AESGCM.generate_key(bit_length=128)
        self.iv = os.urandom(16)

    def seal(self, payload: dict[str, Any]) -> bytes:
        """The JSON body WhatsApp posts: encrypted payload, wrapped key, IV (base64)."""
        wrapped = self.public_key.encrypt(self.key, padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
        data = AESGCM(self.key).encrypt(self.iv, json.dumps(payload).encode(), None)
        return json.dumps({"encrypted_flow_data": base64.b64encode(data).decode(),
                           "encrypted_aes_key": base64.b64encode(wrapped).decode(),
                           "initial_vector": base64.b64encode(self.iv).decode()}).encode()

    def open(self, body: bytes) -> dict[str, Any]:
        """The decrypted answer (the IV with every byte inverted)."""
        flipped = bytes(b ^ 0xFF for b in self.iv)
        answer = json.loads(AESGCM(self.key).decrypt(flipped, base64.b64decode(body), None))
        if not isinstance(answer, dict):
            raise ValueError("the answer is not a JSON object")
        return answer


class FlowsClient:
    """The Flow JSON of each published Flow, and the exchange with the endpoint."""

    def __init__(self, config: SandboxConfig, phone: Phone) -> None:
        self.config = config
        self.phone = phone
        self._flows: dict[str, dict[str, Any]] = {}  # Flow id -> its Flow JSON, once read
        self._public_key: Any = None

    def setup(self, app: web.Application) -> None:
        """Add the Flow routes to ``app``."""
        app.router.add_get("/api/flows/{flow_id}", self.flow_json)
        app.router.add_post("/api/flows/exchange", self.exchange)

    async def _flow_json_of(self, flow_id: str) -> dict[str, Any]:
        if flow_id not in self._flows:
            text = await asyncio.to_thread(self.config.flows[flow_id].read_text,
                                           encoding="utf-8")
            self._flows[flow_id] = json.loads(text)
        return self._flows[flow_id]

    async def _load(self, reload_key: bool = False) -> None:
        if (self._public_key is None or reload_key) and self.config.flows_public_key:
            pem = await asyncio.to_thread(self.config.flows_public_key.read_bytes)
            self._public_key = serialization.load_pem_public_key(pem)

    async def flow_json(self, request: web.Request) -> web.Response:
        """The Flow JSON published under this id (404 for any other id)."""
        flow_id = request.match_info["flow_id"]
        if flow_id not in self.config.flows:
            raise web.HTTPNotFound(text='{"error": "no such flow"}',
                                   content_type="application/json")
        return web.json_response(await self._flow_json_of(flow_id))

    async def exchange(self, request: web.Request) -> web.Response:
        """One round trip with the Flows endpoint, as the WhatsApp client makes it for the
        Flow message ``message_id`` of the chat (its flow id and token come from that
        message); ``complete`` ends the Flow on the phone, without the endpoint."""
        body = await json_body(request)
        business = self.config.business(str(body.get("business")))
        customer = str(body.get("customer") or "")
        if business is None or not (customer.isascii() and customer.isdigit()
                                    and 8 <= len(customer) <= 15):
            raise BadRequest("business and customer must name a chat")
        parameters = self._flow_of(business.phone_number_id, customer, body.get("message_id"))
        action = body.get("action")
        if not isinstance(action, str) or action not in ACTIONS:
            raise BadRequest(f"action must be one of {sorted(ACTIONS)}")
        name = body.get("name") if isinstance(body.get("name"), str) else ""
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        token = parameters["flow_token"]
        if action == "complete":  # the Flow JSON's own "complete": no endpoint call
            self._complete(business.phone_number_id, customer, name,
                           {**data, "flow_token": token}, body["message_id"])
            return web.json_response({"completed": True})
        payload: dict[str, Any] = {"version": "3.0", "action": action, "flow_token": token}
        if action != "INIT":
            payload.update(screen=str(body.get("screen") or ""), data=data)
        status, answer = await self._round_trip(payload)
        if status == 421:  # WhatsApp re-fetches the public key and tries once more
            status, answer = await self._round_trip(payload, reload_key=True)
        if status != 200:
            return web.json_response({"status": status, "error": answer.get("error_msg") or
                                      answer.get("error") or f"the endpoint answered {status}"})
        if answer.get("screen") == "SUCCESS":
            self._complete(business.phone_number_id, customer, name,
                           success_params(answer), body["message_id"])
            return web.json_response({**answer, "completed": True})
        return web.json_response(answer)

    def _flow_of(self, business_id: str, customer: str, message_id: Any) -> dict[str, Any]:
        """The parameters of the Flow message ``message_id`` the bot sent to this chat."""
        found = self.phone.chats.find(message_id) if isinstance(message_id, str) else None
        bot = found[1] if found and found[0] == (business_id, customer) else {}
        interactive = (bot.get("message") or {}).get("interactive") or {}
        parameters = (interactive.get("action") or {}).get("parameters") or {}
        if bot.get("direction") != "out" or interactive.get("type") != "flow" or \
                str(parameters.get("flow_id")) not in self.config.flows:
            raise BadRequest("message_id must name a Flow message of this chat")
        if not isinstance(parameters.get("flow_token"), str):
            raise BadRequest("that Flow message has no flow_token")
        return parameters

    async def _round_trip(self, payload: dict[str, Any],
                          reload_key: bool = False) -> tuple[int, dict[str, Any]]:
        await self._load(reload_key)
        if self._public_key is None:
            return 0, {"error": "no Flows public key is configured"}
        sealed = Sealed(self._public_key)
        started = time.perf_counter()
        status, raw = await self.phone.webhooks.post_signed(
            self.config.flows_url, sealed.seal(payload), timeout=TIMEOUT_SECONDS)
        elapsed = time.perf_counter() - started
        if elapsed > 1.0:  # Meta alerts past a p90 of 1 s; the hard limit is 10 s
            logger.warning("the Flows endpoint took %.1f s", elapsed)
        if status != 200:
            try:
                error = json.loads(raw)
            except ValueError:
                error = {"error": raw.decode(errors="replace")[:200]}
            return status, error if isinstance(error, dict) else {}
        try:
            return 200, sealed.open(raw)
        except (ValueError, TypeError, InvalidTag):
            return 502, {"error": "the endpoint's answer could not be decrypted"}

    def _complete(self, business_id: str, customer: str, name: str, params: dict[str, Any],
                  message_id: str) -> None:
        """The customer's ``nfm_reply`` (quoting the Flow message), posted to the bot."""
        business = self.config.business(business_id)
        assert business is not None
        reply = {"type": "nfm_reply", "nfm_reply": {
            "name": "flow", "body": "Sent", "response_json": json.dumps(params)}}
        message = self.phone.stamp(business, "interactive", reply, message_id)
        self.phone.deliver_new(business, customer, name, message)


def success_params(answer: dict[str, Any]) -> dict[str, Any]:
    """The params of a SUCCESS screen's ``extension_message_response`` ({} if malformed)."""
    data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
    response = data.get("extension_message_response")
    params = response.get("params") if isinstance(response, dict) else None
    return params if isinstance(params, dict) else {}
