"""What a client sends, bounded before any work: ids, counts, text and forms.

Any client can send any event with any payload, as often as it likes. Handlers
read their arguments through these, so a huge number is "not found" (never an
OverflowError in the database driver), a string is cut to its field's length,
loses what text people read may not hold (NUL and other control characters, bidi
overrides, zero-width characters: services/text.py), and a form is a dict of known
fields whatever was sent.
"""

from __future__ import annotations

# The one parser of ids and whole numbers (services/numbers.py); the states read them from here.
from ecom_reflex.services.numbers import parse_id as parse_id
from ecom_reflex.services.numbers import parse_int
from ecom_reflex.services.text import readable_text

DEFAULT_TEXT_LENGTH = 200


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
