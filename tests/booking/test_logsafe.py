"""Logs never hold a full phone number, payment link or token (booking/logsafe.py)."""
from __future__ import annotations

import subprocess
import sys

from booking.logsafe import mask, mask_phone

from tests.conftest import ROOT


def test_numbers_links_and_tokens_are_masked_and_the_rest_kept():
    line = ("sent to 6281234567890 (+628123456789) BK123456 wamid.HBgLNjI4MTIzNDU2Nzg5MA== "
            "https://checkout.xendit.co/web/64f1a2b3c4 receipts "
            "http://x/webhooks/xendit/receipts/AbCdEf123456.pdf Bearer s3cr3t-t0ken-value "
            "token=abcdefghijklmnop at 2026-11-24 15:00 for Rp 350000")
    masked = mask(line)
    for secret in ("6281234567890", "628123456789", "64f1a2b3c4", "AbCdEf123456",
                   "s3cr3t-t0ken-value", "abcdefghijklmnop"):
        assert secret not in masked, secret
    for kept in ("62812****7890", "BK123456", "2026-11-24 15:00", "Rp 350000",
                 "https://checkout.xendit.co/"):
        assert kept in masked, kept
    assert mask_phone("6281234567890") == "62812****7890"


def test_secrets_by_name_auth_headers_and_keys_are_masked_plain_words_are_not():
    for line, secret in (('"flow_token": "Zk3hQ9xYwP"', "Zk3hQ9xYwP"),
                         ("access_token=EAAGm0PX4ZCpsBA", "EAAGm0PX4ZCpsBA"),
                         ("receipt_token: q1w2e3r4t5y6", "q1w2e3r4t5y6"),
                         ("Authorization: Basic eG5kX2RldmVsb3BtZW50", "eG5kX2RldmVsb3BtZW50"),
                         ("key xnd_development_P4qDfOss0OCpl8RtKrROHjaQYNCk9dN5lSfk", "P4qDfOss0"),
                         ("https://checkout-staging.xendit.co/v2/64f1a2b3c4d5", "64f1a2b3c4d5"),
                         ("WHATSAPP_APP_SECRET=abcdef123456", "abcdef123456")):
        assert secret not in mask(line), line
    assert mask("token required") == "token required"
    assert mask("booking BK123456 at 15:00") == "booking BK123456 at 15:00"
    assert mask_phone("rest:me") == "***" and mask_phone("") == ""


def test_every_logger_of_the_process_is_masked_tracebacks_included():
    """In a fresh process (install() changes logging for good): a third-party logger's
    message, its arguments and an exception's traceback."""
    code = """
import logging, sys
from booking import logsafe
logsafe.install()
logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(name)s %(message)s")
logging.getLogger("rasa.core.processor").info("turn for %s", "6281234567890")
try:
    raise ValueError("duplicate key: customer_id 6281234567890")
except ValueError:
    logging.getLogger("sanic.error").exception("failed for 6289876543210")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert "62812****7890" in out and "62898****3210" in out and "ValueError" in out
    assert "6281234567890" not in out and "6289876543210" not in out
