"""The `Server-Timing: app;dur=…` header: how long the whole application took for a request.

Measured outermost of the application's layers (portal.app.PortalApp wraps the fast paths and
the whole stack in it), from the moment the request reaches it to the moment the response
starts (our responses are built in full before they start, so only the hand-over of the body
to the server is left out). It therefore counts routing, the security middlewares and the
route itself, not just the route: the benchmarks compare this figure
with the bare SQL, so it must not leave out work a request really costs. Routes may add
their own finer metrics (e.g. `db`) in another Server-Timing header.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ServerTiming"]


class ServerTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                message["headers"] = [*message.get("headers", []),
                                      (b"server-timing", b"app;dur=%.3f" % took)]
            await send(message)

        await self.app(scope, receive, timed_send)
