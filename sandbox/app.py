"""The sandbox's web app: the phone page and its API, the Graph API and Flows client stand-ins
(Meta's side), and the Xendit API and checkout stand-ins, on one port (``SANDBOX_PORT``)."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import AsyncIterator

from aiohttp import web

from sandbox import xendit
from sandbox.config import SandboxConfig
from sandbox.flows import FlowsClient
from sandbox.graph import TEMPLATES, GraphStandIn
from sandbox.guard import guard
from sandbox.media import Media
from sandbox.phone import Phone
from sandbox.store import Chats
from sandbox.webhooks import Webhooks

logger = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")


def create_app(config: SandboxConfig) -> web.Application:
    """The routes of the sides the sandbox stands in for, wired to one set of chats, media
    and webhook sender, behind the request guard (sandbox/guard.py)."""
    app = web.Application(client_max_size=8 * 1024 * 1024, middlewares=[guard(config.port)])
    whatsapp = "whatsapp" in config.sides
    chats = Chats(config.data_dir)
    webhooks = Webhooks(config)

    async def lifetime(_: web.Application) -> AsyncIterator[None]:
        await chats.open()
        yield
        await webhooks.close()
        await chats.close()

    async def hang_up(_: web.Application) -> None:
        chats.hang_up()

    app.cleanup_ctx.append(lifetime)
    app.on_shutdown.append(hang_up)
    if whatsapp:
        media = Media(config.data_dir / "media")
        templates = json.loads(TEMPLATES.read_text(encoding="utf-8"))
        phone = Phone(config, chats, webhooks, media, templates)
        GraphStandIn(config, chats, webhooks, media, templates).setup(app)
        phone.setup(app)
        FlowsClient(config, phone).setup(app)
    if "xendit" in config.sides:
        xendit.setup(app, config)

    async def index(_: web.Request) -> web.StreamResponse:
        if not whatsapp:  # WhatsApp is real: only the payments side is here
            raise web.HTTPFound("/xendit/")
        return web.FileResponse(STATIC / "phone.html")

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": "sandbox",
                                  "sides": sorted(config.sides)})

    app.router.add_get("/", index)
    app.router.add_get("/health", health)
    app.router.add_static("/static", STATIC)
    return app
