"""Atomic file writes: a reader sees the old file or the new one, never a part.

Every writer of the tool goes through here. The new content goes to a temporary
file in the destination's folder (same file system, so ``os.replace`` is an
atomic rename), is flushed and fsync'ed, then renamed over the destination. On
any failure (full disk, size limit, interrupt) the temporary file is removed and
the destination is left exactly as it was.

``append_text`` keeps that promise for appends: it copies the old content and
the new rows into a temporary file and renames it, so earlier rows are never
damaged by a write that stops half-way. It holds an exclusive lock on the
destination's folder (``flock``, no lock file left behind) from reading the old
content to the rename, so processes appending to one file at once lose no row.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from typing import Callable, Iterator

from .errors import UsageError


class WriteError(UsageError):
    """A file could not be written; the message names the path. Exit 2."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return str(exc) or type(exc).__name__


def _tmp_in(folder: str, name: str) -> tuple[int, str]:
    # keep the extension last: savefig picks the format from it
    return tempfile.mkstemp(prefix=f".{name}.", suffix=f".tmp{os.path.splitext(name)[1]}",
                            dir=folder)


def _keep_mode(path: str, tmp: str) -> None:
    """The new file gets the old one's permission bits (mkstemp makes 0600)."""
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)


@contextlib.contextmanager
def atomic_path(path: str, what: str = "", make_dirs: bool = False) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on a clean exit it replaces ``path``.

    The caller (or a library such as matplotlib's ``savefig``) writes the whole
    content to the yielded path. ``what`` prefixes the error message (e.g.
    ``--output``); ``make_dirs`` creates missing folders first. Raises
    :class:`WriteError` naming ``path`` on failure.
    """
    label = f"{what} '{path}'" if what else f"'{path}'"
    path = os.path.realpath(os.fspath(path))   # through a symlink to the file it names
    if os.path.isdir(path):
        raise WriteError(f"cannot write {label}: it is a directory")
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        if make_dirs:
            os.makedirs(folder, exist_ok=True)
        elif not os.path.isdir(folder):
            raise WriteError(f"cannot write {label}: no such folder '{folder}'")
        fd, tmp = _tmp_in(folder, os.path.basename(path))
        os.close(fd)
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        _keep_mode(path, tmp)
        os.replace(tmp, path)
        tmp = None
    except WriteError:
        raise
    except (OSError, ValueError) as e:
        raise WriteError(f"cannot write {label}: {_describe(e)}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_bytes(path: str, data: bytes, what: str = "", make_dirs: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    if _is_device(path):
        _write_device(path, data, what)
        return
    with atomic_path(path, what, make_dirs) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()


def write_text(path: str, text: str, what: str = "", make_dirs: bool = False) -> None:
    """Write ``text`` (UTF-8, newlines kept as given) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"), what, make_dirs)


def append_text(path: str, text: str, what: str = "", header: str = "") -> None:
    """Append ``text`` to ``path`` by copy + append + rename: earlier content is
    never damaged, and a reader never sees half a row. ``header`` is written first
    when the file is missing or empty (decided under the lock, so two processes
    starting one file write it once)."""
    if _is_device(path):
        _write_device(path, (header + text).encode("utf-8"), what)
        return
    label = f"{what} '{path}'" if what else f"'{path}'"
    with _folder_lock(os.path.dirname(os.path.abspath(os.path.realpath(path))), label):
        with atomic_path(path, what) as tmp:
            with open(tmp, "wb") as out:
                if os.path.exists(path):
                    with open(path, "rb") as old:
                        shutil.copyfileobj(old, out)
                if out.tell() == 0:
                    out.write(header.encode("utf-8"))
                out.write(text.encode("utf-8"))
                out.flush()


@contextlib.contextmanager
def _folder_lock(folder: str, label: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``folder`` for the block; released when the
    descriptor closes (also when the process dies). No-op where there is no fcntl."""
    try:
        import fcntl
    except ImportError:      # pragma: no cover - Windows
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as e:
        raise WriteError(f"cannot write {label}: {_describe(e)}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:      # a file system without flock: append unlocked
            pass
        yield
    finally:
        os.close(fd)


def writable_folder(folder: str, what: str) -> str:
    """Create ``folder`` if needed and prove a file can be made in it (a temporary
    file, removed at once); returns it. Anything in the way (a file, /dev/full, a
    read-only folder) is a :class:`WriteError` naming ``what`` and the folder."""
    label = f"{what} '{folder}'" if what else f"'{folder}'"
    path = os.path.abspath(os.fspath(folder))
    if os.path.exists(path) and not os.path.isdir(path):
        raise WriteError(f"cannot write {label}: it is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise WriteError(f"cannot write {label}: {_describe(e)}") from None
    return folder


def save_with(path: str, save: Callable[[str], None], what: str = "",
              make_dirs: bool = True) -> None:
    """Let ``save(tmp_path)`` write a file (e.g. ``fig.savefig``), then rename it
    over ``path``."""
    with atomic_path(path, what, make_dirs) as tmp:
        save(tmp)


def _is_device(path: str) -> bool:
    """/dev/null, /dev/stdout, a FIFO: not a regular file, cannot be renamed over."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode)


def _write_device(path: str, data: bytes, what: str) -> None:
    label = f"{what} '{path}'" if what else f"'{path}'"
    try:
        with open(path, "wb") as fh:
            fh.write(data)
            fh.flush()
    except OSError as e:
        raise WriteError(f"cannot write {label}: {_describe(e)}") from None
