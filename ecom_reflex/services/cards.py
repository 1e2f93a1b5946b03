"""A card as the shopper typed it: checked at the edge, before any work, and then sent on.

The checks a payment form makes before it calls the processor (format, the Luhn check digit,
an expiry in the future, a 3- or 4-digit CVC), so a typo costs no payment attempt. Whether the
card pays is the payment service's to say. Nothing here keeps, logs or returns the number or the CVC.
"""

from __future__ import annotations

import re
from datetime import datetime

from stdnum import luhn

from ecom_reflex.models import utcnow
from ecom_reflex.services.errors import FieldErrors
from ecom_reflex.services.payment_client import Card
from ecom_reflex.services.text import readable_text

# Field: (label, max length as read). Read generously, judged below.
CARD_FIELDS: dict[str, tuple[str, int]] = {
    "card_name": ("Name on card", 120),
    "card_number": ("Card number", 23),
    "card_expiry": ("Expiry (MM/YY)", 7),
    "card_cvc": ("Security code (CVC)", 4),
}
_SEPARATORS = re.compile(r"[ -]")
_EXPIRY = re.compile(r"^(\d{1,2})\s*/\s*(\d{2}|\d{4})$")


def read_card(form: dict[str, str], now: datetime | None = None) -> Card:
    """The card in `form`, or FieldErrors saying, per field, what is wrong (never echoing the number)."""
    now = now or utcnow()
    errors: dict[str, str] = {}
    name = " ".join(readable_text(str(form.get("card_name", ""))).split())
    if not name:
        errors["card_name"] = "Name on card is required."
    elif len(name) > 120:
        errors["card_name"] = "Name on card must be at most 120 characters."
    number = _SEPARATORS.sub("", str(form.get("card_number", "")))
    if not number:
        errors["card_number"] = "Card number is required."
    elif not (number.isascii() and number.isdigit() and 12 <= len(number) <= 19) or not luhn.is_valid(number):
        errors["card_number"] = "Enter the card number as printed on the card (12 to 19 digits)."
    month = year = 0
    expiry = str(form.get("card_expiry", "")).strip()
    if not (match := _EXPIRY.match(expiry)) or not expiry.isascii():
        errors["card_expiry"] = "Enter the expiry as MM/YY, e.g. 04/29."
    else:
        month, year = int(match.group(1)), int(match.group(2))
        year += 2000 if year < 100 else 0
        if not 1 <= month <= 12:
            errors["card_expiry"] = "Enter the expiry as MM/YY, e.g. 04/29: the month is 01 to 12."
        elif (year, month) < (now.year, now.month):
            errors["card_expiry"] = "This card has expired: use another card."
        elif year > now.year + 30:
            errors["card_expiry"] = "Enter the expiry as MM/YY, e.g. 04/29."
    cvc = str(form.get("card_cvc", "")).strip()
    if not (cvc.isascii() and cvc.isdigit() and len(cvc) in (3, 4)):
        errors["card_cvc"] = "Enter the 3 or 4 digits of the security code on the card."
    if errors:
        raise FieldErrors({field: errors[field] for field in CARD_FIELDS if field in errors})
    return Card(number=number, exp_month=month, exp_year=year, cvc=cvc, name=name)
