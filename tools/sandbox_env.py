"""Whether `make run` starts the sandbox (sandbox/: a local WhatsApp phone and Xendit), and the
settings that point the product and the sandbox at each other.

Without ``WHATSAPP_ACCESS_TOKEN`` the WhatsApp channel talks to the sandbox's Graph API, and
without ``XENDIT_SECRET_KEY`` payments go to its Xendit side; the sandbox serves only the side
it stands in for, and never sees the other side's real secrets. With both set (or
``PRODUCTION``, or ``SANDBOX=0``), nothing of the sandbox runs. The shared secrets are made up per run (``SANDBOX_GRAPH_TOKEN``
chooses the Graph access token, for a test that plays a misbehaving bot); the Flows key pair
once, under ``.data/sandbox``."""
from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from booking.settings import production

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data" / "sandbox"
GRAPH_VERSION = "v25.0"
SANDBOX_FLOW_ID = "1200000000000001"  # the booking Flow, "published" in the sandbox
SANDBOX_FLOW_ID_ID = "1200000000000002"  # its Indonesian Flow (flows/booking_flow.id.json)


WHATSAPP, XENDIT = "whatsapp", "xendit"
FALSY = {"0", "false", "no", "off"}
# What the sandbox process inherits besides its own settings: never a real secret, database
# or internal token (it speaks to the product over HTTP only, as Meta and Xendit do).
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONDONTWRITEBYTECODE")


def sides(env: dict[str, str]) -> tuple[str, ...]:
    """What the sandbox stands in for: each side whose real credential is missing; nothing in
    production, where a missing credential is a mistake to see, not to paper over."""
    if production(env) or (env.get("SANDBOX") or "").strip().lower() in FALSY:
        return ()
    return tuple(side for side, credential in ((WHATSAPP, "WHATSAPP_ACCESS_TOKEN"),
                                               (XENDIT, "XENDIT_SECRET_KEY"))
                 if not env.get(credential))


def configure(env: dict[str, str]) -> tuple[str, ...]:
    """Fill ``env`` with the settings that point the product at the sandbox for each side it
    stands in for; those sides (empty: the sandbox does not run)."""
    chosen = sides(env)
    if not chosen:
        return ()
    env.setdefault("SANDBOX_PORT", "8000")
    base = f"http://127.0.0.1:{env['SANDBOX_PORT']}"
    env["SANDBOX_PRODUCT_URL"] = f"http://127.0.0.1:{env['RASA_PORT']}"
    env.setdefault("SANDBOX_DATA_DIR", str(DATA))
    env["SANDBOX_BUSINESSES"] = json.dumps(businesses())
    env["SANDBOX_SIDES"] = ",".join(chosen)
    if WHATSAPP in chosen:
        private, public = flows_keys(Path(env["SANDBOX_DATA_DIR"]))
        token = env.get("SANDBOX_GRAPH_TOKEN") or secrets.token_urlsafe(24)
        env.update(WHATSAPP_ACCESS_TOKEN=token,
                   WHATSAPP_APP_SECRET=secrets.token_urlsafe(24),
                   WHATSAPP_VERIFY_TOKEN=secrets.token_urlsafe(12),
                   WHATSAPP_API_URL=f"{base}/{GRAPH_VERSION}",
                   WHATSAPP_FLOWS_PRIVATE_KEY=str(private),
                   SANDBOX_FLOWS_PUBLIC_KEY=str(public),
                   WHATSAPP_FLOW_ID=SANDBOX_FLOW_ID,
                   WHATSAPP_FLOW_ID_ID=SANDBOX_FLOW_ID_ID)
        env.pop("WHATSAPP_FLOWS_PRIVATE_KEY_PASSPHRASE", None)
    if XENDIT in chosen:
        env.update(XENDIT_SECRET_KEY="xnd_development_sandbox_" + secrets.token_hex(12),
                   XENDIT_CALLBACK_TOKEN=secrets.token_urlsafe(24),
                   XENDIT_API_URL=f"{base}/xendit")
    return chosen


def process_env(env: dict[str, str], chosen: tuple[str, ...]) -> dict[str, str]:
    """The sandbox process's whole environment: its settings and the secrets made up for the
    sides it stands in for, and nothing else (no real credential of the other side)."""
    kept = {k: env[k] for k in INHERITED if k in env}
    kept.update({k: v for k, v in env.items() if k.startswith("SANDBOX_")})
    kept.pop("SANDBOX_GRAPH_TOKEN", None)
    if WHATSAPP in chosen:
        kept.update({k: env[k] for k in ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET",
                                         "WHATSAPP_FLOW_ID", "WHATSAPP_FLOW_ID_ID")})
    if XENDIT in chosen:
        kept.update({k: env[k] for k in ("XENDIT_SECRET_KEY", "XENDIT_CALLBACK_TOKEN")})
    return kept


def command() -> list[str]:
    """The sandbox process."""
    return [sys.executable, "-m", "sandbox"]


def businesses() -> list[dict[str, Any]]:
    """The seeded businesses' WhatsApp numbers, as the Cloud API would have them registered."""
    catalog = yaml.safe_load((ROOT / "seed" / "catalog.yml").read_text(encoding="utf-8"))
    numbers = []
    for business in catalog.get("businesses") or []:
        number_id = str(business.get("whatsapp_phone_number_id") or "")
        if number_id:
            numbers.append({"phone_number_id": number_id, "name": business.get("name", ""),
                            "display_phone_number": "62811" + number_id[-6:]})
    return numbers


def flows_keys(directory: Path) -> tuple[Path, Path]:
    """The sandbox's Flows key pair (made once): the product keeps the private key, the
    sandbox gets the public one, as Meta does when it is uploaded."""
    private, public = directory / "flows_private.pem", directory / "flows_public.pem"
    if not (private.exists() and public.exists()):
        directory.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        public.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public
