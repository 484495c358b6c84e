"""Identity's personal-data cipher: servicekit's AES-GCM cipher with identity's configured keys."""

from __future__ import annotations

from identity.settings import IdentitySettings
from servicekit.pii import PersonalDataCipher as _Cipher
from servicekit.pii import Sealed

__all__ = ["PersonalDataCipher", "Sealed"]


class PersonalDataCipher(_Cipher):
    def __init__(self, settings: IdentitySettings) -> None:
        super().__init__(settings.pii_keys, settings.pii_active_key, settings.pii_lookup_key)
