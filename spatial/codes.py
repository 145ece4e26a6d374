"""Real estate unit numbers and parcel codes (GB/T 37346), parsed and checked.

The 28-character unit number is the identifier every registry look-up starts from; the
first 19 characters are the parcel code. The database checks the same shape with a
regular expression (see the foundation migration); this module gives the reason a code
is wrong, which a person uploading or searching needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "PARCEL_CODE_PATTERN",
    "UNIT_NUMBER_PATTERN",
    "ParcelCode",
    "UnitNumber",
    "CodeError",
    "parse_parcel_code",
    "parse_unit_number",
    "parcel_code_problem",
    "unit_number_problem",
]

# Ownership (1st character) and kind of right (2nd character) of the parcel feature code.
OWNERSHIP = {"G": "state-owned", "J": "collective", "Z": "undetermined"}
RIGHT_KIND = {
    "A": "collective land ownership",
    "B": "construction land use right (surface)",
    "S": "construction land use right (above ground)",
    "X": "construction land use right (below ground)",
    "C": "homestead use right",
    "D": "cropland contract management right",
    "E": "forest land contract management right",
    "F": "grassland contract management right",
    "H": "sea area use right",
    "G": "uninhabited island use right",
    "W": "undetermined",
    "Y": "other",
}
FIXTURE_KIND = {"F": "building", "L": "forest or trees", "Q": "other fixture", "W": "no fixture"}

PARCEL_CODE_PATTERN = r"^[1-9][0-9]{5}[0-9]{3}[0-9]{3}[GJZ][ABSXCDEFHGWY](?!00000)[0-9]{5}$"
UNIT_NUMBER_PATTERN = (
    r"^[1-9][0-9]{5}[0-9]{3}[0-9]{3}[GJZ][ABSXCDEFHGWY](?!00000)[0-9]{5}"
    r"(?:[FLQ][0-9]{8}|W00000000)$"
)
_PARCEL_RE = re.compile(PARCEL_CODE_PATTERN)
_UNIT_RE = re.compile(UNIT_NUMBER_PATTERN)


class CodeError(ValueError):
    """A parcel code or unit number that does not follow GB/T 37346; the message says where."""


@dataclass(frozen=True, slots=True)
class ParcelCode:
    code: str

    @property
    def admin_area_code(self) -> str:
        return self.code[0:6]

    @property
    def cadastral_district(self) -> str:
        return self.code[6:9]

    @property
    def cadastral_subdistrict(self) -> str:
        return self.code[9:12]

    @property
    def feature_code(self) -> str:
        return self.code[12:14]

    @property
    def ownership(self) -> str:
        return OWNERSHIP[self.code[12]]

    @property
    def right_kind(self) -> str:
        return RIGHT_KIND[self.code[13]]

    @property
    def sequence(self) -> int:
        return int(self.code[14:19])

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True, slots=True)
class UnitNumber:
    number: str

    @property
    def parcel_code(self) -> ParcelCode:
        return ParcelCode(self.number[:19])

    @property
    def fixture_type(self) -> str:
        return self.number[19]

    @property
    def fixture_kind(self) -> str:
        return FIXTURE_KIND[self.number[19]]

    @property
    def building(self) -> str:
        return self.number[20:24]

    @property
    def room(self) -> str:
        return self.number[24:28]

    def __str__(self) -> str:
        return self.number


def _normalise(text: str) -> str:
    # Full-width letters and digits (ＧＢ００００１) are common in pasted codes.
    return text.strip().translate({c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}).upper()


def _digits(text: str) -> bool:
    """Only the ASCII digits 0-9 (str.isdigit also takes other scripts' digits and superscripts)."""
    return text.isascii() and text.isdigit()


def parcel_code_problem(code: str) -> str | None:
    """Say what is wrong with a 19-character parcel code, or None when it is well formed."""
    if len(code) != 19:
        return f"a parcel code has 19 characters, this one has {len(code)}"
    if not _digits(code[:6]) or code[0] == "0":
        return f"positions 1-6 must be a county-level division code, not {code[:6]!r}"
    if not _digits(code[6:12]):
        return f"positions 7-12 must be the cadastral district and sub-district digits, not {code[6:12]!r}"
    if code[12] not in OWNERSHIP:
        return f"position 13 must be G, J or Z (ownership), not {code[12]!r}"
    if code[13] not in RIGHT_KIND:
        return f"position 14 must be a kind-of-right letter ({''.join(RIGHT_KIND)}), not {code[13]!r}"
    if not _digits(code[14:19]) or code[14:19] == "00000":
        return f"positions 15-19 must be a parcel sequence number 00001-99999, not {code[14:19]!r}"
    return None


def unit_number_problem(number: str) -> str | None:
    """Say what is wrong with a 28-character unit number, or None when it is well formed."""
    if len(number) != 28:
        return f"a unit number has 28 characters, this one has {len(number)}"
    problem = parcel_code_problem(number[:19])
    if problem:
        return f"parcel code part: {problem}"
    fixture = number[19]
    if fixture not in FIXTURE_KIND:
        return f"position 20 must be a fixture code (F, L, Q or W), not {fixture!r}"
    if not _digits(number[20:]):
        return f"positions 21-28 must be digits, not {number[20:]!r}"
    if fixture == "W" and number[20:] != "00000000":
        return "a unit with no fixture (W) must end in 00000000"
    return None


SHOWN_INPUT = 80


def _shown(text: str) -> str:
    """The input as an error message echoes it: its first 80 characters and an ellipsis when
    longer (a 10,000-character input is not sent back)."""
    return text if len(text) <= SHOWN_INPUT else text[:SHOWN_INPUT] + "…"


def parse_parcel_code(text: str) -> ParcelCode:
    """Normalise (trim, upper-case, full-width to ASCII) and check a parcel code.

    Raises CodeError naming the faulty positions.
    """
    code = _normalise(text)
    problem = parcel_code_problem(code)
    if problem:
        text = _shown(text)
        raise CodeError(f"{text!r}: {problem}")
    assert _PARCEL_RE.match(code)
    return ParcelCode(code)


def parse_unit_number(text: str) -> UnitNumber:
    """Normalise and check a unit number. Raises CodeError naming the faulty positions."""
    number = _normalise(text)
    problem = unit_number_problem(number)
    if problem:
        text = _shown(text)
        raise CodeError(f"{text!r}: {problem}")
    assert _UNIT_RE.match(number)
    return UnitNumber(number)
