"""Exception classes.  Each message states the cause and what to change.

The CLI maps every :class:`IsingvarError` to a one-line message on stderr and
the exit code in its ``exit_code`` attribute.
"""


class IsingvarError(Exception):
    """Base class for every error isingvar raises on bad input."""

    exit_code = 2


class ModelError(IsingvarError, ValueError):
    """Couplings or fields that do not define a valid Ising model."""


class UnknownModelError(IsingvarError, ValueError):
    """A model family name that isingvar does not know."""


class ModelParameterError(IsingvarError, ValueError):
    """A missing, extra or out-of-range parameter of a model family."""


class CouplingsFileError(IsingvarError, ValueError):
    """A couplings file that is missing, unreadable or malformed."""


class RangeSpecError(IsingvarError, ValueError):
    """A malformed grid specification such as ``0.1:3:60``."""


class GridError(IsingvarError, ValueError):
    """A grid whose values are not allowed (negative beta, duplicates)."""


class TooLargeError(IsingvarError, ValueError):
    """A computation that would take too long without ``force=True``."""


class OutputExistsError(IsingvarError, FileExistsError):
    """An output file that exists and was not allowed to be overwritten."""


class ResultFileError(IsingvarError, ValueError):
    """A file that is not an isingvar result file."""


class OutputPathError(IsingvarError, ValueError):
    """An output that may not be written: not a regular file, one of the inputs, or in an unwritable folder."""


class OutputBusyError(IsingvarError):
    """An output that another process is writing (its lock is held); exit 75: try again when that run ends."""

    exit_code = 75


class OutputWriteError(IsingvarError):
    """Writing an output failed (disk full, file system read-only or gone); the previous file is intact.

    ``exit_code`` is 75 (try again): the cause is the environment, and the
    output is at its last good commit, so the same command (with ``--resume``
    for a sweep) continues once the cause is fixed.
    """

    exit_code = 75


class NonFiniteResultError(IsingvarError, ArithmeticError):
    """A computed value that is NaN or infinite where a number is expected (a numerical failure)."""


class CertificateError(IsingvarError, RuntimeError):
    """A certified bound whose certificate failed: the decomposition behind it (TRW's tree list, its
    components) does not reproduce the model, so the bound is not reported.  The message says what
    failed and what to change in one line.  A RuntimeError too, as these failures were before.
    """


class ConfigFileError(IsingvarError, ValueError):
    """A ``--config`` TOML file that is missing, malformed or names an unknown option."""


class SettingsError(ModelParameterError, ConfigFileError):
    """A method setting (``--<method>-<setting>``, key ``<setting>`` of a ``[<method>]`` table of
    ``--config``) that the method does not have, of the wrong type, out of its declared range
    (:func:`isingvar.methods.base.setting`), or given for a method the sweep does not run.

    The one class of every settings error: :func:`isingvar.methods.make_settings` raises it whatever
    check refused the value.  It is a :class:`ModelParameterError` and a :class:`ConfigFileError`, so
    code that caught either for a bad setting still does.
    """


class ConfigMismatchError(IsingvarError, ValueError):
    """A resume or merge whose files and command do not describe one sweep."""


class ShardError(IsingvarError, ValueError):
    """A ``--shard`` specification that is malformed or cannot be resolved."""


class SweepInterrupted(IsingvarError):
    """A sweep stopped (SIGINT, SIGTERM, a worker killed) after committing its finished instances.

    ``exit_code`` is 75 (EX_TEMPFAIL: try again), the convention for a job
    that can be resumed.

    Parameters
    ----------
    path : path-like
        The result file the finished instances are saved in.
    done : int
        Instances saved.
    total : int
        Instances of the sweep (or of its shard).
    reason : str
        What stopped it, the start of the message ("interrupted").
    """

    exit_code = 75

    def __init__(self, path, done: int, total: int, reason: str = "interrupted"):
        self.path, self.done, self.total = path, done, total
        super().__init__(f"{reason}; {done} of {total} instances are saved in {path}")


class WorkerDied(IsingvarError):
    """A worker process of ``--workers`` died, killed from outside (e.g. for lack of memory)."""

    exit_code = 75

    def __init__(self):
        super().__init__("a worker process was killed (out of memory? fewer --workers need less)")
