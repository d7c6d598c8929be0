"""Wiring and start-up of the console process: ``python -m console``."""
from __future__ import annotations

import logging
import os
import sys
from typing import Optional

from booking.conversations import Conversations
from booking.desk import FrontDesk
from booking.handoff import TeamDesk
from booking.runtime import booking_service, payment_service
from console.transcript import Transcript
from channels.whatsapp.inbox import Inbox
from console.accounts import Accounts
from console.app import create_app
from console.audit import AuditLog
from console.config import ConsoleConfig
from console.sessions import Sessions
from console.web import Services

logger = logging.getLogger(__name__)
DEFAULT_BUSINESS_ID = "ubud-serenity-spa"  # actions.base's, for local chats (REST, shell)


def build_services(config: ConsoleConfig) -> Services:
    """The console's services over the process-wide core (MongoDB settings from the env)."""
    core = booking_service()
    db = core.db
    accounts, sessions, audit = (Accounts(db), Sessions(db, config.idle_minutes,
                                                        config.absolute_hours), AuditLog(db))
    conversations = Conversations(db, core.clock)  # (idle hand backs are the channel's)
    for part in (accounts, sessions, audit, conversations):
        part.ensure_indexes()
    inbox = Inbox(db)  # its indexes belong to the Rasa server, which sends what is queued here
    team = TeamDesk(conversations, inbox.post_for, core.clock)
    transcript = Transcript(db, default_business_id=os.environ.get("DEFAULT_BUSINESS_ID")
                            or DEFAULT_BUSINESS_ID)
    return Services(config, FrontDesk(core, payment_service()), accounts, sessions, audit,
                    core.clock, conversations=conversations, team=team, transcript=transcript)


def main(argv: Optional[list[str]] = None) -> int:
    """Serve the console on CONSOLE_HOST:CONSOLE_PORT (one worker: its blocking calls run in
    threads)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = ConsoleConfig.from_env()
    app = create_app(build_services(config))
    app.run(host=config.host, port=config.port, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
