"""Atomic checkpoints: a crash at any moment leaves the previous one readable.

A checkpoint is one JSON file (floats are written with ``repr``, which reads
back bit-exactly). ``atomic_write_text`` writes to a temporary file in the
same directory, flushes and ``fsync``s it, then ``os.replace``s it over the
target (atomic on POSIX filesystems) and ``fsync``s the directory so the
rename itself is durable. On any failure the temporary file is removed and
the old file is untouched. A process killed inside the write leaves its
temporary ``.NAME.*.tmp`` behind: ``clean_stale_temporaries`` removes them
when the next run starts in that directory.

``load_checkpoint`` checks the file's shape, so a damaged checkpoint is one
``CheckpointError`` line naming the file and what is wrong, never a
``KeyError``/``TypeError`` later. What a trainer's checkpoint holds is a
``TrainState``; torch ``state_dict``s go in as tagged lists
(``state_to_json``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..utils.numbers import finite_numbers, is_real, is_whole

CHECKPOINT = "checkpoint.json"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A missing or unreadable checkpoint."""


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (temp file, fsync, os.replace)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # name the file asked for, not the temporary beside it
        raise OSError(f"cannot write {path}: {exc.strerror or exc}") from None
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


@contextlib.contextmanager
def run_lock(directory: str | Path) -> Iterator[None]:
    """Hold ``directory`` (which must exist) for one training run: while it is
    held, another process asking for it gets a one-line ``ValueError`` (two runs
    writing one directory interleave their metrics and checkpoints). An
    advisory ``flock`` on the directory itself: nothing is created in it, and
    the lock goes with the process however it ends."""
    directory = Path(directory)
    fd = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"{directory} is in use by another diodenet run: wait for it "
                             "to finish, or choose another --out") from None
        yield
    finally:
        os.close(fd)


def save_checkpoint(directory: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (JSON-able) as ``directory/checkpoint.json``, atomically."""
    path = Path(directory) / CHECKPOINT
    atomic_write_text(path, json.dumps({"format": FORMAT_VERSION, **state}))
    return path


#: what ``atomic_write_text`` names its temporary files (``tempfile.mkstemp``)
_TEMPORARY = re.compile(r"\..+\.[A-Za-z0-9_]{6,}\.tmp")


def clean_stale_temporaries(directory: str | Path) -> list[Path]:
    """Remove the ``.NAME.XXXXXXXX.tmp`` files that writes killed mid-way left in
    ``directory``; returns what was removed. Call it only where no other
    process is writing into ``directory``."""
    removed: list[Path] = []
    directory = Path(directory)
    if not directory.is_dir():
        return removed
    for p in directory.iterdir():
        if _TEMPORARY.fullmatch(p.name) and p.is_file() and not p.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    return removed


def read_json_object(path: str | Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path``; ``CheckpointError`` naming the file otherwise."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no {what} (not a finished diodenet train run?)") from None
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: damaged {what} (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: damaged {what} (not JSON: {exc.msg} at line "
                              f"{exc.lineno}, column {exc.colno})") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the {what}: "
                              f"{exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: damaged {what}: expected a JSON object, "
                              f"got {type(data).__name__}")
    return data




#: the fields of a checkpoint's ``state`` and what each must be
_STATE_FIELDS: dict[str, tuple[str, Any]] = {
    "epoch": ("an integer >= 0", lambda v: is_whole(v) and v >= 0),
    "theta": ("a list of finite numbers", finite_numbers),
    "opt": ("an object", lambda v: isinstance(v, dict)),
    "best_theta": ("a list of finite numbers", finite_numbers),
    "best_value": ("a number", lambda v: is_real(v) or v is None),
    "best_epoch": ("an integer", is_whole),
    "wait": ("an integer >= 0", lambda v: is_whole(v) and v >= 0),
    "stopped": ("true or false", lambda v: isinstance(v, bool)),
    "history": ("a list of objects", lambda v: isinstance(v, list)
                and all(isinstance(m, dict) for m in v)),
}


def load_checkpoint(directory: str | Path) -> dict[str, Any]:
    """Read ``directory/checkpoint.json``; ``CheckpointError`` (one line naming the
    file and what is wrong) if it is missing, not a JSON object, or of another
    format."""
    path = Path(directory) / CHECKPOINT
    data = read_json_object(path, "checkpoint")
    if data.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: unknown checkpoint format {data.get('format')!r} "
                              f"(expected {FORMAT_VERSION})")
    return data


def check_train_state(data: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """``data["state"]`` if it is shaped like the trainer's state (its fields and
    their types; ``theta`` and ``best_theta`` finite and of equal length);
    ``CheckpointError`` naming ``path`` and the field otherwise."""
    state = data.get("state")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: damaged checkpoint: 'state' must be an object, "
                              f"got {'nothing' if state is None else type(state).__name__}")
    for key, (kind, ok) in _STATE_FIELDS.items():
        if key not in state:
            raise CheckpointError(f"{path}: damaged checkpoint: 'state' has no {key!r}")
        if not ok(state[key]):
            raise CheckpointError(f"{path}: damaged checkpoint: state {key!r} must be {kind}")
    if len(state["theta"]) != len(state["best_theta"]):
        raise CheckpointError(f"{path}: damaged checkpoint: theta and best_theta differ "
                              "in length")
    return state


def state_to_json(obj: Any) -> Any:
    """A ``state_dict`` as JSON-able data (tensors as tagged lists, exact floats)."""
    if isinstance(obj, torch.Tensor):
        return {"__tensor__": obj.detach().cpu().tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, dict):
        return {"__dict__": [[state_to_json(k), state_to_json(v)] for k, v in obj.items()]}
    if isinstance(obj, list | tuple):
        return [state_to_json(v) for v in obj]
    return obj


def state_from_json(obj: Any) -> Any:
    """Inverse of ``state_to_json``."""
    if isinstance(obj, dict) and "__tensor__" in obj:
        dtype = getattr(torch, obj["dtype"].removeprefix("torch."))
        return torch.tensor(obj["__tensor__"], dtype=dtype)
    if isinstance(obj, dict) and "__dict__" in obj:
        return {state_from_json(k): state_from_json(v) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [state_from_json(v) for v in obj]
    return obj


@dataclass
class TrainState:
    """Everything a resumed run needs (what the checkpoint holds)."""

    epoch: int
    theta: np.ndarray
    opt: dict[str, Any]  # the torch optimiser's state_dict ({} before the first step)
    best_theta: np.ndarray
    best_value: float
    best_epoch: int
    wait: int
    stopped: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    scheduler: dict[str, Any] = field(default_factory=dict)  # the scheduler's state_dict

    def to_json(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch, "theta": self.theta.tolist(), "opt": state_to_json(self.opt),
            "scheduler": state_to_json(self.scheduler),
            "best_theta": self.best_theta.tolist(), "best_value": self.best_value,
            "best_epoch": self.best_epoch, "wait": self.wait, "stopped": self.stopped,
            "history": self.history,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TrainState:
        return cls(
            d["epoch"], np.array(d["theta"]), state_from_json(d["opt"]),
            np.array(d["best_theta"]), float(d["best_value"]), d["best_epoch"], d["wait"],
            d["stopped"], d["history"], state_from_json(d.get("scheduler", {})),
        )
