"""The app's shared objects made on first use (`app.state.<name>`): per-user slots, the archive,
tile renderers, view-audit throttles. Routes run in the event loop and in worker threads, so the
first use is made under one lock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["app_state"]

T = TypeVar("T")
_lock = threading.Lock()


def app_state(request: Any, name: str, make: Callable[[], T]) -> T:
    """`request.app.state.<name>`, made by `make()` the first time any request asks."""
    with _lock:
        found: T | None = getattr(request.app.state, name, None)
        if found is None:
            found = make()
            setattr(request.app.state, name, found)
        return found
