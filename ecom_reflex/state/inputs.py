"""What a client sends, bounded before any work: ids, counts, text and forms.

Any client can send any event with any payload, as often as it likes. Handlers
read their arguments through these, so a huge number is "not found" (never an
OverflowError in the database driver), a string is cut to its field's length,
loses what text people read may not hold (NUL and other control characters, bidi
overrides, zero-width characters: services/text.py), and a form is a dict of known
fields whatever was sent.
"""

from __future__ import annotations

from ecom_reflex.services.text import readable_text

# The largest id a database column holds (signed 64-bit); above it nothing can exist.
MAX_ID = 2**63 - 1
# Longest digit string worth converting: 19 digits hold every 64-bit value.
_MAX_DIGITS = 19
DEFAULT_TEXT_LENGTH = 200


def parse_int(raw: object) -> int | None:
    """A whole number from an int or a short digit string, else None (bools, floats, junk, 1e999)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if abs(raw) <= MAX_ID else None
    text = str(raw).strip() if isinstance(raw, str) else ""
    digits = text.removeprefix("-").removeprefix("+")
    if not digits.isascii() or not digits.isdigit() or len(digits) > _MAX_DIGITS:
        return None
    value = int(text)
    return value if abs(value) <= MAX_ID else None


def parse_id(raw: object) -> int | None:
    """A row id (1 .. 2**63-1) or None: anything else cannot name a row."""
    value = parse_int(raw)
    return value if value is not None and value >= 1 else None


def parse_count(raw: object, low: int, high: int) -> int | None:
    """A whole number within [low, high] (a quantity, a page), else None."""
    value = parse_int(raw)
    return value if value is not None and low <= value <= high else None


def parse_page(raw: object) -> int:
    """A page number from the URL: 1 unless it is a sensible positive number."""
    return parse_count(raw, 1, 1_000_000) or 1


def clean_text(raw: object, max_length: int = DEFAULT_TEXT_LENGTH, *, multiline: bool = False) -> str:
    """A string fit to use: not a string -> "", what text may not hold dropped (services/text.py),
    trimmed, at most `max_length`.

    Line breaks and tabs become spaces unless `multiline` (a description keeps its paragraphs).
    """
    if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
        return ""
    text = str(raw)[: max_length * 4]  # no work on megabytes we will cut anyway
    return readable_text(text, multiline=multiline).strip()[:max_length]


def form_fields(form_data: object, lengths: dict[str, int], multiline: frozenset[str] = frozenset()) -> dict[str, str]:
    """The named fields of a submitted form as clean text (missing ones ""), whatever else was sent.

    `lengths` bounds the work, it does not validate: give more than the field accepts, so the
    validator sees an over-long value and says so instead of storing a cut one.
    """
    data = form_data if isinstance(form_data, dict) else {}
    return {
        name: clean_text(data.get(name, ""), length, multiline=name in multiline) for name, length in lengths.items()
    }


def password_field(form_data: object, name: str, max_length: int = 1024) -> str:
    """A password exactly as typed (spaces count), only bounded: the policy judges it, not this."""
    data = form_data if isinstance(form_data, dict) else {}
    value = data.get(name, "")
    return value[:max_length] if isinstance(value, str) else ""
