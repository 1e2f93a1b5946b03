"""Money is integer cents everywhere; this is the one place that turns it into text."""


def format_cents(cents: int, currency_symbol: str = "$") -> str:
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(cents), 100)
    return f"{sign}{currency_symbol}{whole:,}.{fraction:02d}"


def plain_amount(cents: int) -> str:
    """12345 -> '123.45': for files read by programs (CSV), no symbol or separators."""
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(cents), 100)
    return f"{sign}{whole}.{fraction:02d}"
