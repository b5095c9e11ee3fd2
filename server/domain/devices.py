"""Patients' phones: activation codes and device credentials, as values (no I/O, no randomness).

An activation code is 10 characters from an alphabet without look-alikes (no I, L, O, 0, 1),
shown in two groups of five for typing. It is a bearer credential: only its SHA-256 digest is
stored, and only a short prefix of that digest ever reaches the audit trail.
"""

from __future__ import annotations

import hashlib

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
CODE_GROUP = 5
# What a patient may type around the characters: the hyphen of the grouped form and spaces.
CODE_SEPARATORS = frozenset("- \t")
MAX_CODE_INPUT = 64
MAX_DEVICE_LABEL = 80
AUDIT_HASH_PREFIX = 12


def normalize_code(text: str) -> str | None:
    """The code as stored before hashing (upper case, no separators), or None when the text
    cannot be a code at all (wrong length or characters)."""
    if len(text) > MAX_CODE_INPUT:
        return None
    kept = "".join(ch for ch in text.upper() if ch not in CODE_SEPARATORS)
    if len(kept) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in kept):
        return None
    return kept


def group_code(code: str) -> str:
    """ "ABCDEFGHJK" -> "ABCDE-FGHJK"."""
    return "-".join(code[i : i + CODE_GROUP] for i in range(0, len(code), CODE_GROUP))


def secret_digest(secret: str) -> str:
    """SHA-256 hex digest of a code or token: what the database keeps instead of the secret.
    Codes and refresh tokens carry >= 49 bits (codes, also rate limited) and 256 bits (tokens)
    of randomness, so an unsalted digest does not help a reader of the table guess them."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def audit_hash_prefix(digest: str) -> str:
    """Enough of a digest to tell two attempts apart in the audit trail, too little to search."""
    return digest[:AUDIT_HASH_PREFIX]


def check_device_label(label: str) -> str | None:
    """A problem with a device label typed by the patient, or None."""
    if len(label) > MAX_DEVICE_LABEL:
        return f"at most {MAX_DEVICE_LABEL} characters"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in label):
        return "control characters are not allowed"
    return None
