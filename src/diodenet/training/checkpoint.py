"""Atomic checkpoints: a crash at any moment leaves the previous one readable.

A checkpoint is one JSON file (floats are written with ``repr``, which reads
back bit-exactly). ``atomic_write_text`` writes to a temporary file in the
same directory, flushes and ``fsync``s it, then ``os.replace``s it over the
target (atomic on POSIX filesystems) and ``fsync``s the directory so the
rename itself is durable. On any failure the temporary file is removed and
the old file is untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

CHECKPOINT = "checkpoint.json"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A missing or unreadable checkpoint."""


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (temp file, fsync, os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        # a crash mid-write (or Ctrl-C) must not leave litter or touch the old file
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening directories
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def save_checkpoint(directory: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (JSON-able) as ``directory/checkpoint.json``, atomically."""
    path = Path(directory) / CHECKPOINT
    atomic_write_text(path, json.dumps({"format": FORMAT_VERSION, **state}))
    return path


def load_checkpoint(directory: str | Path) -> dict[str, Any]:
    """Read ``directory/checkpoint.json``; ``CheckpointError`` if missing or corrupt."""
    path = Path(directory) / CHECKPOINT
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no checkpoint to resume from") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc})") from exc
    if state.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: unknown checkpoint format {state.get('format')!r}")
    return state
