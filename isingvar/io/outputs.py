"""Atomic outputs: every file isingvar writes (result, merged file, plot, exported model) is written by
:func:`replace_atomically` while :func:`hold_output` holds an exclusive lock on a hidden file beside it.

One writer per output, readers never locked out, only regular files replaced, links followed
(:func:`check_output`), and temporary files of killed runs removed by the next run.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: outputs are written unlocked
    fcntl = None

from ..errors import IsingvarError, OutputBusyError, OutputExistsError, OutputPathError, OutputWriteError


def _fsync_dir(folder):
    # make the rename itself durable; not every platform allows opening a folder
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------------ writing outputs
#: Outputs this process holds: resolved path -> _Held.
_HELD: dict = {}
#: Hidden names beside an output are kept this short (file names are limited to 255 bytes).
_MAX_SIDE_NAME = 200


@dataclass
class _Held:
    target: Path  # the file written: the output with symbolic links followed
    folder_id: tuple  # (st_dev, st_ino) of its folder when the lock was taken
    lock: Path
    fd: int


def _target(path) -> Path:
    """``path`` with symbolic links followed: a linked output is written at its target, the link kept."""
    return Path(os.path.realpath(path))


def _side_prefix(target: Path) -> str:
    """Start of the hidden names beside ``target``: ``.NAME``, or a shortened NAME plus a hash when long."""
    name = target.name
    if len(name.encode()) > _MAX_SIDE_NAME - 40:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        name = name.encode()[:_MAX_SIDE_NAME - 60].decode(errors="ignore") + "~" + digest
    return "." + name


def temp_path(target: Path, pid: int | None = None) -> Path:
    """The temporary file of ``target`` written by process ``pid``: ``.NAME.PID.tmp`` plus NAME's suffix.

    The suffix is kept for writers that choose a format by it; a NAME too long
    for that is shortened (see :func:`_side_prefix`), so any valid output name works.

    Parameters
    ----------
    target : str or os.PathLike
        The output file.
    pid : int or None
        The writing process; None: this one.

    Returns
    -------
    pathlib.Path
        The temporary file, beside ``target``.
    """
    target = Path(target)
    suffix = target.suffix if len(target.suffix) <= 16 else ""
    return target.with_name(f"{_side_prefix(target)}.{os.getpid() if pid is None else pid}.tmp{suffix}")


def _stale_temps(target: Path) -> list:
    """Temporary files of ``target`` in its folder (``.NAME.PID.tmp`` with or without a suffix)."""
    pattern = re.compile(re.escape(_side_prefix(target)) + r"\.\d+\.tmp(\.[^.]*)?")
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    return [target.parent / n for n in names if pattern.fullmatch(n)]


@contextmanager
def hold_output(path):
    """Hold the output ``path`` for writing by this process; yield the file to write (links followed).

    Creates the folder if needed, then takes an exclusive ``flock`` on the
    hidden file ``.NAME.lock`` beside the output, held until the block ends:
    another process holding it makes this raise at once.  The kernel releases
    the lock when its holder dies (even by ``kill -9``), so no stale lock can
    block a later run; the lock file is removed on exit, and a leftover one is
    reused.  Holding the lock, it removes temporary files of the output left
    by killed runs (:func:`temp_path`), and records the folder's identity,
    which every commit checks (:func:`replace_atomically`).  On a file system
    without ``flock`` the output is written unlocked.

    Parameters
    ----------
    path : str or os.PathLike
        The output file.

    Yields
    ------
    pathlib.Path
        The file to write (symbolic links followed).

    Raises
    ------
    OutputBusyError
        If another process (or this one) holds the output; exit code 75.
    OutputExistsError, OutputPathError
        If the output is a directory or not a regular file, or its folder
        cannot be created or written.
    """
    check_output(path, overwrite=True)  # never a directory, device or fifo, whatever the caller checked
    target = _target(path)
    key = str(target)
    if key in _HELD:
        raise OutputBusyError(f"{path} is already being written by this process; write to another file")
    folder = target.parent
    named = Path(path).parent if folder == _target(Path(path).parent) else folder  # as the user wrote it
    where = f"give --out in a writable folder (it writes {path})"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputPathError(f"cannot create the folder {str(named)!r}: {e.strerror}; {where}") from None
    lock = Path(f"{target.parent}/{_side_prefix(target)}.lock")
    fd = _lock(lock, path, named, where)
    try:
        st = os.stat(folder)
        for tmp in _stale_temps(target):  # we hold the lock: every one is a leftover of a killed run
            try:
                tmp.unlink()
            except OSError:
                pass
        _HELD[key] = _Held(target, (st.st_dev, st.st_ino), lock, fd)
        try:
            yield target
        finally:
            del _HELD[key]
            try:
                lock.unlink()  # still locked: a run that opened it meanwhile sees it is gone and retries
            except OSError:
                pass
    finally:
        os.close(fd)


def _lock(lock: Path, path, named: Path, where: str) -> int:
    """Open and flock ``lock``; return its descriptor (see :func:`hold_output`)."""
    while True:
        try:
            # read-only: a descriptor open for writing would make a `mount -o remount,ro` fail as busy
            fd = os.open(lock, os.O_RDONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as e:
            raise OutputPathError(f"cannot write in the folder {str(named)!r}: {e.strerror}; {where}") from None
        if fcntl is None:
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            except OSError:
                holder = ""
            os.close(fd)
            raise OutputBusyError(
                f"{path} is being written by another isingvar process{f' (pid {holder})' if holder else ''}; "
                "wait until it ends (then rerun) or choose another output"
            ) from None
        except OSError:
            return fd  # no flock on this file system (some network mounts): write unlocked
        try:
            current = os.stat(lock)
            mine = os.fstat(fd)
            same = (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino)
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the previous holder removed the file we locked: lock the one now at that name
    try:
        lock.write_text(f"{os.getpid()}\n")
    except OSError:
        pass  # the pid is only for the message of a refused run
    return fd


def replace_atomically(path, write) -> Path:
    """Write the output ``path`` through ``write(tmp)`` and rename ``tmp`` over it; return the file written.

    ``write`` writes the whole new content to the path ``tmp`` (:func:`temp_path`,
    beside the output, same suffix); it is flushed to disk and renamed over the
    output, so the output is at every instant the old or the new file.  A
    symbolic link is followed: its target is replaced and the link kept.
    Takes :func:`hold_output` for the call unless this process holds it; a held
    output's folder must be the one it was when the lock was taken (a file
    system unmounted or a folder replaced meanwhile stops the write rather
    than putting the file elsewhere).  Errors that name ``tmp`` are re-raised
    naming ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The output file.
    write : callable(tmp)
        Writes the whole new content to the path ``tmp`` (a pathlib.Path).

    Returns
    -------
    pathlib.Path
        The file written (a link's target).

    Raises
    ------
    OutputWriteError
        If the folder changed or writing fails (disk full, read-only file
        system, ...); exit code 75.  The previous output is intact and the
        temporary file removed.
    """
    held = _HELD.get(str(_target(path)))
    if held is None:
        with hold_output(path):
            return replace_atomically(path, write)
    target = held.target
    tmp = temp_path(target)
    try:
        st = os.stat(target.parent)
        if (st.st_dev, st.st_ino) != held.folder_id:
            raise FileNotFoundError
    except FileNotFoundError:
        raise OutputWriteError(
            f"the folder of {path} is no longer the one the run started in (file system unmounted, or the folder "
            "removed or replaced); nothing was written there: restore it and rerun"
        ) from None
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as e:
        raise OutputWriteError(
            f"cannot write {path}: {e.strerror or e} (errno {errno.errorcode.get(e.errno, e.errno)}); "
            "the previous file is kept (free space or fix the file system first)"
        ) from None
    except IsingvarError as e:
        if str(tmp) not in str(e):
            raise
        raise type(e)(str(e).replace(str(tmp), str(path))) from None
    finally:
        try:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        except OSError:
            pass  # e.g. the file system turned read-only: the next run removes it
    _fsync_dir(target.parent)
    return target


def check_output(path, overwrite: bool, inputs=()) -> None:
    """Raise unless ``path`` may be written as an output (symbolic links followed).

    Parameters
    ----------
    path : str or os.PathLike
        The output file.
    overwrite : bool
        Whether an existing regular file may be replaced.
    inputs : iterable of str or os.PathLike
        The command's input files, which the output must not be.

    Raises
    ------
    OutputExistsError
        If ``path`` is a directory, or exists and ``overwrite`` is false.
    OutputPathError
        If ``path`` is one of ``inputs`` (same file, also through links), or
        exists and is not a regular file (a device such as /dev/full, a fifo):
        only regular files are replaced.
    """
    path = Path(path)
    for p in inputs:
        if same_file(path, p):
            raise OutputPathError(f"output {str(path)!r} is the input {str(p)!r}; write to another file")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise OutputPathError(f"cannot use output {str(path)!r}: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise OutputExistsError(f"output {str(path)!r} is a directory; give a file name ending in .h5")
    if not stat.S_ISREG(st.st_mode):
        raise OutputPathError(
            f"output {str(path)!r} is not a regular file (a device, fifo or socket); only regular files are "
            "replaced: choose another output file"
        )
    if not overwrite:
        raise OutputExistsError(f"output file {str(path)!r} exists; pass --overwrite to replace it or choose another --out")


def same_file(a, b) -> bool:
    """Whether paths ``a`` and ``b`` name one file (links and ``..`` resolved; hard links too when both exist).

    Parameters
    ----------
    a, b : str or os.PathLike
        The paths.

    Returns
    -------
    bool
        True for one file.
    """
    try:
        return os.path.samefile(a, b)
    except OSError:
        return _target(a) == _target(b)
