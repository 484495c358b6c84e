"""Personal data at rest: AES-GCM with rotating keys, and a keyed hash to find a record by its number.

Each ciphertext records the id of the key that sealed it; the purpose ("id_number", "name") and the person
id are bound in as associated data, so a ciphertext copied to another row or field does not decrypt.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from identity.settings import IdentitySettings


@dataclass(frozen=True)
class Sealed:
    key_id: str
    blob: bytes


class PersonalDataCipher:
    def __init__(self, settings: IdentitySettings) -> None:
        self._keys = {kid: AESGCM(base64.urlsafe_b64decode(key)) for kid, key in settings.pii_keys.items()}
        if settings.pii_active_key not in self._keys:
            raise ValueError("IDENTITY_PII_ACTIVE_KEY names no key in IDENTITY_PII_KEYS")
        self._active = settings.pii_active_key
        self._lookup_key = base64.urlsafe_b64decode(settings.pii_lookup_key)

    def seal(self, plaintext: str, *, purpose: str, owner: str) -> Sealed:
        nonce = os.urandom(12)
        aad = f"{purpose}:{owner}".encode()
        return Sealed(self._active, nonce + self._keys[self._active].encrypt(nonce, plaintext.encode(), aad))

    def open(self, sealed: Sealed, *, purpose: str, owner: str) -> str:
        aad = f"{purpose}:{owner}".encode()
        return self._keys[sealed.key_id].decrypt(sealed.blob[:12], sealed.blob[12:], aad).decode()

    def lookup_hash(self, value: str) -> bytes:
        return hmac.new(self._lookup_key, value.encode(), hashlib.sha256).digest()
