"""Waiting on another process: poll a marker the other side writes, with a generous deadline.

Tests never sleep a fixed time and then assert that the other side got somewhere: how long it takes
depends on the machine and its load.  The interval below is only how often the marker is looked at.
"""

import time

#: Seconds to wait for a marker before failing: far beyond any normal run, so only a hang fails.
DEADLINE = 120.0


def wait_for(condition, what, *, proc=None, timeout=DEADLINE, interval=0.01):
    """Return once ``condition()`` is true; fail naming ``what`` after ``timeout`` seconds, or at once
    if ``proc`` (a ``subprocess.Popen``) exits first (with its stderr, where it was piped)."""
    t = time.monotonic()
    while not condition():
        if proc is not None and proc.poll() is not None:
            stderr = proc.stderr.read() if proc.stderr is not None else ""
            raise AssertionError(f"the process exited ({proc.returncode}) before {what}\n{stderr}")
        if time.monotonic() - t > timeout:
            raise AssertionError(f"no sign after {timeout:g} s that {what}")
        time.sleep(interval)
