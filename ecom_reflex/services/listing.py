"""What every list in the shop shares: page arithmetic and case-insensitive text search."""

from __future__ import annotations

import math

from sqlalchemy import ColumnElement, or_

from ecom_reflex.services.text import readable_text


def clamp_page(total: int, page: int, per_page: int) -> tuple[int, int]:
    """(page, pages): a page before the first or past the last is moved to it; there is always page 1."""
    pages = max(1, math.ceil(total / per_page))
    return min(max(1, page), pages), pages


def search_text(raw: str, max_length: int = 100) -> str:
    """What a search may look for: what stored text may not hold dropped (services/text.py: a NUL
    would end a full-text query), white space folded, at most `max_length` characters. Every list
    search goes through it."""
    return " ".join(readable_text(raw[: max_length * 4]).split())[:max_length]


def text_match(text: str, *columns) -> ColumnElement[bool]:
    """Any of `columns` contains `text`, ignoring case; % and _ are literal characters."""
    return or_(*(column.icontains(text, autoescape=True) for column in columns))
