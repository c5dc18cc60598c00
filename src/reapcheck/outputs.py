"""Output files: checked before the work, written whole or not at all, named in every error.

Each regular file is written to a temporary name in its directory and renamed into
place only after every file of the set is written, so a failure (a full disk, a bad
twin path) leaves no partial file and no half of a pair. A target that exists and is
not a regular file (/dev/stdout, /dev/full, a FIFO) is written directly. Errors are
OSErrors carrying the file name (the CLI prints `reapcheck: FILE: reason`, exit 2).
"""
from __future__ import annotations

import errno
import os
import sys
import stat
import tempfile


def _fail(path: str, code: int, reason: str | None = None):
    return OSError(code, reason or os.strerror(code), path)


def _special(path: str) -> bool:
    """An existing target that is not a regular file (a device, a FIFO)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def check_file(path: str) -> None:
    """Can `path` be written as a file? Raise the OSError the write would, before work."""
    if os.path.isdir(path):
        raise _fail(path, errno.EISDIR)
    if _special(path):
        if not os.access(path, os.W_OK):
            raise _fail(path, errno.EACCES)
        return
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise _fail(path, errno.ENOENT, f"no such directory: {parent}")
    if not os.access(parent, os.W_OK | os.X_OK) or (os.path.exists(path)
                                                    and not os.access(path, os.W_OK)):
        raise _fail(path, errno.EACCES)


def check_directory(path: str) -> None:
    """Can `path` be used (or created) as an output directory? Raise before work."""
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise _fail(path, errno.ENOTDIR, "exists and is not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise _fail(path, errno.EACCES)
        return
    parent = os.path.dirname(os.path.normpath(path)) or "."
    if not os.path.isdir(parent):
        raise _fail(path, errno.ENOENT, f"no such directory: {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _fail(path, errno.EACCES)


def write_files(files: list[tuple[str, str | bytes]]) -> None:
    """Write every (path, text or bytes): all regular files appear together, or none does."""
    staged: list[tuple[str, str]] = []  # (temporary name, final path)
    try:
        for path, text in files:
            if _special(path):
                _write_direct(path, text)
                continue
            staged.append((_write_temporary(path, text), path))
        for temporary, path in staged:
            try:
                os.replace(temporary, path)
            except OSError as err:
                raise _fail(path, err.errno or errno.EIO, err.strerror) from None
        staged = []
    finally:
        for temporary, _ in staged:
            try:
                os.unlink(temporary)
            except OSError:
                pass


def write_file(path: str, text: str) -> None:
    write_files([(path, text)])


def emit(path: str | None, text: str) -> None:
    """`text` to the file `path` (written as write_file does), or to stdout without one."""
    if path:
        write_file(path, text)
    else:
        sys.stdout.write(text)


def _write_temporary(path: str, text: str) -> str:
    directory, name = os.path.split(path)
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")
    except OSError as err:
        raise _fail(path, err.errno or errno.EIO, err.strerror) from None
    try:
        with os.fdopen(fd, *_mode(text)) as f:
            f.write(text)
        os.chmod(temporary, 0o666 & ~_umask())
    except OSError as err:
        os.unlink(temporary)
        raise _fail(path, err.errno or errno.EIO, err.strerror) from None
    return temporary


def _write_direct(path: str, text: str) -> None:
    try:
        with open(path, *_mode(text)) as f:
            f.write(text)
    except OSError as err:
        raise _fail(path, err.errno or errno.EIO, err.strerror) from None


def _mode(text: str | bytes) -> tuple:
    """open() mode and encoding: bytes are written as they are, text as UTF-8."""
    return ("wb",) if isinstance(text, bytes) else ("w", -1, "utf-8")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
