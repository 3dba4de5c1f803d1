"""Atomic file writes: readers see the old file or the whole new one, never half of it.

The data goes to a temporary file in the destination's folder (so ``os.replace`` is a
rename on one file system), is flushed and fsynced, then renamed over the destination;
the folder is fsynced so the rename survives a power cut. If anything fails on the way,
the temporary file is removed and the destination is left as it was.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

_counter = itertools.count()
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def write_bytes(path: Path, data: bytes | Iterable[bytes]) -> Path:
    """Atomically replace ``path`` with ``data`` (bytes, or chunks consumed as they come)."""
    chunks = [data] if isinstance(data, bytes | bytearray | memoryview) else data
    with atomic_open(path) as handle:
        for chunk in chunks:
            handle.write(chunk)
    return path


def write_text(path: Path, text: str | Iterable[str], *, encoding: str = "utf-8") -> Path:
    """Atomically replace ``path`` with ``text`` (a string, or pieces consumed as they come)."""
    pieces = [text] if isinstance(text, str) else text
    return write_bytes(path, (piece.encode(encoding) for piece in pieces))


@contextlib.contextmanager
def atomic_open(path: Path) -> Iterator[BinaryIO]:
    """A binary file whose content replaces ``path`` only when the ``with`` block ends cleanly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp, fd = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    _sync_folder(path.parent)


def _create_temp(path: Path) -> tuple[Path, int]:
    # os.open with the default mode lets the umask decide permissions, as for a plain open();
    # mkstemp would leave the report readable by its owner only.
    while True:
        temp = path.with_name(f".{path.name}.{os.getpid()}-{next(_counter)}.tmp")
        try:
            return temp, os.open(temp, _CREATE_FLAGS, 0o666)
        except FileExistsError:
            continue


def _sync_folder(folder: Path) -> None:
    if os.name != "posix":
        return  # Windows cannot open a directory for fsync; its rename is durable enough
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
