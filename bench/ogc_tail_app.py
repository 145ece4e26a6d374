"""The portal as `portal.app` builds it, instrumented for `bench/ogc_tail.py --app
bench.ogc_tail_app:create_app`: every garbage collection while serving is timed (gc.callbacks;
start-up's own are left out), and at exit the collections per generation with their longest and
total pause, the objects the collector still tracks and those frozen, and the OGC pools'
statistics (connections opened, requests that waited for a connection and how long), are
written to the server's log when it stops.
`UNFREEZE=1` undoes layers.ogc's gc.freeze of the start-up objects, to measure without it."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI

import portal.app

_pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
_started: list[float] = []


def _timed(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _started.append(time.perf_counter())
    elif _started:
        _pauses[info["generation"]].append(time.perf_counter() - _started.pop())


def create_app() -> FastAPI:
    app = portal.app.create_app()
    gc.callbacks.append(_timed)

    def report() -> None:
        for generation, pauses in _pauses.items():
            if pauses:
                print(f"gc gen{generation}: {len(pauses)} collections, longest "
                      f"{max(pauses) * 1000:.1f} ms, total {sum(pauses) * 1000:.0f} ms",
                      file=sys.stderr, flush=True)
        print(f"gc: {len(gc.get_objects())} objects tracked, {gc.get_freeze_count()} frozen",
              file=sys.stderr, flush=True)
        runtime = getattr(app.state, "ogc", None)
        if runtime is not None and runtime.pool is not None:
            print(f"ogc pool: {runtime.pool.get_stats()}", file=sys.stderr, flush=True)
        if runtime is not None and runtime.item_pool is not None:
            print(f"ogc item pool: {runtime.item_pool.get_stats()}", file=sys.stderr, flush=True)

    lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def reporting(app_: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app_):
            if os.environ.get("UNFREEZE") == "1":  # as before layers.ogc froze start-up objects
                gc.unfreeze()
            for pauses in _pauses.values():  # only what serving costs, not start-up's own collections
                pauses.clear()
            yield
            report()  # before the pools close

    app.router.lifespan_context = reporting
    return app
