"""Worker processes for a sweep: instances in parallel, one writer.

The pool is made by the caller and passed to :func:`isingvar.sweep.run_sweep`,
which only calls ``imap_unordered``; the sweep's own process stays the only
writer of the result file.
"""

from __future__ import annotations

import multiprocessing
import os
import signal


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one, as under SLURM)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _init_worker(threads: int) -> None:
    # Ctrl-C reaches the whole process group; the parent handles it (commit,
    # then stop the pool).  SIGTERM keeps its default: it is how the pool
    # stops its workers, and a scheduler's SIGTERM reaches the parent too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import numba

    numba.set_num_threads(threads)


class WorkerPool:
    """``workers`` processes, each with ``cores // workers`` numba threads, started on first use.

    Processes are spawned (not forked: a fork after numba's threads have
    started is unsafe), so they start clean and load the compiled kernels from
    numba's cache.  Use as a context manager; leaving it stops the workers,
    also when the sweep was interrupted.

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
        self._pool = None

    def imap_unordered(self, func, iterable):
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")
            self._pool = ctx.Pool(self.workers, initializer=_init_worker, initargs=(self.threads,))
        return self._pool.imap_unordered(func, iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
