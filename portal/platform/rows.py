"""Rows of statements that always return one."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["one_row"]

_Row = TypeVar("_Row")


def one_row(row: _Row | None) -> _Row:
    """The row of a statement that always returns one (INSERT ... RETURNING, SELECT now(),
    SELECT EXISTS ...): psycopg types every fetchone() as maybe None."""
    assert row is not None, "the statement returned no row"
    return row
