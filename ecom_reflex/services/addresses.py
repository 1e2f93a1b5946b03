"""Countries, their regions and postcodes, and phone numbers: what a shipping address may say.

Countries and their subdivisions are ISO 3166 (pycountry). Where a carrier needs the region on
the label (the United States, Canada, Australia), it is chosen from the country's list; elsewhere
it is optional free text. Postcodes are checked against the country's format where we know it,
otherwise only for the characters postcodes use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import pycountry

# Countries whose addresses need a region (state, province, territory) from their ISO 3166-2 list.
REGION_REQUIRED = frozenset({"US", "CA", "AU"})
REGION_WORD = {"US": "State", "CA": "Province or territory", "AU": "State or territory"}


@dataclass(frozen=True)
class PostcodeFormat:
    pattern: str
    example: str
    name: str = "postcode"


POSTCODES: dict[str, PostcodeFormat] = {
    "US": PostcodeFormat(r"\d{5}(-\d{4})?", "12345 or 12345-6789", "ZIP code"),
    "CA": PostcodeFormat(r"[A-Z]\d[A-Z] ?\d[A-Z]\d", "K1A 0B1", "postal code"),
    "GB": PostcodeFormat(r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}", "SW1A 1AA"),
    "DE": PostcodeFormat(r"\d{5}", "10115", "Postleitzahl"),
    "FR": PostcodeFormat(r"\d{5}", "75001", "code postal"),
    "IT": PostcodeFormat(r"\d{5}", "00118", "CAP"),
    "ES": PostcodeFormat(r"\d{5}", "28001", "código postal"),
    "NL": PostcodeFormat(r"\d{4} ?[A-Z]{2}", "1012 AB"),
    "AU": PostcodeFormat(r"\d{4}", "2000"),
    "JP": PostcodeFormat(r"\d{3}-?\d{4}", "100-0001", "postal code"),
    "IN": PostcodeFormat(r"\d{6}", "110001", "PIN code"),
    "BR": PostcodeFormat(r"\d{5}-?\d{3}", "01001-000", "CEP"),
    "CH": PostcodeFormat(r"\d{4}", "8001"),
    "AT": PostcodeFormat(r"\d{4}", "1010"),
    "BE": PostcodeFormat(r"\d{4}", "1000"),
    "SE": PostcodeFormat(r"\d{3} ?\d{2}", "114 55"),
    "PL": PostcodeFormat(r"\d{2}-\d{3}", "00-001"),
}
# Any other country: what postcodes are made of.
POSTCODE_CHARACTERS = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]*")
PHONE_CHARACTERS = re.compile(r"\+?[0-9 ()./-]+")
PHONE_DIGITS = (6, 15)  # E.164 allows at most 15


@cache
def countries() -> tuple[tuple[str, str], ...]:
    """(ISO alpha-2 code, name) of every country, by name: the checkout's list."""
    return tuple(sorted(((c.alpha_2, c.name) for c in pycountry.countries), key=lambda pair: pair[1]))


def country_code(value: str) -> str | None:
    """The ISO alpha-2 code of a country given by that code, its alpha-3 code or its (common or official)
    name, ignoring case; None when it names no country."""
    text = " ".join(value.split())
    if not text:
        return None
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        return None


def country_name(code: str) -> str:
    return pycountry.countries.get(alpha_2=code).name


@cache
def regions(code: str) -> tuple[str, ...]:
    """The names of a country's regions to choose from, by name; () where the region is free text."""
    if code not in REGION_REQUIRED:
        return ()
    return tuple(sorted(sub.name for sub in pycountry.subdivisions.get(country_code=code) or ()))


def region_problem(code: str, region: str) -> tuple[str, str | None]:
    """(the region as stored, what is wrong with it or None)."""
    choices = regions(code)
    if not choices:
        return region, None
    word = REGION_WORD.get(code, "Region")
    if not region:
        return region, f"{word} is required for {country_name(code)}."
    by_name = {name.casefold(): name for name in choices}
    # Also the ISO code ("CA" or "US-CA") a browser's autofill may send.
    by_code = {sub.code.split("-", 1)[1].casefold(): sub.name for sub in pycountry.subdivisions.get(country_code=code)}
    found = by_name.get(region.casefold()) or by_code.get(region.casefold().removeprefix(code.casefold() + "-"))
    if found is None:
        return region, f"Choose a {word.lower()} of {country_name(code)} from the list."
    return found, None


def postcode_problem(code: str | None, postcode: str) -> tuple[str, str | None]:
    """(the postcode as stored, what is wrong with it or None)."""
    known = POSTCODES.get(code or "")
    if known is None:
        if not POSTCODE_CHARACTERS.fullmatch(postcode):
            return postcode, "Use letters, digits, spaces or '-'."
        return postcode, None
    normalised = postcode.upper()
    if not re.fullmatch(known.pattern, normalised):
        return postcode, f"{country_name(code)} {known.name}s look like {known.example}."
    return normalised, None


def phone_problem(phone: str) -> str | None:
    if not phone:
        return None
    digits = sum(character.isdigit() for character in phone)
    if not PHONE_CHARACTERS.fullmatch(phone) or not PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]:
        return "Enter a phone number of 6 to 15 digits; +, spaces, dashes and brackets are fine."
    return None


def order_address_lines(order, *, contact: bool = False) -> list[str]:
    """An order's shipping address as the lines of a label (with its e-mail and phone when
    `contact`), empty parts left out: for the order page and the e-mails alike."""
    parts = [
        order.shipping_name,
        order.shipping_line1,
        order.shipping_line2,
        f"{order.shipping_postal_code} {order.shipping_city}",
        order.shipping_region,
        order.shipping_country,
    ]
    if contact:
        parts += [order.shipping_email, order.shipping_phone]
    return [part for part in parts if part.strip()]
