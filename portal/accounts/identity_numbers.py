"""Identity document numbers: the 18-digit resident identity number (GB 11643) and the
unified social credit code of organisations (GB 32100), checked and masked.

Identity numbers are personal data: they are shown masked to everyone but registrars, and
never travel in URLs or logs.
"""

from __future__ import annotations

import datetime as dt

__all__ = [
    "resident_id_check_digit",
    "resident_id_problem",
    "credit_code_check_char",
    "credit_code_problem",
    "mask_document_number",
]

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def resident_id_check_digit(first17: str) -> str:
    """The GB 11643 check character (0-9 or X) for the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def resident_id_problem(number: str, *, today: dt.date | None = None) -> str | None:
    """Say what is wrong with an 18-digit resident identity number, or None if it is valid."""
    number = number.strip().upper()
    if len(number) != 18:
        return f"a resident identity number has 18 characters, this one has {len(number)}"
    if not number.isascii() or not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        return "a resident identity number is 17 digits followed by a digit or X"
    if number[0] == "0":
        return "positions 1-6 must be an administrative division code"
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return f"positions 7-14 are not a date of birth: {number[6:14]}"
    if not dt.date(1900, 1, 1) <= born <= (today or dt.date.today()):
        return f"date of birth {born.isoformat()} is out of range"
    if resident_id_check_digit(number[:17]) != number[17]:
        return "the check digit (position 18) does not match: the number is mistyped"
    return None


def credit_code_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a credit code."""
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_CHARS[(31 - total % 31) % 31]


def credit_code_problem(code: str) -> str | None:
    """Say what is wrong with an 18-character unified social credit code, or None."""
    code = code.strip().upper()
    if len(code) != 18:
        return f"a unified social credit code has 18 characters, this one has {len(code)}"
    bad = [c for c in code if c not in _CREDIT_CHARS]
    if bad:
        return f"character {bad[0]!r} is not used in credit codes"
    if credit_code_check_char(code[:17]) != code[17]:
        return "the check character (position 18) does not match"
    return None


def mask_document_number(number: str) -> str:
    """Keep the first 3 and last 2 characters: enough to tell documents apart, not to use one."""
    if len(number) <= 5:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]
