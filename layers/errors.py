"""Errors of the OGC layer, each with its HTTP status and OGC exception code.

    LayerError                 (500 NoApplicableCode)
     ├── InvalidParameter      (400 InvalidParameterValue): a query parameter is malformed
     ├── UnsupportedCrs        (400 InvalidParameterValue): a CRS we do not publish
     ├── BadFilter             (400 InvalidParameterValue): CQL2 text we cannot read or apply
     └── NotFound              (404 NotFound): no such collection, feature or tile matrix set

Messages are written for the client and never quote database rows; the database's own
errors are logged, and the client gets a generic message (nothing personal can leak through
an error text).
"""

from __future__ import annotations

__all__ = ["LayerError", "InvalidParameter", "UnsupportedCrs", "BadFilter", "NotFound"]


class LayerError(Exception):
    status = 500
    code = "NoApplicableCode"

    def __init__(self, message: str = "the request could not be served (see the server log)"):
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, object]:
        return {"code": self.code, "type": self.code, "description": self.message}


class InvalidParameter(LayerError):
    status = 400
    code = "InvalidParameterValue"


class UnsupportedCrs(InvalidParameter):
    pass


class BadFilter(InvalidParameter):
    pass


class NotFound(LayerError):
    status = 404
    code = "NotFound"
