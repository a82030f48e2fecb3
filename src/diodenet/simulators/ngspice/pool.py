"""Where ngspice tasks run: in this process, in a persistent pool of worker
processes (each with its own libngspice), or on any ``concurrent.futures.Executor``
(for example a Dask cluster's ``client.get_executor()``).

All runners share one contract: ``run(tasks, on_done) -> results in task order``,
where ``on_done(rows)`` is called as chunks finish (for progress bars).

Failure handling:

* an ngspice error in a worker comes back as the same :class:`NgspiceError`;
* a worker that dies (killed, segfault) raises :class:`NgspiceWorkerError`; the
  pool is rebuilt, so the next call works with fresh workers;
* a batch in which no chunk finishes for ``chunk_timeout`` seconds (a worker
  stopped or hung: a chunk of 1000 operating points takes well under a second)
  raises :class:`NgspiceWorkerError` too, after killing the workers;
* Ctrl-C (or any other exception while waiting) ends the workers before it
  propagates, so no orphan or zombie processes remain. Workers
  ignore SIGINT themselves; the parent ends them. Two ways a Ctrl-C could hang
  the process are closed: while the pool waits, Ctrl-C only sets a flag that
  the wait loop reads (a ``KeyboardInterrupt`` raised inside
  ``concurrent.futures.wait`` while it holds a future's lock leaves the
  executor's manager thread blocked on that lock), and the chunks under way
  finish before the workers exit (a worker killed while it writes its reply
  leaves a partial message the manager thread waits on forever).
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from .engine import Task, run_task, worker_initializer
from .errors import NgspiceError

Result = tuple[dict, int]

#: Seconds a batch may go without any chunk finishing before the pool gives up.
DEFAULT_CHUNK_TIMEOUT = 600.0

#: Seconds between checks for Ctrl-C while the pool waits for chunks.
_POLL_S = 0.1

#: Seconds the chunks under way get to finish after Ctrl-C before their workers are killed.
STOP_GRACE_S = 10.0


@contextmanager
def _sigint_as_flag() -> Iterator[threading.Event]:
    """While inside, Ctrl-C sets the yielded event instead of raising; leaving
    normally with the event set raises ``KeyboardInterrupt`` then.

    Only Python's default handler is replaced, and only in the main thread (the
    one place a handler can be installed); anywhere else the event never fires
    and SIGINT behaves as before. The previous handler is always restored.
    """
    flag = threading.Event()
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield flag
        return
    signal.signal(signal.SIGINT, lambda signum, frame: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # a Ctrl-C after the body's last look at the flag is not lost on the way out
    if flag.is_set():
        raise KeyboardInterrupt


def _as_completed(
    futures: Iterable[Future], interrupted: threading.Event, stall_timeout: float | None = None
) -> Iterator[Future]:
    """Yield ``futures`` as they finish, like ``concurrent.futures.as_completed``,
    but raise ``KeyboardInterrupt`` at a safe point once ``interrupted`` is set, and
    ``TimeoutError`` when none finishes for ``stall_timeout`` seconds."""
    pending = set(futures)
    last_done = time.monotonic()
    while pending:
        done, pending = wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
        if interrupted.is_set():
            raise KeyboardInterrupt
        if done:
            last_done = time.monotonic()
        elif stall_timeout is not None and time.monotonic() - last_done > stall_timeout:
            raise TimeoutError(f"no task finished for {stall_timeout:g} s")
        yield from done


def _all_done(out: list[Result | None]) -> list[Result]:
    """The results in task order; a task without one is an error, never a gap."""
    missing = [k for k, r in enumerate(out) if r is None]
    if missing:
        raise NgspiceWorkerError(f"no result for task(s) {missing}")
    return [r for r in out if r is not None]


class NgspiceWorkerError(NgspiceError):
    """A worker process died or its executor failed; the batch is lost, the pool is not."""


def _rows(task: Task) -> int:
    return len(task.inputs)


class InProcessRunner:
    """Runs tasks in this process (its one libngspice).

    libngspice cannot be unloaded, so this runner cannot recycle; its memory
    grows by about 1 KB per *analysis*. A sweep solves a whole chunk in one
    analysis, so a million operating points cost about a thousand analyses.
    """

    workers = 1

    def run(self, tasks: Sequence[Task], on_done: Callable[[int], None]) -> list[Result]:
        out = []
        for task in tasks:
            out.append(run_task(task))
            on_done(_rows(task))
        return out

    def close(self) -> None:
        pass


class NgspicePool:
    """A persistent pool of ``workers`` processes, each with its own libngspice.

    The pool is recycled (all workers replaced) once it has solved
    ``recycle_after * workers`` rows, against ngspice's slow memory growth.
    Workers start with ``forkserver`` (never ``fork``: a forked copy of a loaded
    libngspice is not safe to use). ``chunk_timeout`` (seconds): when no chunk
    of a batch finishes for that long, the workers are killed and the batch
    raises :class:`NgspiceWorkerError` (the pool restarts on the next call).
    """

    def __init__(
        self, workers: int, *, recycle_after: int = 200_000, start_method: str | None = None,
        chunk_timeout: float = DEFAULT_CHUNK_TIMEOUT,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if recycle_after < 1:
            raise ValueError(f"recycle_after must be >= 1, got {recycle_after}")
        if not chunk_timeout > 0:
            raise ValueError(f"chunk_timeout must be > 0 seconds, got {chunk_timeout}")
        self.chunk_timeout = float(chunk_timeout)
        self.workers = workers
        self.recycle_after = recycle_after
        methods = mp.get_all_start_methods()
        self.start_method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
        self._executor: ProcessPoolExecutor | None = None
        self._rows_done = 0
        self.restarts = 0

    def _ensure(self) -> ProcessPoolExecutor:
        if self._executor is not None and self._rows_done >= self.recycle_after * self.workers:
            self._shutdown(terminate=False)
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=mp.get_context(self.start_method),
                initializer=worker_initializer,
            )
            self._rows_done = 0
            self.restarts += 1
        return self._executor

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for tests and diagnostics)."""
        ex = self._executor
        procs = getattr(ex, "_processes", None) or {}
        return [p.pid for p in procs.values() if p.is_alive()]

    def run(self, tasks: Sequence[Task], on_done: Callable[[int], None]) -> list[Result]:
        ex = self._ensure()
        futures: dict[Future, int] = {}
        try:
            with _sigint_as_flag() as interrupted:
                try:
                    for k, task in enumerate(tasks):
                        futures[ex.submit(run_task, task)] = k
                    out: list[Result | None] = [None] * len(tasks)
                    for fut in _as_completed(futures, interrupted, self.chunk_timeout):
                        k = futures[fut]
                        out[k] = fut.result()
                        self._rows_done += _rows(tasks[k])
                        on_done(_rows(tasks[k]))
                except KeyboardInterrupt:
                    self._stop(futures)
                    raise
            return _all_done(out)
        except TimeoutError as exc:
            self._shutdown(terminate=True, kill=True)
            raise NgspiceWorkerError(
                f"no ngspice chunk finished for {self.chunk_timeout:g} s (a worker is "
                "stopped or hung); the workers were killed and the pool will restart, "
                "retry the batch"
            ) from exc
        except BrokenProcessPool as exc:
            self._shutdown(terminate=True)
            raise NgspiceWorkerError(
                "an ngspice worker process died during the batch (killed or crashed); "
                "the pool has been restarted, retry the batch"
            ) from exc
        except NgspiceError:
            for fut in futures:
                fut.cancel()
            raise
        except BaseException:
            # Ctrl-C (stopped already) or anything else: end the workers first
            self._stop(futures)
            raise

    def _stop(self, futures: Iterable[Future]) -> None:
        """End the workers on Ctrl-C without killing one mid-reply.

        A worker killed while it writes a chunk's result leaves a partial
        message in the result pipe, which the executor's manager thread (and so
        its shutdown, and the interpreter's exit) then waits on forever. So the
        queued chunks are cancelled, the ones under way (a fraction of a second
        each) finish, and the workers exit on the executor's own shutdown; only
        workers still busy after ``STOP_GRACE_S`` are killed.
        """
        if self._executor is None:
            return
        with _sigint_as_flag():  # a Ctrl-C meanwhile must not land inside wait()
            running = [f for f in futures if not f.cancel()]
            wait(running, timeout=STOP_GRACE_S)
            self._shutdown(terminate=not all(f.done() for f in running), kill=True)

    def _shutdown(self, *, terminate: bool, kill: bool = False) -> None:
        ex, self._executor = self._executor, None
        if ex is None:
            return
        procs = list((getattr(ex, "_processes", None) or {}).values())
        if terminate:
            for p in procs:
                if p.is_alive():
                    # SIGKILL for a stopped worker, which would never act on SIGTERM
                    p.kill() if kill else p.terminate()
        ex.shutdown(wait=True, cancel_futures=True)
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)

    def close(self) -> None:
        self._shutdown(terminate=False)


class ExecutorRunner:
    """Runs tasks on a caller's ``concurrent.futures.Executor`` (not owned: never shut
    down here). Each worker process of that executor keeps its own libngspice.

    For a Dask cluster: ``client = distributed.Client(...)``;
    ``NgspiceSimulator(circuit, executor=client.get_executor())``. Workers must be
    processes (``threads_per_worker=1``), since libngspice is one instance per process.
    """

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.workers = getattr(executor, "_max_workers", None) or 2

    def run(self, tasks: Sequence[Task], on_done: Callable[[int], None]) -> list[Result]:
        futures = {self.executor.submit(run_task, t): k for k, t in enumerate(tasks)}
        out: list[Result | None] = [None] * len(tasks)
        try:
            with _sigint_as_flag() as interrupted:
                for fut in _as_completed(futures, interrupted):
                    k = futures[fut]
                    try:
                        out[k] = fut.result()
                    except (NgspiceError, ValueError):
                        raise
                    except Exception as exc:
                        raise NgspiceWorkerError(
                            "the executor failed to run an ngspice task: "
                            f"{type(exc).__name__}: {exc}"
                        ) from exc
                    on_done(_rows(tasks[k]))
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
        return _all_done(out)

    def close(self) -> None:
        pass
