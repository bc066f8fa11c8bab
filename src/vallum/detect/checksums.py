"""Check-digit validators: payment cards (Luhn), IBAN (ISO 7064 mod 97-10),
US NPI (Luhn over ``80840`` + the first nine digits), DEA registration numbers.

Each takes the text as matched (separators allowed) and returns ``True`` only
when the check digit is right, so a detector can score a valid number high and
an invalid look-alike low.
"""

from __future__ import annotations

__all__ = ["dea_valid", "iban_valid", "luhn_valid", "npi_valid"]


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def luhn_valid(text: str) -> bool:
    """Luhn (mod 10) over the digits of ``text``; separators are ignored."""
    digits = _digits(text)
    if len(digits) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_valid(text: str) -> bool:
    """ISO 13616 IBAN: known country length and mod-97 remainder of 1."""
    iban = "".join(c for c in text if c.isalnum()).upper()
    if len(iban) < 15 or not iban[:2].isalpha() or not iban[2:4].isdigit():
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def npi_valid(text: str) -> bool:
    """US National Provider Identifier: ten digits, Luhn over ``80840`` + the NPI."""
    digits = _digits(text)
    return len(digits) == 10 and digits[0] in "12" and luhn_valid("80840" + digits)


def dea_valid(text: str) -> bool:
    """DEA number: two letters, seven digits; (d1+d3+d5) + 2*(d2+d4+d6) ends in d7."""
    s = "".join(c for c in text if c.isalnum()).upper()
    if len(s) != 9 or not s[:2].isalpha() or not s[2:].isdigit():
        return False
    if s[0] not in "ABCDEFGHJKLMPRSTUX9":
        return False
    d = [int(c) for c in s[2:]]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    return check == d[6]
