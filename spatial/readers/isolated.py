"""`read_isolated`: `read_parcels` in a worker process with CPU-time, memory and file-size limits.

An uploaded file is untrusted input to large C libraries (GDAL, PROJ, SQLite, expat) and to our
own readers. Read in the app's process, a file that loops, balloons or crashes a library would
take the app with it; read here, it costs one short-lived worker:

- each read runs in a fresh process forked from a forkserver that has `spatial.readers`
  imported (so GDAL is already restricted, see `spatial.readers._gdal`, and a fork is cheap);
- the worker sets RLIMIT_CPU, RLIMIT_AS (memory) and RLIMIT_FSIZE (no file it writes, such as an
  unpacked archive member, may grow past the unpacked-bytes limit) before it reads anything;
- the caller waits at most `wall_seconds`, then kills it;
- a worker that runs out of CPU time or memory, or dies, becomes a LimitError or ReadError
  naming the limit; the parsed result, or the reader's own SpatialError, comes back pickled.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
import resource
import signal
import threading
from collections.abc import Callable
from multiprocessing import forkserver, popen_forkserver, process, reduction, spawn, util
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext, set_spawning_popen
from pathlib import Path
from typing import Any

from spatial.errors import LimitError, ReadError, SpatialError
from spatial.model import ReadResult
from spatial.readers.limits import ReadLimits

__all__ = ["read_isolated", "run_isolated"]

log = logging.getLogger(__name__)

_context: BaseContext | None = None
_context_lock = threading.Lock()


class _Popen(popen_forkserver.Popen):
    """The forkserver's Popen, except that the worker does not import the parent's __main__
    again (an app's entry script, or pytest's, has no business running in a reader)."""

    def _launch(self, process_obj: process.BaseProcess) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)  # type: ignore[attr-defined]
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)  # type: ignore[attr-defined]
        parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (parent_w, self.sentinel))  # type: ignore[attr-defined]
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _Worker(process.BaseProcess):
    _start_method = "forkserver"

    @staticmethod
    def _Popen(process_obj: process.BaseProcess) -> _Popen:  # noqa: N802 - multiprocessing's name
        return _Popen(process_obj)


def _ctx() -> BaseContext:
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["spatial.readers", "spatial.readers.isolated"])
            _context = context
        return _context


def _mib(n: int) -> str:
    return f"{n / 1024**2:,.0f} MiB"


def _limit_self(limits: ReadLimits) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 2))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    biggest = limits.max_unpacked_bytes + 64 * 1024**2
    resource.setrlimit(resource.RLIMIT_FSIZE, (biggest, biggest))
    # A write past RLIMIT_FSIZE then fails with EFBIG (an OSError) instead of killing us.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


_EXIT_MEMORY = 86  # the worker ran out of memory (it may not have enough left to say so otherwise)


def _read(path: str, options: dict[str, Any], limits: ReadLimits) -> ReadResult:
    from spatial.readers import read_parcels

    return read_parcels(path, limits=limits, **options)


def _work(conn: Connection, target: Callable[..., Any], args: tuple[Any, ...], limits: ReadLimits) -> None:
    try:
        _limit_self(limits)
        outcome: tuple[str, Any] = ("ok", target(*args))
    except SpatialError as exc:
        outcome = ("error", exc)
    except MemoryError:
        os._exit(_EXIT_MEMORY)
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent as a refusal
        outcome = ("crash", f"{type(exc).__name__}")
    try:
        conn.send(outcome)
    except MemoryError:
        os._exit(_EXIT_MEMORY)
    conn.close()


def read_isolated(
    path: str | Path,
    *,
    crs: int | None = None,
    layers: list[str] | None = None,
    filename: str | None = None,
    limits: ReadLimits | None = None,
) -> ReadResult:
    """`spatial.readers.read_parcels` in a limited worker process; same arguments, same result,
    same SpatialError on a bad file, and LimitError when the file exceeds a limit."""
    limits = limits or ReadLimits()
    name = filename or Path(path).name
    options = {"crs": crs, "layers": layers, "filename": name}
    result: ReadResult = run_isolated(_read, (str(path), options, limits), limits=limits, name=name)
    return result


def run_isolated(target: Callable[..., Any], args: tuple[Any, ...], *, limits: ReadLimits, name: str) -> Any:
    """`target(*args)` in a limited worker process (the same as `read_isolated`'s): its return
    value, or the SpatialError it raised; LimitError when it exceeds a limit, ReadError when the
    worker dies. `target` must be a module-level function and `args` picklable; `name` names the
    file in the errors."""
    context = _ctx()
    receiver, sender = context.Pipe(duplex=False)
    worker = _Worker(target=_work, args=(sender, target, args, limits), daemon=True, name="spatial-read")
    worker.start()
    sender.close()
    stopped = False
    try:
        if not receiver.poll(limits.wall_seconds):
            stopped = True
            raise LimitError(f"the file took more than {limits.wall_seconds} s to read (read time limit); "
                             "it was stopped", file=name)
        try:
            status, value = receiver.recv()
        except (EOFError, OSError):
            status, value = "died", None
    finally:
        receiver.close()
        worker.join(0 if stopped else 5)
        if worker.is_alive():
            stopped = True
            worker.kill()
            worker.join(5)
    if status == "ok":
        return value
    if status == "error":
        raise value
    code = worker.exitcode
    if code == _EXIT_MEMORY:
        raise LimitError(f"reading the file needs more than {_mib(limits.memory_bytes)} of memory (read "
                         "memory limit)", file=name)
    if code == -signal.SIGXCPU or (code == -signal.SIGKILL and not stopped):
        raise LimitError(f"the file took more than {limits.cpu_seconds} s of processor time to read (read "
                         "CPU limit); it was stopped", file=name)
    log.warning("reading %s ended the worker: status %s, exit code %s, %s", name, status, code, value)
    raise ReadError(f"the file could not be read: the reader stopped ({value or f'exit code {code}'}), which "
                    f"happens when a file needs more than {_mib(limits.memory_bytes)} of memory or is damaged",
                    file=name)
