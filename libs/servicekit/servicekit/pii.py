"""Personal data at rest: AES-GCM with rotating keys, and a keyed hash to find a record by a value.

Each ciphertext records the id of the key that sealed it; the purpose ("id_number", "address") and the owner
id are bound in as associated data, so a ciphertext copied to another row or field does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


@dataclass(frozen=True)
class Sealed:
    key_id: str
    blob: bytes


class PersonalDataCipher:
    def __init__(self, keys: dict[str, str], active_key: str, lookup_key: str | None = None) -> None:
        """`keys`: key id -> 32 bytes in urlsafe base64; `active_key` seals, every key opens."""
        self._keys = {kid: AESGCM(base64.urlsafe_b64decode(key)) for kid, key in keys.items()}
        if active_key not in self._keys:
            raise ValueError(f"the active personal-data key {active_key!r} is not among the configured keys")
        self._active = active_key
        self._lookup_key = base64.urlsafe_b64decode(lookup_key) if lookup_key else None

    def seal(self, plaintext: str, *, purpose: str, owner: str) -> Sealed:
        nonce = os.urandom(12)
        aad = f"{purpose}:{owner}".encode()
        return Sealed(self._active, nonce + self._keys[self._active].encrypt(nonce, plaintext.encode(), aad))

    def open(self, sealed: Sealed, *, purpose: str, owner: str) -> str:
        aad = f"{purpose}:{owner}".encode()
        return self._keys[sealed.key_id].decrypt(sealed.blob[:12], sealed.blob[12:], aad).decode()

    def lookup_hash(self, value: str) -> bytes:
        if self._lookup_key is None:
            raise ValueError("no lookup key configured")
        return hmac.new(self._lookup_key, value.encode(), hashlib.sha256).digest()
