"""Heavy work of one user at once, per app process: reading an upload (survey files, archive
scans, digitisation scans), rendering a page of a scan, warping a scan. One user cannot hold
every worker process (each may take gigabytes); more is refused with 429 `uploads_at_once`
and Retry-After, or for page renders (a viewer asks for many thumbnails together) waited for
a little first.

    with slots_of(request).slot(user_key(principal), limit): ...            # refuse at once
    async with slots_of(request).waiting(user_key(principal), limit, 10.0): ...  # wait up to 10 s

The limit is `SurveySettings.uploads_at_once_per_user` (CADASTRE_SURVEY_UPLOADS_AT_ONCE_PER_USER).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from portal.platform.errors import Limited
from portal.platform.state import app_state

__all__ = ["Slots", "UploadsAtOnce", "slots_of", "user_key"]


class UploadsAtOnce(Limited):
    """As many of the user's uploads as they may have read at once are being read (429): one
    user cannot hold every reader."""

    code = "uploads_at_once"

    @classmethod
    def of(cls, limit: int) -> UploadsAtOnce:
        return cls(f"{limit} of your uploads are being read already (uploads at once per user); wait for them to "
                   "finish, then upload again", retry_after=5)

    @classmethod
    def working(cls, limit: int) -> UploadsAtOnce:
        return cls(f"{limit} of your scans are being read, rendered or warped already (uploads at once per user); "
                   "wait for them to finish, then try again", retry_after=5)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Slots:
    """Heavy work being done per user in this app process (a counter under a lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_user: Counter[str] = Counter()

    def _take(self, user: str, limit: int) -> bool:
        with self.lock:
            if self.by_user[user] >= limit:
                return False
            self.by_user[user] += 1
            return True

    def _give_back(self, user: str) -> None:
        with self.lock:
            self.by_user[user] -= 1

    @contextmanager
    def slot(self, user: str, limit: int, refusal: UploadsAtOnce | None = None) -> Iterator[None]:
        """Hold one of `user`'s `limit` slots; UploadsAtOnce (429) when all are held."""
        if not self._take(user, limit):
            raise refusal or UploadsAtOnce.of(limit)
        try:
            yield
        finally:
            self._give_back(user)

    @asynccontextmanager
    async def waiting(self, user: str, limit: int, seconds: float,
                      refusal: Limited | None = None) -> AsyncIterator[None]:
        """Hold one of `user`'s slots, waiting up to `seconds` for one to be free (without
        holding a thread); `refusal` (default UploadsAtOnce, 429) after that."""
        deadline = time.monotonic() + seconds
        while not self._take(user, limit):
            if time.monotonic() >= deadline:
                raise refusal or UploadsAtOnce.working(limit)
            await asyncio.sleep(0.05)
        try:
            yield
        finally:
            self._give_back(user)


def slots_of(request: Any) -> Slots:
    """The app's one `Slots` (made on first use), shared by every room."""
    return app_state(request, "slots", Slots)


def user_key(principal: Any) -> str:
    """Whose slots: the user's id, else their label (a machine client, a session)."""
    return str(getattr(principal, "user_id", None) or getattr(principal, "label", ""))
