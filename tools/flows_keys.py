"""`make flows-keys`: generate the Flows endpoint key pair and print what to do with it."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / ".data" / "flows" / "private.pem"


def main(argv: list[str] | None = None) -> int:
    """Write a 2048-bit RSA private key (mode 600; passphrase from the environment if set)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT)
    parser.add_argument("--force", action="store_true", help="replace an existing key")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.force:
        print(f"{args.out} already exists; use --force to replace it", file=sys.stderr)
        return 1
    passphrase = os.environ.get("WHATSAPP_FLOWS_PRIVATE_KEY_PASSPHRASE")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                  else serialization.NoEncryption())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8, encryption))
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    print(f"Private key written to {args.out} (keep it secret; never commit it).\n")
    print(f"1. export WHATSAPP_FLOWS_PRIVATE_KEY={args.out}")
    print("2. Upload the public key below for each business phone number:")
    print("   POST https://graph.facebook.com/v25.0/{phone_number_id}/whatsapp_business_encryption")
    print("   with form field business_public_key=<the PEM below>, Authorization: Bearer <token>")
    print("3. In the Flow's settings, set the endpoint URL to "
          "https://<your host>/webhooks/whatsapp/flows and publish flows/booking_flow.json;")
    print("   export WHATSAPP_FLOW_ID=<the published Flow's id>.\n")
    print(public.decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
