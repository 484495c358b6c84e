import pytest
from cryptography.exceptions import InvalidTag

from identity.db.models import SigningKey
from identity.domain.keys import new_signing_key, private_key_of
from identity.passwords import hash_secret, verify_secret
from identity.settings import IdentitySettings


def test_private_keys_are_encrypted_at_rest_and_bound_to_their_kid():
    settings = IdentitySettings()
    key = new_signing_key(settings)
    assert b"PRIVATE KEY" not in key.private_key_encrypted
    assert private_key_of(settings, key) is not None
    moved = SigningKey(kid="ed-other", private_key_encrypted=key.private_key_encrypted)
    with pytest.raises(InvalidTag):  # a ciphertext copied onto another kid does not decrypt
        private_key_of(settings, moved)
    assert set(key.public_jwk) >= {"kty", "crv", "x", "kid", "alg"} and "d" not in key.public_jwk


def test_secrets_are_argon2_hashed_and_verified():
    stored = hash_secret("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_secret(stored, "correct horse battery")
    assert not verify_secret(stored, "wrong")
    assert not verify_secret(None, "anything") and not verify_secret("garbage", "anything")
