"""The console's settings, all from the environment (README, configuration table)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional

from booking.settings import production


@dataclass(frozen=True)
class ConsoleConfig:
    """Where the console listens and how long a sign-in lasts."""

    host: str = "127.0.0.1"  # behind a TLS proxy in production, never exposed as is
    port: int = 8001
    secure_cookies: bool = False  # cookies only over HTTPS (on whenever PRODUCTION is set)
    idle_minutes: int = 480  # a session ends after this long without a request
    absolute_hours: int = 24  # and this long after sign-in, whatever happens
    origin: str = ""  # the console's public origin (https://console.example) behind a proxy

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "ConsoleConfig":
        """The settings from ``CONSOLE_*`` (and ``PRODUCTION``)."""
        env = os.environ if env is None else env
        secure = (env.get("CONSOLE_SECURE_COOKIES") or "").lower() in ("1", "true", "yes")
        return cls(host=env.get("CONSOLE_HOST") or cls.host,
                   port=int(env.get("CONSOLE_PORT") or cls.port),
                   secure_cookies=secure or production(dict(env)),
                   idle_minutes=int(env.get("CONSOLE_SESSION_IDLE_MINUTES") or cls.idle_minutes),
                   absolute_hours=int(env.get("CONSOLE_SESSION_HOURS") or cls.absolute_hours),
                   origin=(env.get("CONSOLE_ORIGIN") or "").rstrip("/"))
