"""The WhatsApp channel's settings, all from the environment (README, "Configuration")."""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class WhatsAppConfig:
    """The channel's settings, all from the environment."""

    verify_token: str
    app_secret: str
    phone_number_id: str
    fallback_template: str
    fallback_language: str  # the template's language code for English-speaking customers...
    fallback_language_id: str = "id"  # ...and for Indonesian ones (the same template, approved
    # in both languages)
    reminder_template: str = "booking_reminder"  # an approved utility template: body {{1}}
    # service, {{2}} time; quick replies Confirm, Reschedule, Cancel (README)
    waitlist_template: str = "waitlist_offer"  # approved utility template: {{1}} service,
    # {{2}} time, {{3}} held until; quick replies Confirm, No thanks (README)
    sweep_seconds: float = 10.0
    db_timeout_ms: int = 2000
    max_turns: int = 4
    resend_seconds: float = 30.0
    resend_for_hours: float = 24.0
    flood_messages: int = 20  # a customer's messages per flood window run as turns...
    flood_seconds: float = 60.0  # ...the rest get one "please slow down" and are kept
    retention_days: float = 90.0  # inbox, statuses and outbox records are removed after this
    handoff_idle_hours: float = 12.0  # a person's conversation idle this long goes to the bot
    items_poll_seconds: float = 1.0  # how often the console's queued replies are looked for
    stop_grace_seconds: float = 10.0  # a stopping server lets its turns end this long

    @classmethod
    def from_env(cls) -> "WhatsAppConfig":
        """``WHATSAPP_*`` and ``DATA_RETENTION_DAYS``, with the documented defaults."""
        env = os.environ
        return cls(verify_token=env.get("WHATSAPP_VERIFY_TOKEN", ""),
                   app_secret=env.get("WHATSAPP_APP_SECRET", ""),
                   phone_number_id=env.get("WHATSAPP_PHONE_NUMBER_ID", ""),
                   fallback_template=env.get("WHATSAPP_FALLBACK_TEMPLATE", "booking_follow_up"),
                   fallback_language=env.get("WHATSAPP_FALLBACK_TEMPLATE_LANGUAGE", "en"),
                   fallback_language_id=env.get("WHATSAPP_FALLBACK_TEMPLATE_LANGUAGE_ID", "id"),
                   reminder_template=env.get("WHATSAPP_REMINDER_TEMPLATE", "booking_reminder"),
                   waitlist_template=env.get("WHATSAPP_WAITLIST_TEMPLATE", "waitlist_offer"),
                   sweep_seconds=float(env.get("WHATSAPP_SWEEP_SECONDS") or 10),
                   db_timeout_ms=int(env.get("WHATSAPP_DB_TIMEOUT_MS") or 2000),
                   max_turns=int(env.get("WHATSAPP_MAX_CONCURRENT_TURNS") or 4),
                   resend_seconds=float(env.get("WHATSAPP_RESEND_SECONDS") or 30),
                   flood_messages=int(env.get("WHATSAPP_FLOOD_MESSAGES") or 20),
                   flood_seconds=float(env.get("WHATSAPP_FLOOD_SECONDS") or 60),
                   retention_days=float(env.get("DATA_RETENTION_DAYS") or 90),
                   handoff_idle_hours=float(env.get("HANDOFF_IDLE_HOURS") or 12),
                   items_poll_seconds=float(env.get("WHATSAPP_ITEMS_POLL_SECONDS") or 1),
                   stop_grace_seconds=float(env.get("WHATSAPP_STOP_GRACE_SECONDS") or 10))

    def template(self, kind: object) -> str:
        """The approved template an action asks for outside the window (``outside_window``'s
        ``template``: ``reminder`` or ``waitlist``), or "" for none of ours."""
        return {"reminder": self.reminder_template,
                "waitlist": self.waitlist_template}.get(kind if isinstance(kind, str) else "", "")

    def template_language(self, language: str) -> str:
        """The templates' language code for a customer speaking ``language``."""
        return self.fallback_language_id if language == "id" else self.fallback_language
