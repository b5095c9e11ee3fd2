"""Global object ids ("Type:pk", base64) and opaque page cursors."""

from __future__ import annotations

import base64
import binascii

import strawberry

# Primary keys are 32-bit integer columns; a larger number cannot name a row, and passing it to the
# database would fail there (an internal error instead of "not found").
MAX_PK = 2**31 - 1


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def encode_id(type_name: str, pk: int) -> strawberry.ID:
    """Unpadded URL-safe base64 of "Type:pk" (binascii directly: a site view encodes 8,000 ids)."""
    encoded = binascii.b2a_base64(f"{type_name}:{pk}".encode(), newline=False).translate(_URLSAFE)
    return strawberry.ID(encoded.rstrip(b"=").decode())


def decode_id(global_id: str) -> tuple[str, int] | None:
    """(type name, primary key), or None when the id is not one of ours."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, pk = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        return (type_name, int(pk)) if type_name and pk.isdigit() and int(pk) <= MAX_PK else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def encode_cursor(pk: int) -> str:
    return encode_id("cursor", pk)


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    decoded = decode_id(cursor)
    if decoded is None or decoded[0] != "cursor":
        raise ValueError("not a cursor from this API")
    return decoded[1]
