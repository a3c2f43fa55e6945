"""Ctrl-C and SIGTERM between kernel calls and file commits, never inside one.

A SIGINT that lands while a numba kernel runs surfaces as a SystemError from
numba's internals instead of KeyboardInterrupt, and a signal in the middle of
a file commit would leave the work of that commit undone.  Long computations
and commits therefore run inside :func:`deferred_interrupt`, which holds
SIGINT and SIGTERM (what a batch scheduler sends before it kills a job) and
raises KeyboardInterrupt for either at the next ``check()`` or on exit.
"""

import signal
import threading
from contextlib import contextmanager

HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def deferred_interrupt():
    """Hold SIGINT and SIGTERM until the yielded ``check()`` is called; restore the handlers on exit.

    ``check()`` (and leaving the block) raises KeyboardInterrupt if either
    signal arrived meanwhile.  Only signals with a Python handler are held: one
    left to the default action (SIGTERM, unless :func:`terminate_as_interrupt`)
    still ends the process at once, which the atomic commits make safe, and an
    ignored one stays ignored (worker processes).
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None  # signals are only delivered to the main thread
        return
    pending = []
    previous = {s: h for s in HELD_SIGNALS if callable(h := signal.getsignal(s))}

    def hold(signum, frame):
        """Signal handler: remember the signal, to be raised at the next :func:`check`.

        Parameters
        ----------
        signum : int
            The signal number.
        frame : frame or None
            The interrupted stack frame (unused).
        """
        pending.append(signum)

    def check():
        """Raise KeyboardInterrupt if a signal arrived since the block began (an interrupt point)."""
        if pending:
            raise KeyboardInterrupt

    for s in previous:
        signal.signal(s, hold)
    try:
        yield check
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    check()


@contextmanager
def terminate_as_interrupt():
    """Within the block, SIGTERM raises KeyboardInterrupt like Ctrl-C does.

    For a process that wants a scheduler's SIGTERM to stop it as cleanly as
    Ctrl-C (commit, then exit); the previous handler is restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        """Signal handler: stop as Ctrl-C does.

        Parameters
        ----------
        signum : int
            The signal number.
        frame : frame or None
            The interrupted stack frame (unused).

        Raises
        ------
        KeyboardInterrupt
            Always.
        """
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
