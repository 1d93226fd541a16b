"""File helpers shared by the package: atomic writes and sha256 of a file."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["open_atomic", "sha256_file", "write_atomic"]


@contextlib.contextmanager
def open_atomic(
    target: str | os.PathLike[str], *, new_file_mode: int = 0o644
) -> Iterator[IO[bytes]]:
    """Open ``target`` for writing so that readers see the old file or the whole new one.

    Yields a binary handle on a temporary file beside ``target`` (parent directories
    are created); on success it is flushed, synced and renamed into place, keeping the
    replaced file's mode (else ``new_file_mode``), and the directory is synced; on any
    error the temporary file is removed and ``target`` is untouched.

    Examples
    --------
    >>> with open_atomic("out/table.parquet") as fh:  # doctest: +SKIP
    ...     frame.write_parquet(fh)
    """
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600: keep the replaced file's mode, else 0644 (reports and
        # models are meant to be read by others)
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = new_file_mode
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_atomic(
    target: str | os.PathLike[str], data: bytes, *, new_file_mode: int = 0o644
) -> Path:
    """Write ``data`` to ``target`` so that readers see the old file or the whole new one.

    Parameters
    ----------
    target
        Destination; parent directories are created.
    data
        File content.
    new_file_mode
        Mode of a file that did not exist (a replaced file keeps its mode); 0600 for
        files that may hold secrets.

    Returns
    -------
    Path
        The destination.
    """
    with open_atomic(target, new_file_mode=new_file_mode) as handle:
        handle.write(data)
    return Path(target)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
