"""The registration guide as data: one entry per kind of registration, in Chinese and English.

Staff change it with `cadastre guide export FILE` / `cadastre guide import FILE` or the
/guide/edit page; both go through `replace_guide`, which checks every entry first and then
replaces the whole guide in one transaction, so a bad file changes nothing.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from psycopg import AsyncConnection
from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from portal.guide import store
from portal.platform.errors import CadastreError

__all__ = ["GuideEntry", "GuideError", "load_guide", "replace_guide", "parse_guide", "dump_guide"]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Lines = Annotated[list[Text], Field(min_length=1, max_length=40)]

_COLUMNS = store.COLUMNS


class GuideError(CadastreError, ValueError):
    """The guide given is not acceptable; the message names the entry and the field."""

    status = 422
    code = "invalid_guide"


class GuideEntry(BaseModel):
    """One kind of registration: its steps, documents, fees and time limit (working days)."""

    kind: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,40}$")]
    position: int = Field(ge=1, le=999)
    title_zh: Text
    title_en: Text
    summary_zh: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""
    summary_en: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""
    steps_zh: Lines
    steps_en: Lines
    documents_zh: Lines
    documents_en: Lines
    fees_zh: Text
    fees_en: Text
    time_limit_days: int = Field(ge=1, le=60)

    @field_validator("kind", mode="before")
    @classmethod
    def _kind_lowercase(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value


_ENTRIES = TypeAdapter(list[GuideEntry])


def _describe(error: ValidationError, entries: list[Any] | None) -> str:
    problems = []
    for item in error.errors()[:8]:
        location = list(item["loc"])
        where = ""
        index = location[0] if location else None
        if isinstance(index, int):
            location.pop(0)
            entry = entries[index] if entries else None
            kind = entry.get("kind") if isinstance(entry, dict) else None
            where = f"entry {index + 1}" + (f" ({kind})" if kind else "") + ": "
        field = ".".join(str(part) for part in location)
        problems.append(f"{where}{field or 'value'}: {item['msg']}")
    return "; ".join(problems)


def parse_guide(data: Any) -> list[GuideEntry]:
    """Check a whole guide (a list of entries). Raises GuideError naming each problem."""
    if not isinstance(data, list) or not data:
        raise GuideError("the guide must be a non-empty list of entries")
    try:
        entries = _ENTRIES.validate_python(data)
    except ValidationError as error:
        raise GuideError(_describe(error, data)) from error
    for attribute in ("kind", "position"):
        values = [getattr(entry, attribute) for entry in entries]
        duplicates = sorted({str(v) for v in values if values.count(v) > 1})
        if duplicates:
            raise GuideError(f"two entries share the {attribute} {', '.join(duplicates)}")
    return sorted(entries, key=lambda entry: entry.position)


def dump_guide(entries: list[GuideEntry]) -> str:
    data = [entry.model_dump() for entry in entries]
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


async def load_guide(conn: AsyncConnection) -> list[GuideEntry]:
    return [GuideEntry.model_validate(row) for row in await store.entries(conn)]


async def replace_guide(conn: AsyncConnection, entries: list[GuideEntry], editor: str) -> None:
    """Replace the whole guide in one transaction (the caller's connection may be autocommit)."""
    await store.replace_entries(conn, [[getattr(entry, c) for c in _COLUMNS] for entry in entries], editor)
