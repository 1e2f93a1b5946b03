"""What every list in the shop shares: page arithmetic and case-insensitive text search."""

from __future__ import annotations

import math

from sqlalchemy import ColumnElement, or_


def clamp_page(total: int, page: int, per_page: int) -> tuple[int, int]:
    """(page, pages): a page before the first or past the last is moved to it; there is always page 1."""
    pages = max(1, math.ceil(total / per_page))
    return min(max(1, page), pages), pages


def text_match(text: str, *columns) -> ColumnElement[bool]:
    """Any of `columns` contains `text`, ignoring case; % and _ are literal characters."""
    return or_(*(column.icontains(text, autoescape=True) for column in columns))
