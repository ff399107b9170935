"""Claiming an output location before any work: checked, not overwritten, locked.

The command line checks where a result will go *before* it samples (an unwritable path
used to cost the whole run), refuses to overwrite an existing result unless asked, and
holds an advisory lock on the location for the whole run, so that two processes writing
one path cannot both report success.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

try:  # POSIX; elsewhere the existence checks still apply, without the lock
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = ["OutputError", "claim_output", "with_suffix"]


class OutputError(ValueError):
    """The output location cannot be used (exists, not writable, taken by another run)."""


def with_suffix(path: Path, suffix: str) -> Path:
    """``path`` with ``suffix`` appended unless it already ends with it (as ``save`` does)."""
    return path if path.suffix == suffix else path.with_name(path.name + suffix)


def _writable_parent(path: Path) -> None:
    """The parent must be an existing directory we may create entries in.

    A missing parent is an error, not created: a mistyped directory would otherwise
    scatter results where nobody looks (as ``cp`` and ``numpy.save`` refuse too).
    """
    parent = path.parent if str(path.parent) else Path(".")
    ancestor = parent
    while not ancestor.exists():
        if ancestor.is_symlink():
            raise OutputError(f"cannot write {path}: {ancestor} is a dangling link")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"cannot write {path}: {ancestor} is not a directory")
    if ancestor != parent:
        raise OutputError(f"cannot write {path}: the directory {parent} does not exist "
                          "(create it first)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: no permission to create files in {parent}/")


def check_output(path: Path, *, force: bool, directory: bool = False) -> None:
    """Raise :class:`OutputError` unless a result may be written at ``path``."""
    if path.is_dir() and not directory:
        raise OutputError(f"{path} is a directory; give a file name")
    if directory and path.exists() and not path.is_dir():
        raise OutputError(f"{path} exists and is not a directory")
    exists = path.is_dir() and any(path.iterdir()) if directory else path.exists()
    if exists and not force:
        raise OutputError(f"{path} already exists; pass --force to overwrite it")
    _writable_parent(path)
    if exists and not os.access(path if directory else path.parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot overwrite {path}: permission denied")


@contextlib.contextmanager
def claim_output(path: Path, *, force: bool, directory: bool = False) -> Iterator[Path]:
    """Check ``path`` (see :func:`check_output`) and hold a lock on it while in the block.

    The lock is ``.<name>.lock`` next to ``path`` (flock: released by the kernel even if
    the process is killed); a second claim on the same path fails at once, before it
    does any work.
    """
    check_output(path, force=force, directory=directory)
    if fcntl is None:  # pragma: no cover
        yield path
        return
    lock = path.parent / f".{path.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # the holder before us unlinks the file when it is done: a lock on that unlinked
            # file would not exclude a third process, which locks a new file of that name
            if os.fstat(fd).st_ino != os.stat(lock).st_ino:
                raise BlockingIOError
        except (BlockingIOError, FileNotFoundError):
            raise OutputError(f"another nnqft process is writing {path}") from None
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.unlink(lock)
    finally:
        os.close(fd)
