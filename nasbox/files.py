"""Writing files that other processes read: atomically, and under a lock where several write.

Every file nasbox writes for others to read (tables, report pages, genotypes, checkpoints,
caches shared by concurrent workers) goes through :func:`atomic_write`: the content is
written to a temporary file beside the target, flushed to disk, and renamed over it, so a
reader sees the old file or the new one, never half of one, and a crash or a full disk
leaves the old file as it was. A write that fails for a full disk (or quota) raises
:class:`~nasbox.errors.DiskFullError`, one line naming the file, after removing its temporary file.
A file that several processes *update* (the latency lookup
table, the zoo cache) is read, merged and replaced by :func:`update_file`, under a lock
file (``filelock``) beside it, so that no writer loses another's entries.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from nasbox.errors import DiskFullError

__all__ = ["LOCK_TIMEOUT_S", "atomic_write", "cache_dir", "disk_full", "is_disk_full", "locked", "update_file"]

#: how long a writer waits for another one's lock before giving up (seconds)
LOCK_TIMEOUT_S = 120.0

Content = str | bytes | Callable[[Path], None]
_UMASK = os.umask(0o022)  # read once (os.umask can only be read by setting it) and put back
os.umask(_UMASK)
_FULL = (errno.ENOSPC, errno.EDQUOT)
#: a write that failed where less than this is free failed for the disk (writers that hide the errno)
_NEARLY_FULL_BYTES = 1 << 20


def is_disk_full(exc: BaseException, folder: str | Path | None = None) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a full disk or quota.

    Some writers hide the errno (``torch.save`` raises a ``RuntimeError`` about a stream position); for
    those, a failure in ``folder`` while less than 1 MiB is free there counts as a full disk.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DiskFullError) or (isinstance(seen, OSError) and seen.errno in _FULL):
            return True
        seen = seen.__cause__ or seen.__context__
    if folder is None:
        return False
    try:
        stat = os.statvfs(folder)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < _NEARLY_FULL_BYTES


def disk_full(path: str | Path, what: str = "") -> DiskFullError:
    """The one-line error of a write to ``path`` that found its disk full."""
    return DiskFullError(errno.ENOSPC, f"no space left on the disk of {path}{' (' + what + ')' if what else ''}: free "
                                       "some space and run the same command again (nothing written before was lost)")


def atomic_write(path: str | Path, content: Content, *, encoding: str = "utf-8") -> Path:
    """Replace ``path`` with ``content`` in one step.

    Args:
        path: the file to write (its folder is created if needed).
        content: text, bytes, or ``write(tmp_path)``, a function that writes the file
            itself (``torch.save``, ``DataFrame.to_csv``, a download).
        encoding: the encoding of text content.

    Returns:
        ``path``.

    Raises:
        DiskFullError: the disk (or quota) is full; ``path`` is left as it was and the temporary
            file is removed.
        OSError: the folder is not writable; likewise.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(path) from exc
        raise
    _replace(path, Path(name), fd, content, encoding)
    return path


def _replace(path: Path, tmp: Path, fd: int, content: Content, encoding: str) -> None:
    try:
        if callable(content):
            os.close(fd)
            fd = -1
            content(tmp)
            fd = os.open(tmp, os.O_RDWR)
        else:
            data = content.encode(encoding) if isinstance(content, str) else content
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except Exception as exc:  # judged while the temporary file still takes its space
        if isinstance(exc, DiskFullError) or not is_disk_full(exc, path.parent if callable(content) else None):
            raise
        raise disk_full(path) from exc
    finally:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def locked(path: str | Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the lock file ``<path>.lock`` (one writer at a time, across processes)."""
    from filelock import FileLock  # here: it costs 0.1 s to import, which nasbox --help does not pay

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_name(path.name + ".lock")), timeout=timeout):
        yield


def update_file(path: str | Path, update: Callable[[str | None], str], *, timeout: float = LOCK_TIMEOUT_S) -> str:
    """Read ``path``, let ``update(old_text or None)`` merge into it, and replace it, under its lock.

    Returns:
        The text written.
    """
    path = Path(path)
    with locked(path, timeout):
        try:
            old = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            old = None
        new = update(old)
        atomic_write(path, new)
    return new


def cache_dir() -> Path:
    """Where nasbox keeps what it measures once per machine: ``$NASBOX_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/nasbox``, else ``~/.cache/nasbox``."""
    if os.environ.get("NASBOX_CACHE_DIR"):
        return Path(os.environ["NASBOX_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nasbox"
