"""Encrypts Flows requests the way WhatsApp does and decrypts the answers (from Meta's
documented scheme; deliberately not sharing code with the endpoint)."""
from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def new_key_pem(path: str) -> rsa.RSAPrivateKey:
    """Generate a 2048-bit key and write it as PKCS#8 PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with open(path, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return key


class FlowsClient:
    """One request's AES key and IV; ``seal`` the request, ``open`` the answer."""

    def __init__(self, public_key: rsa.RSAPublicKey) -> None:
        self.public_key = public_key
        self.aes_key = os.urandom(16)
        self.iv = os.urandom(16)

    def seal(self, payload: dict[str, Any]) -> dict[str, str]:
        encrypted_key = self.public_key.encrypt(self.aes_key, padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
        data = AESGCM(self.aes_key).encrypt(self.iv, json.dumps(payload).encode(), None)
        return {"encrypted_flow_data": base64.b64encode(data).decode(),
                "encrypted_aes_key": base64.b64encode(encrypted_key).decode(),
                "initial_vector": base64.b64encode(self.iv).decode()}

    def open(self, body: str) -> dict[str, Any]:
        flipped = bytes(b ^ 0xFF for b in self.iv)
        return json.loads(AESGCM(self.aes_key).decrypt(flipped, base64.b64decode(body), None))
