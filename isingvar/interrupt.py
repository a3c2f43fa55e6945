"""Ctrl-C between kernel calls, never inside one.

A SIGINT that lands while a numba kernel runs surfaces as a SystemError from
numba's internals instead of KeyboardInterrupt.  Long computations therefore
call their kernels inside :func:`deferred_interrupt` and call ``check()``
between calls, which raises KeyboardInterrupt at a clean point.
"""

import signal
import threading
from contextlib import contextmanager


@contextmanager
def deferred_interrupt():
    """Hold SIGINT until the yielded ``check()`` is called; restore the handler on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None  # signals are only delivered to the main thread
        return
    pending = []
    previous = signal.getsignal(signal.SIGINT)

    def hold(signum, frame):
        pending.append(signum)

    def check():
        if pending:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, hold)
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)
    check()
