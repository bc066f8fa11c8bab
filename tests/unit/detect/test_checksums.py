"""Check-digit validators: cards, IBAN, NPI, DEA."""

from __future__ import annotations

import pytest

from vallum.detect.checksums import dea_valid, iban_valid, luhn_valid, npi_valid


@pytest.mark.parametrize(
    "number", ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"]
)
def test_luhn_accepts_valid_cards(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4111 1111 1111 1112", "1234567812345678", "7"])
def test_luhn_refuses_wrong_check_digit(number: str) -> None:
    assert not luhn_valid(number)


@pytest.mark.parametrize("iban", ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"])
def test_iban_valid(iban: str) -> None:
    assert iban_valid(iban)


@pytest.mark.parametrize("iban", ["GB82 WEST 1234 5698 7654 33", "DE8937040044053201300", "XX00"])
def test_iban_invalid(iban: str) -> None:
    assert not iban_valid(iban)


def test_npi_uses_the_80840_prefix() -> None:
    assert npi_valid("1234567893")
    assert not npi_valid("1234567890")
    assert not npi_valid("3234567893")  # must start with 1 or 2


def test_dea_check_digit() -> None:
    assert dea_valid("AB1234563")
    assert not dea_valid("AB1234564")
    assert not dea_valid("A11234563")
