"""What every list in the shop shares: page arithmetic and case-insensitive text search."""

from __future__ import annotations

import math
import re

from sqlalchemy import ColumnElement, or_

# Control characters other than tab and line breaks (which are white space): never meant as text.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clamp_page(total: int, page: int, per_page: int) -> tuple[int, int]:
    """(page, pages): a page before the first or past the last is moved to it; there is always page 1."""
    pages = max(1, math.ceil(total / per_page))
    return min(max(1, page), pages), pages


def search_text(raw: str, max_length: int = 100) -> str:
    """What a search may look for: control characters (a NUL would end a full-text query) dropped,
    white space folded, at most `max_length` characters. Every list search goes through it."""
    return " ".join(CONTROL_CHARACTERS.sub("", raw[: max_length * 4]).split())[:max_length]


def text_match(text: str, *columns) -> ColumnElement[bool]:
    """Any of `columns` contains `text`, ignoring case; % and _ are literal characters."""
    return or_(*(column.icontains(text, autoescape=True) for column in columns))
