import pytest

from ecom_reflex.money import format_cents


@pytest.mark.parametrize(
    ("cents", "text"),
    [(0, "$0.00"), (5, "$0.05"), (1999, "$19.99"), (100000000, "$1,000,000.00"), (-250, "-$2.50")],
)
def test_format_cents(cents, text):
    assert format_cents(cents) == text
