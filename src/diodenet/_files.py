"""Reading the files a user names: regular files only, bounded, errors that name them.

``open()`` on a FIFO blocks until something writes to it, and a device or
``/dev/zero`` never ends; a directory fails with a message that does not say
which file. ``read_text_file`` opens without blocking, refuses anything but
a regular file, bounds the size, and raises ``OSError`` with ``filename`` and
a ``strerror`` a user can act on (decoding problems included).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO


def read_file_bytes(path: str | os.PathLike[str], *, max_bytes: int | None = None) -> bytes:
    """The bytes of the regular file ``path`` (at most ``max_bytes``).

    Raises ``OSError`` (``filename`` set; ``strerror`` e.g. "not a regular file
    (a FIFO)", "larger than 50000000 bytes") for anything else, and for the
    usual open errors. The file is opened without blocking, so a FIFO is
    refused at once instead of waiting for a writer.
    """
    name = os.fspath(path)
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else
                    "a FIFO" if stat.S_ISFIFO(st.st_mode) else
                    "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                    "a socket" if stat.S_ISSOCK(st.st_mode) else "not a plain file")
            raise OSError(errno.EINVAL, f"not a regular file ({kind})", name)
        if max_bytes is not None and st.st_size > max_bytes:
            raise OSError(errno.EFBIG, f"larger than {max_bytes} bytes", name)
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            data = _read_bounded(fh, st.st_size, max_bytes)
    finally:
        if fd >= 0:
            os.close(fd)
    if max_bytes is not None and len(data) > max_bytes:
        raise OSError(errno.EFBIG, f"larger than {max_bytes} bytes", name)
    return data


def _read_bounded(fh: BinaryIO, size: int, max_bytes: int | None) -> bytes:
    """At most ``max_bytes + 1`` bytes of ``fh``, in reads sized by the file
    (``size`` from ``fstat``), not by the limit: ``read(n)`` allocates ``n``
    bytes up front, so ``read(max_bytes + 1)`` asked for a gigabyte to read a
    five-byte CSV (a MemoryError under a memory limit)."""
    limit = None if max_bytes is None else max_bytes + 1
    chunks: list[bytes] = []
    total = 0
    step = size + 1  # the whole file and its end in one read, unless it grew
    while limit is None or total < limit:
        want = step if limit is None else min(step, limit - total)
        chunk = fh.read(want)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        step = max(step, 1 << 16)
    return b"".join(chunks)


def read_text_file(
    path: str | os.PathLike[str], *, max_bytes: int | None = None, encoding: str = "utf-8",
    errors: str = "strict",
) -> str:
    """The text of the regular file ``path`` (``read_file_bytes``, decoded).
    A decoding error is an ``OSError`` too, e.g. "not utf-8 text (byte 0xff at
    offset 3); save it as UTF-8"."""
    data = read_file_bytes(path, max_bytes=max_bytes)
    try:
        return data.decode(encoding, errors)
    except UnicodeDecodeError as exc:
        bad = data[exc.start:exc.start + 1]
        raise OSError(errno.EILSEQ, f"not {encoding.removesuffix('-sig')} text (byte "
                      f"0x{bad.hex()} at offset {exc.start}); save it as UTF-8",
                      os.fspath(path)) from None


def describe(exc: OSError, fallback: str | os.PathLike[str]) -> str:
    """``FILE: problem`` for an ``OSError`` from reading a file."""
    return f"{exc.filename or Path(fallback)}: {exc.strerror or exc}"
