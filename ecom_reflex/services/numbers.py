"""Whole numbers from outside (a URL, a search box, an event), bounded: the one parser of ids.

A huge number is "not found" (never an OverflowError in the database driver), and only
ASCII digits are digits: Python's `str.isdigit()` says yes to "²" and "٣", and `int()`
reads "٣" as 3 but raises on "²". Pages, HTTP routes, searches and event handlers all read
ids through `parse_id` (state/inputs.py re-exports it for the states).
"""

from __future__ import annotations

# The largest id a database column holds (signed 64-bit); above it nothing can exist.
MAX_ID = 2**63 - 1
# Longest digit string worth converting: 19 digits hold every 64-bit value.
_MAX_DIGITS = 19


def parse_int(raw: object) -> int | None:
    """A whole number from an int or a short ASCII digit string, else None (bools, floats, junk, 1e999, "²")."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if abs(raw) <= MAX_ID else None
    text = raw.strip() if isinstance(raw, str) else ""
    digits = text.removeprefix("-").removeprefix("+")
    if not digits.isascii() or not digits.isdigit() or len(digits) > _MAX_DIGITS:
        return None
    value = int(text)
    return value if abs(value) <= MAX_ID else None


def parse_id(raw: object) -> int | None:
    """A row id (1 .. 2**63-1) or None: anything else cannot name a row."""
    value = parse_int(raw)
    return value if value is not None and value >= 1 else None
