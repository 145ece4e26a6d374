"""The hottest public read (a vector tile) on a short stack of the same protections.

A cold z16 tile is one query of about 0.7 ms (bench/ogc.py, 1,000,000 parcels). Through the
whole application (FastAPI's and Starlette's own layers, our middlewares and the router's walk)
a tile request spent 0.17-0.20 ms before it reached its route when the process came back from
an idle with its CPU caches cold (12 us when warm: the cost is cache misses, a few for every
object each layer touches). `FastPaths` sits in front of the whole application (inside only
the Server-Timing layer, which times both ways): a GET that one of its routes matches in full,
and that declares no body, goes straight to a short stack built from the *same* middleware
classes with the *same* arguments, keeping the ones that change a tile's answer; every other
request goes through the whole application unchanged. Measured with two servers side by side,
900 cold z16 tiles paired: 0.81 -> 0.76 ms at the server (6 % less).

`FastPaths.build` is told, for every middleware of the application, whether the short stack
keeps it or why a fast route does not need it; a middleware it is not told about stops the
build (a new protection is never skipped silently). An exception becomes the answer
the application's own handler for it gives (the handler of its nearest class, as Starlette's
`ExceptionMiddleware` looks one up), so a fast route fails as it would in the whole stack (503
when the database is away, the one 500 for a bug).

Shape of the request handed to a fast route: the route's own `path_params` and `endpoint`
(`Route.matches`, the router's matching), `scope["app"]` as the application set it; no
`router`. HEAD, any request with `Content-Length` or `Transfer-Encoding`, a server with a root
path (`--root-path`), paths the routes do not match in full and any the matching cannot read
take the long way (tests/platform/test_fast_paths.py compares both ways, answer for answer).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from starlette.middleware import Middleware
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from portal.platform.middleware import AnswerExceptions

__all__ = ["FastPaths", "check_classified"]

_BODY_HEADERS = (b"content-length", b"transfer-encoding")


class FastPaths:
    """ASGI: GETs matched in full by `routes` to their short stacks, the rest to `app`."""

    def __init__(self, app: ASGIApp, fast: Sequence[tuple[Route, ASGIApp]]) -> None:
        self.app = app
        self.fast = tuple(fast)
        # The routes' common literal beginning: most requests are told apart by it alone.
        self.prefix = os.path.commonprefix([route.path for route, _ in self.fast]).partition("{")[0]

    @classmethod
    def build(cls, app: ASGIApp, routes: Iterable[Route], middleware: Sequence[Middleware],
              keep: Iterable[type], skip: Mapping[type, str],
              handlers: Mapping[Any, Any]) -> FastPaths:
        """`app` (the whole stack) with `routes` on short stacks of `middleware` (outermost
        first, as `Starlette.user_middleware`) reduced to the classes in `keep`, around
        `AnswerExceptions(route.app, handlers)`. Raises ValueError naming a middleware class
        that is neither in `keep` nor in `skip` (class -> why a fast route does not need it)."""
        keep = tuple(keep)
        check_classified(middleware, keep, skip)
        kept_classes: tuple[object, ...] = keep
        kept = [m for m in middleware if m.cls in kept_classes]
        fast = []
        for route in routes:
            stack: ASGIApp = AnswerExceptions(route.app, handlers)
            for m in reversed(kept):
                stack = m.cls(stack, *m.args, **m.kwargs)
            fast.append((route, stack))
        return cls(app, fast)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path")
                and scope["path"].startswith(self.prefix)):
            for route, stack in self.fast:
                try:
                    match, child = route.matches(scope)
                except Exception:  # noqa: BLE001 - whatever matching cannot read, the whole stack answers
                    break
                if match is Match.FULL:
                    for name, _ in scope["headers"]:
                        if name in _BODY_HEADERS:
                            break
                    else:
                        scope.update(child)
                        await stack(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)


def check_classified(middleware: Sequence[Middleware], keep: Iterable[type], skip: Mapping[type, str]) -> None:
    """Raises ValueError naming every class of `middleware` that is neither in `keep` nor in
    `skip`: the fast paths must be told whether each protection applies to them."""
    classified: tuple[object, ...] = (*keep, *skip)
    unknown = [getattr(m.cls, "__name__", repr(m.cls)) for m in middleware if m.cls not in classified]
    if unknown:
        raise ValueError(f"middleware {', '.join(unknown)}: say whether the fast paths keep it "
                         "(FAST_PATHS_KEEP or FAST_PATHS_SKIP in portal.app)")
