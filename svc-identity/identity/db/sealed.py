"""Where identity keeps personal data sealed (servicekit.pii): what `reseal-personal-data` rewrites after a key
rotation. A new sealed column belongs here, or the retired key can never leave the configuration."""

from servicekit.pii import SealedColumns

SEALED = [
    SealedColumns("real_names", "key_id", "person_id", {"name_encrypted": "name", "id_number_encrypted": "id_number"}),
    SealedColumns("contact_phones", "key_id", "person_id", {"sealed": "phone"}),
    SealedColumns("phone_verifications", "key_id", "person_id", {"sealed": "phone"}),
    SealedColumns("real_name_claims", "key_id", "id", {"name_encrypted": "name", "id_number_encrypted": "id_number"}),
]
