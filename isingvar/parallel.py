"""Worker processes for a sweep: instances in parallel, one writer.

The pool is made by the caller and passed to :func:`isingvar.sweep.run_sweep`,
which only calls ``imap_unordered``; the sweep's own process stays the only
writer of the result file.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from .errors import WorkerDied


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one, as under SLURM).

    Returns
    -------
    int
        The number of cores, >= 1.
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def kernel_threads(work: float, parts: int, min_work: float, available: int) -> int:
    """Threads for one call of a parallel (prange) kernel: 1 means run it serially.

    As many as ``available``, but no more than the call's independent ``parts``
    (chunks, mean-field runs) and none with less than ``min_work`` of the
    call's ``work`` (in the kernel's own unit).  A parallel region costs a
    wake-up and a barrier; on an idle machine that is microseconds, but with
    another process on a core a thread may wait a scheduler time slice
    (milliseconds) to run, so tiny calls made parallel stalled: the default
    sweep took 13 s instead of 0.8 s with one core taken (docs/performance.md).

    Parameters
    ----------
    work : float
        The call's work, in the kernel's own unit.
    parts : int
        The call's independent parts (chunks, mean-field runs).
    min_work : float
        The least work per thread, in the same unit as ``work``.
    available : int
        Threads available.

    Returns
    -------
    int
        min(available, parts, work // min_work), at least 1.
    """
    return int(max(1, min(available, parts, work // min_work)))


@contextmanager
def numba_threads(threads: int):
    """Run the block's numba parallel kernels on ``threads`` threads (this thread's setting; restored on exit).

    With one thread a parallel region runs on the calling thread alone: no
    other thread is woken or waited for.

    Parameters
    ----------
    threads : int
        Threads wanted; clipped to 1..``numba.config.NUMBA_NUM_THREADS``.
    """
    import numba

    before = numba.get_num_threads()
    threads = max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))
    if threads == before:
        yield
        return
    numba.set_num_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(before)


#: Seconds between progress messages a worker sends (a kernel reports far more often).
PROGRESS_INTERVAL = 0.5

_progress_queue = None  # in a worker: where progress goes (inherited at spawn)


#: Seconds between a worker's checks that its parent is alive (where the OS cannot be asked to tell it).
PARENT_POLL = 0.5


def _die_with_parent(parent: int, kernel_signal: bool = True) -> None:
    """End this worker when process ``parent`` is gone (a kill -9 of the sweep left its workers computing).

    With ``kernel_signal``, on Linux, the kernel sends SIGKILL when the parent
    exits (prctl PR_SET_PDEATHSIG).  It fires when the parent's *thread* that
    started this process ends, so the pool asks for it only when its workers
    are started from the main thread (which lives as long as the process);
    concurrent.futures starts spawned workers from the thread that submits.
    Everywhere, also a daemon thread that exits the process, within
    :data:`PARENT_POLL` seconds, once it has been re-parented.
    """
    if kernel_signal and sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no libc: the thread below still watches
            pass
    if os.getppid() != parent:  # died before the prctl took effect
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os._exit(1)

    threading.Thread(target=watch, name="isingvar-parent-watch", daemon=True).start()


def _init_worker(threads: int, progress_queue, parent: int | None = None, from_main_thread: bool = False) -> None:
    # Ctrl-C reaches the whole process group; the parent handles it (commit,
    # then stop the workers).  SIGTERM keeps its default: it is how the pool
    # stops its workers, and a scheduler's SIGTERM reaches the parent too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        _die_with_parent(parent, kernel_signal=from_main_thread)
    global _progress_queue
    _progress_queue = progress_queue
    import numba

    numba.set_num_threads(threads)


class _Forward:
    """progress(step, label) in a worker: summed and sent to the parent at most every PROGRESS_INTERVAL.

    Messages carry the task's number; the task's result carries the total it
    reported, so the parent can account for what is still in the queue when
    the result arrives (the two travel on different pipes, in no fixed order).
    """

    def __init__(self, task: int):
        self.task, self.total = task, 0.0
        self.step, self.label, self.last = 0.0, "", time.monotonic()

    def __call__(self, step, label):
        self.step += step
        self.total += step
        self.label = label
        if time.monotonic() - self.last >= PROGRESS_INTERVAL:
            self.flush()

    def flush(self):
        if self.step and _progress_queue is not None:
            _progress_queue.put((self.task, self.step, self.label))
        self.step, self.last = 0.0, time.monotonic()


def _call_with_progress(func, task, item):
    """(func(item, report), task, total progress reported, last label)."""
    forward = _Forward(task)
    result = func(item, forward)
    return result, task, forward.total, forward.label


class WorkerPool:
    """``workers`` processes, each with ``cores // workers`` numba threads, started on first use.

    Processes are spawned (not forked: a fork after numba's threads have
    started is unsafe), so they start clean and load the compiled kernels from
    numba's cache.  A concurrent.futures pool, so that a worker killed from
    outside (out of memory) raises :class:`isingvar.errors.WorkerDied` instead
    of leaving its task waited for forever.  Use as a context manager; leaving
    it stops the workers at once, also when the sweep was interrupted.  Workers
    also end when this process dies without leaving it (``kill -9``): see
    :func:`_die_with_parent`.

    Parameters
    ----------
    workers : int, optional
        Worker processes, >= 1; default ``cores``.
    cores : int, optional
        Cores to share among the workers; default :func:`available_cores`.

    Raises
    ------
    ValueError
        If ``workers`` < 1.
    """

    def __init__(self, workers: int | None = None, cores: int | None = None):
        self.cores = cores or available_cores()
        self.workers = self.cores if workers is None else int(workers)
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        self.threads = max(1, self.cores // self.workers)
        self._executor = None
        self._queue = None

    def imap_unordered(self, func, iterable, progress=None):
        """Results of ``func(item, report)`` over ``iterable`` as they complete (a generator).

        ``report(step, label)``, called in the worker, reaches ``progress(step,
        label)`` here, in this process, a few times a second.

        Parameters
        ----------
        func : callable(item, report)
            Picklable function run in a worker on each item.
        iterable : iterable
            The items; each is a task of its own.
        progress : callable(step, label), optional
            Receives the workers' progress reports.

        Yields
        ------
        object
            ``func(item, report)`` of each item, in the order they complete.

        Raises
        ------
        WorkerDied
            If a worker process ended abnormally (killed from outside, out of memory).
        """
        if self._executor is None:
            ctx = multiprocessing.get_context("spawn")
            self._queue = ctx.Queue()
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=ctx, initializer=_init_worker,
                initargs=(self.threads, self._queue, os.getpid(), threading.current_thread() is threading.main_thread()),
            )
        pending = {self._executor.submit(_call_with_progress, func, task, item) for task, item in enumerate(iterable)}
        received: dict[int, float] = {}  # progress arrived per running task; None once its result is in
        try:
            while pending:
                finished, pending = wait(pending, timeout=PROGRESS_INTERVAL, return_when=FIRST_COMPLETED)
                self._drain(progress, received)
                for future in finished:
                    result, task, total, label = future.result()
                    rest = total - received.get(task, 0.0)
                    received[task] = None  # later messages of this task are already counted here
                    if progress and rest:
                        progress(rest, label)
                    yield result
        except BrokenProcessPool:
            raise WorkerDied() from None

    def _drain(self, progress, received):
        while True:
            try:
                task, step, label = self._queue.get_nowait()
            except queue.Empty:
                return
            if received.get(task, 0.0) is None:
                continue
            received[task] = received.get(task, 0.0) + step
            if progress:
                progress(step, label)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._executor is not None:
            # concurrent.futures cannot cancel a running task; stop its process (CPython keeps them here)
            for process in list((getattr(self._executor, "_processes", None) or {}).values()):
                process.terminate()
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
            self._queue.close()
