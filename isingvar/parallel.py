"""Worker processes for a sweep: instances in parallel, one writer.

The pool is made by the caller and passed to :func:`isingvar.sweep.run_sweep`,
which only calls ``imap_unordered``; the sweep's own process stays the only
writer of the result file.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from .errors import WorkerDied


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one, as under SLURM)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _init_worker(threads: int) -> None:
    # Ctrl-C reaches the whole process group; the parent handles it (commit,
    # then stop the workers).  SIGTERM keeps its default: it is how the pool
    # stops its workers, and a scheduler's SIGTERM reaches the parent too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import numba

    numba.set_num_threads(threads)


class WorkerPool:
    """``workers`` processes, each with ``cores // workers`` numba threads, started on first use.

    Processes are spawned (not forked: a fork after numba's threads have
    started is unsafe), so they start clean and load the compiled kernels from
    numba's cache.  A concurrent.futures pool, so that a worker killed from
    outside (out of memory) raises :class:`isingvar.errors.WorkerDied` instead
    of leaving its task waited for forever.  Use as a context manager; leaving
    it stops the workers at once, also when the sweep was interrupted.

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

    def imap_unordered(self, func, iterable):
        """Results of ``func`` over ``iterable`` as they complete (a generator)."""
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(self.threads,),
            )
        futures = [self._executor.submit(func, item) for item in iterable]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BrokenProcessPool:
            raise WorkerDied() from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._executor is not None:
            # concurrent.futures cannot cancel a running task; stop its process (CPython keeps them here)
            for process in list((getattr(self._executor, "_processes", None) or {}).values()):
                process.terminate()
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
