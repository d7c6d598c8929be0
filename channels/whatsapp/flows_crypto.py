"""WhatsApp Flows endpoint encryption (data_api_version 3.0).

Request: the 16-byte AES key is RSA-OAEP(SHA-256, MGF1 SHA-256) encrypted with our public key;
the payload is AES-128-GCM with a 16-byte IV, tag appended. Answer: AES-128-GCM with the same
key and the IV with every byte inverted, tag appended, base64.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(),
                    label=None)


class FlowDecryptionError(ValueError):
    """The request cannot be decrypted with our key (→ HTTP 421)."""


@dataclass(frozen=True)
class Decrypted:
    """A decrypted request, with what is needed to encrypt its answer."""

    payload: dict[str, Any]
    aes_key: bytes
    iv: bytes


def load_private_key(pem: bytes, passphrase: Optional[str] = None) -> rsa.RSAPrivateKey:
    """A PKCS#1 or PKCS#8 PEM private key, optionally passphrase-protected."""
    key = serialization.load_pem_private_key(
        pem, password=passphrase.encode() if passphrase else None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the Flows key must be an RSA private key")
    return key


def decrypt_request(body: Any, key: rsa.RSAPrivateKey) -> Decrypted:
    """Decrypt ``{encrypted_flow_data, encrypted_aes_key, initial_vector}``."""
    if not isinstance(body, dict):
        raise FlowDecryptionError("body must be a JSON object")
    try:
        encrypted_key = base64.b64decode(body["encrypted_aes_key"], validate=True)
        data = base64.b64decode(body["encrypted_flow_data"], validate=True)
        iv = base64.b64decode(body["initial_vector"], validate=True)
        aes_key = key.decrypt(encrypted_key, OAEP)
        if len(aes_key) != 16 or len(iv) != 16:
            raise FlowDecryptionError("unexpected key or IV length")
        plain = AESGCM(aes_key).decrypt(iv, data, None)
        payload = json.loads(plain)
    except (KeyError, TypeError, binascii.Error, ValueError, InvalidTag) as exc:
        if isinstance(exc, FlowDecryptionError):
            raise
        raise FlowDecryptionError(f"cannot decrypt: {type(exc).__name__}") from None
    if not isinstance(payload, dict):
        raise FlowDecryptionError("decrypted payload is not an object")
    return Decrypted(payload, aes_key, iv)


def encrypt_response(answer: dict[str, Any], aes_key: bytes, iv: bytes) -> str:
    """The base64 body of the answer (sent as ``text/plain``)."""
    flipped = bytes(b ^ 0xFF for b in iv)
    sealed = AESGCM(aes_key).encrypt(flipped, json.dumps(answer).encode(), None)
    return base64.b64encode(sealed).decode()


def public_key_pem(key: rsa.RSAPrivateKey) -> str:
    """The public half, as PEM to upload to Meta."""
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()
