"""The sandbox's settings, all from the environment. The shared secrets carry the product's own
names (tools/run.py hands both sides the same values, as a Meta app and a Xendit dashboard
would hold them); the rest are ``SANDBOX_*``."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Business:
    """A WhatsApp business number registered with the (stand-in) Cloud API."""

    phone_number_id: str
    name: str
    display_phone_number: str


@dataclass(frozen=True)
class SandboxConfig:
    """Where the product listens and the secrets both sides share."""

    port: int = 8000
    host: str = "127.0.0.1"
    product_url: str = "http://127.0.0.1:5005"  # the Rasa server (webhooks, Flows endpoint)
    app_secret: str = ""  # signs webhooks and Flows requests (WHATSAPP_APP_SECRET)
    access_token: str = ""  # what the product must present to the Graph stand-in
    flow_id: str = ""  # the published booking Flow (WHATSAPP_FLOW_ID)
    flow_json: Path = ROOT / "flows" / "booking_flow.json"
    flow_id_id: str = ""  # the published Indonesian booking Flow (WHATSAPP_FLOW_ID_ID)
    flow_json_id: Path = ROOT / "flows" / "booking_flow.id.json"
    flows_public_key: Optional[Path] = None  # the business public key Meta was given
    xendit_secret_key: str = ""  # what the product must present to the Xendit stand-in
    xendit_callback_token: str = ""  # sent with every invoice callback
    businesses: tuple[Business, ...] = field(default_factory=tuple)
    data_dir: Path = ROOT / ".data" / "sandbox"  # conversation history, uploaded media
    sides: frozenset[str] = frozenset({"whatsapp", "xendit"})  # what it stands in for
    window_hours: float = 24.0  # free-form messages only this long after the customer wrote

    @property
    def public_url(self) -> str:
        """The sandbox's own address (invoice links, media links)."""
        return f"http://{self.host}:{self.port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.product_url}/webhooks/whatsapp/webhook"

    @property
    def flows_url(self) -> str:
        return f"{self.product_url}/webhooks/whatsapp/flows"

    @property
    def xendit_callback_url(self) -> str:
        return f"{self.product_url}/webhooks/xendit/webhook"

    @property
    def flows(self) -> dict[str, Path]:
        """Each published Flow's id and its Flow JSON file (one Flow JSON per Flow id)."""
        return {flow_id: path for flow_id, path in ((self.flow_id, self.flow_json),
                                                    (self.flow_id_id, self.flow_json_id))
                if flow_id}

    def business(self, phone_number_id: str) -> Optional[Business]:
        """The registered number, or None."""
        return next((b for b in self.businesses if b.phone_number_id == phone_number_id), None)

    @classmethod
    def from_env(cls) -> "SandboxConfig":
        """``SANDBOX_PORT``, ``SANDBOX_PRODUCT_URL``, ``SANDBOX_SIDES`` (``whatsapp``,
        ``xendit`` or both), ``SANDBOX_BUSINESSES`` (JSON list of
        ``{phone_number_id, name, display_phone_number}``), ``SANDBOX_FLOWS_PUBLIC_KEY``,
        ``SANDBOX_FLOW_JSON``, ``SANDBOX_FLOW_JSON_ID``, ``SANDBOX_DATA_DIR`` and the shared
        ``WHATSAPP_APP_SECRET``, ``WHATSAPP_ACCESS_TOKEN``, ``WHATSAPP_FLOW_ID``,
        ``WHATSAPP_FLOW_ID_ID``, ``XENDIT_SECRET_KEY``, ``XENDIT_CALLBACK_TOKEN``."""
        env = os.environ
        raw = json.loads(env.get("SANDBOX_BUSINESSES") or "[]")
        businesses = tuple(Business(str(b["phone_number_id"]), str(b.get("name") or "Business"),
                                    str(b.get("display_phone_number") or b["phone_number_id"]))
                           for b in raw)
        key = env.get("SANDBOX_FLOWS_PUBLIC_KEY")
        sides = frozenset(s.strip() for s in (env.get("SANDBOX_SIDES") or "whatsapp,xendit")
                          .split(",") if s.strip() in ("whatsapp", "xendit"))
        return cls(port=int(env.get("SANDBOX_PORT") or cls.port),
                   product_url=(env.get("SANDBOX_PRODUCT_URL") or cls.product_url).rstrip("/"),
                   app_secret=env.get("WHATSAPP_APP_SECRET", ""),
                   access_token=env.get("WHATSAPP_ACCESS_TOKEN", ""),
                   flow_id=env.get("WHATSAPP_FLOW_ID", ""),
                   flow_json=Path(env.get("SANDBOX_FLOW_JSON") or cls.flow_json),
                   flow_id_id=env.get("WHATSAPP_FLOW_ID_ID", ""),
                   flow_json_id=Path(env.get("SANDBOX_FLOW_JSON_ID") or cls.flow_json_id),
                   flows_public_key=Path(key) if key else None,
                   xendit_secret_key=env.get("XENDIT_SECRET_KEY", ""),
                   xendit_callback_token=env.get("XENDIT_CALLBACK_TOKEN", ""),
                   businesses=businesses, sides=sides,
                   data_dir=Path(env.get("SANDBOX_DATA_DIR") or cls.data_dir))
