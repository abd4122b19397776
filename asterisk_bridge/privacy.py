"""Caller numbers are personal data: how they are shown outside the database."""

from __future__ import annotations

import hashlib
import re

# a phone number inside a caller ID name: digits, possibly with spaces, dashes, dots or brackets
_NUMBER_IN_NAME = re.compile(r"\+?\d(?:[\s().-]*\d){4,}")
_ONLY_NUMBER = re.compile(r"\+?[\d\s().-]+")


def mask_number(number: str | None) -> str:
    """Keep enough of a number to recognise a region or a repeat caller, hide the rest.

    ``79161234567`` becomes ``7916***4567``; short numbers keep only their last two digits.
    """
    if not number:
        return ""
    if len(number) <= 6:
        return "*" * (len(number) - 2) + number[-2:] if len(number) > 2 else "*" * len(number)
    return f"{number[:4]}***{number[-4:]}"


def mask_name(name: str | None) -> str:
    """A caller ID name with any phone number in it masked like ``mask_number``.

    Trunks without caller names leave the number itself in the name (``79161234567`` or
    ``+7 916 123-45-67``), which would otherwise show the number a masked column hides.
    """
    if not name:
        return ""
    return _NUMBER_IN_NAME.sub(lambda m: mask_number(re.sub(r"\D", "", m.group())), name)


def name_is_number(name: str | None, number: str | None) -> bool:
    """True when a caller ID name says nothing but the caller's number (``+7 916 123-45-67`` for
    ``79161234567``): trunks without names fill the name with the number, and a report that
    shows both prints the same number twice."""
    if not name or not number or not _ONLY_NUMBER.fullmatch(name.strip()):
        return False
    return re.sub(r"\D", "", name) == re.sub(r"\D", "", number)


def hash_number(number: str | None, salt: str) -> str:
    """A salted, stable digest: repeat-caller figures still work, the number cannot be read back."""
    if not number:
        return ""
    return hashlib.sha256(f"{salt}:{number}".encode()).hexdigest()[:16]
