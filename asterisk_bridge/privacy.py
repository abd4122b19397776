"""Caller numbers are personal data: how they are shown outside the database."""

from __future__ import annotations

import hashlib


def mask_number(number: str | None) -> str:
    """Keep enough of a number to recognise a region or a repeat caller, hide the rest.

    ``79161234567`` becomes ``7916***4567``; short numbers keep only their last two digits.
    """
    if not number:
        return ""
    if len(number) <= 6:
        return "*" * (len(number) - 2) + number[-2:] if len(number) > 2 else "*" * len(number)
    return f"{number[:4]}***{number[-4:]}"


def hash_number(number: str | None, salt: str) -> str:
    """A salted, stable digest: repeat-caller figures still work, the number cannot be read back."""
    if not number:
        return ""
    return hashlib.sha256(f"{salt}:{number}".encode()).hexdigest()[:16]
