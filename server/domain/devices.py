"""Patients' phones: activation codes and device credentials, as values (no I/O, no randomness).

An activation code is 10 characters from an alphabet without look-alikes (no I, L, O, 0, 1),
shown in two groups of five for typing. It is a bearer credential: only its keyed digest
(HMAC-SHA256 under a key derived from the server secret) is stored, and nothing derived from the
code reaches the audit trail. A plain digest would not do: 31^10 (about 8 * 10^14) codes can be
hashed offline within a code's validity by anyone who reads the table or a digest prefix.
"""

from __future__ import annotations

import hashlib
import hmac

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
CODE_GROUP = 5
# What a patient may type around the characters: the hyphen of the grouped form and spaces.
CODE_SEPARATORS = frozenset("- \t")
MAX_CODE_INPUT = 64
MAX_DEVICE_LABEL = 80
# The HMAC key of stored digests is HMAC(server secret, this label): changing the label (or the
# secret) invalidates every unredeemed code and every refresh token.
DIGEST_KEY_LABEL = b"ptr-activation-code-v1"


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


def secret_digest_key(server_secret: str) -> bytes:
    """The key of secret_digest: HMAC-SHA256(server_secret, DIGEST_KEY_LABEL), so the token
    signing secret itself never keys anything else."""
    return hmac.new(server_secret.encode("utf-8"), DIGEST_KEY_LABEL, hashlib.sha256).digest()


def secret_digest(secret: str, key: bytes) -> str:
    """HMAC-SHA256 hex digest of a code or token under `key` (secret_digest_key): what the database
    keeps instead of the secret. Without the key, a reader of the table cannot test guesses."""
    return hmac.new(key, secret.encode("utf-8"), hashlib.sha256).hexdigest()


def check_device_label(label: str) -> str | None:
    """A problem with a device label typed by the patient, or None."""
    if len(label) > MAX_DEVICE_LABEL:
        return f"at most {MAX_DEVICE_LABEL} characters"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in label):
        return "control characters are not allowed"
    return None
