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
import math
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..utils.numbers import finite_numbers, is_real, is_whole
from .conductances import outside

if TYPE_CHECKING:
    from .trainer import Trainer

CHECKPOINT = "checkpoint.json"
CONFIG = "config.json"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A missing or unreadable checkpoint."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: what a new file's permissions would be under the process's umask (read once:
#: setting it to read it is not thread-safe)
_NEW_FILE_MODE = 0o666 & ~_umask()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (temp file, fsync, os.replace).
    The file keeps its permissions, or gets a new file's (``mkstemp`` makes its
    temporary 0600, which would hide a shared run's files from its readers)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # name the file asked for, not the temporary beside it
        raise OSError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        try:
            mode = path.stat().st_mode & 0o777
        except OSError:
            mode = _NEW_FILE_MODE
        with os.fdopen(fd, "w") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.replace(tmp, path)
        except OSError as exc:  # a directory in its place, say: name the file asked for
            raise OSError(f"cannot write {path}: {exc.strerror or exc}") from None
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
        except OSError:
            pass  # a filesystem without flock: run unguarded rather than not at all
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
    "history": ("a list of objects with an epoch number", lambda v: isinstance(v, list)
                and all(isinstance(m, dict) and is_whole(m.get("epoch")) for m in v)),
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
    if state["best_epoch"] < -1:
        raise CheckpointError(f"{path}: damaged checkpoint: state 'best_epoch' must be -1 "
                              "(none yet) or an epoch")
    return state


def check_optimizer_state(state: dict[str, Any], n: int, path: str | Path) -> None:
    """``state``'s (``check_train_state``'s) optimiser and scheduler states read
    back, are shaped like torch's, and every per-parameter tensor has the ``n``
    values of θ (a shorter one made the fused Adam kernel read past its end: a
    segmentation fault, not an error); ``CheckpointError`` naming ``path``."""
    try:
        opt, sched = state_from_json(state["opt"]), state_from_json(state.get("scheduler", {}))
    except (AttributeError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: damaged checkpoint: its optimiser state does not "
                              f"read back ({type(exc).__name__}: {exc})") from None

    def damaged(what: str) -> CheckpointError:
        return CheckpointError(f"{path}: damaged checkpoint: {what}")

    if not isinstance(sched, dict):
        raise damaged("the scheduler state must be an object")
    if not isinstance(opt, dict):
        raise damaged("the optimiser state must be an object")
    if not opt:
        return  # before the first step
    groups, per_param = opt.get("param_groups"), opt.get("state")
    if not (isinstance(groups, list) and all(isinstance(g, dict) for g in groups)
            and isinstance(per_param, dict)):
        raise damaged("the optimiser state needs 'state' and a list of 'param_groups'")
    for entry in per_param.values():
        if not isinstance(entry, dict):
            raise damaged("a parameter's optimiser state must be an object")
        for key, value in entry.items():
            if isinstance(value, torch.Tensor) and value.ndim > 0 \
                    and (tuple(value.shape) != (n,) or not value.is_floating_point()):
                raise damaged(f"optimiser state {key!r} has shape {tuple(value.shape)} "
                              f"({value.dtype}); theta has {n} values")


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
            # strict JSON: no epoch monitored yet is null, not Infinity
            "best_theta": self.best_theta.tolist(),
            "best_value": self.best_value if math.isfinite(self.best_value) else None,
            "best_epoch": self.best_epoch, "wait": self.wait, "stopped": self.stopped,
            "history": self.history,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TrainState:
        return cls(
            d["epoch"], np.array(d["theta"]), state_from_json(d["opt"]),
            np.array(d["best_theta"]),
            math.inf if d["best_value"] is None else float(d["best_value"]),
            d["best_epoch"], d["wait"],
            d["stopped"], d["history"], state_from_json(d.get("scheduler", {})),
        )


def check_resumable(out: Path, trainer: Trainer) -> TrainState:
    """``out``'s checkpoint as the ``TrainState`` to resume from, if ``trainer``
    can continue it: trained with its settings, of its network, its parameters
    in range, its optimiser and schedule restorable; one-line
    ``CheckpointError`` naming the file otherwise."""
    path = out / CHECKPOINT
    data = load_checkpoint(out)
    state = check_train_state(data, path)
    # the settings it was trained with are the run's: config.json edited since
    # (or a checkpoint from another run) would continue a different experiment
    saved, now = data.get("config"), json.loads(json.dumps(asdict(trainer.config)))
    if saved != now:
        keys = sorted(k for k in set(saved if isinstance(saved, dict) else {}) | set(now)
                      if not isinstance(saved, dict) or saved.get(k) != now.get(k))
        raise CheckpointError(f"{path}: the checkpoint was trained with other settings than "
                              f"{out / CONFIG} gives ({', '.join(keys[:6])}): it belongs to "
                              "another run, or the config was edited")
    if state["epoch"] > trainer.config.epochs:
        raise CheckpointError(f"{path}: the checkpoint is at epoch {state['epoch']}, past the "
                              f"run's {trainer.config.epochs} epochs")
    theta = np.asarray(state["theta"], dtype=float)
    names = data.get("trainable")
    if names is not None and list(names) != list(trainer.hw.trainable):
        raise CheckpointError(f"{path}: the checkpoint's trainable resistors are not this "
                              f"run's network ({len(names)} vs {len(trainer.hw.trainable)})")
    n_g, n_a = len(trainer.hw.trainable), trainer.n_gains
    if theta.shape != (n_g + n_a,):
        raise CheckpointError(f"{path}: theta has {theta.size} values, the network has "
                              f"{n_g} trainable resistors"
                              + (f" and {n_a} trained buffer gains" if n_a else ""))
    check_optimizer_state(state, theta.size, path)
    restored = TrainState.from_json(state)
    try:  # the optimiser and schedule restored as the run will restore them
        trainer.optimizers(restored)
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: damaged checkpoint: the optimiser or its schedule "
                              f"does not restore ({type(exc).__name__}: {exc})") from None
    theta, theta_a = theta[:n_g], theta[n_g:]
    a_lo, a_hi = trainer.config.gain_min, trainer.config.gain_max
    with np.errstate(all="ignore"):
        bad_a = outside(np.exp(theta_a), a_lo, a_hi)
    if bad_a.any():
        k = int(np.flatnonzero(bad_a)[0])
        raise CheckpointError(f"{path}: buffer gain {k} (theta[{n_g + k}] = "
                              f"{float(theta_a[k])!r}) is outside the run's gain range "
                              f"[{a_lo!r}, {a_hi!r}] V/V")
    lo, hi = trainer.g_range.g_min, trainer.g_range.g_max
    with np.errstate(all="ignore"):  # the raw value, before the trainer clips it
        g = np.exp(theta) if trainer.config.param == "log" else theta * hi
    bad = trainer.g_range.outside(g)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise CheckpointError(
            f"{path}: theta[{k}] = {float(theta[k])!r} gives conductance "
            f"{float(g[k])!r} S, outside the run's range [{lo!r}, {hi!r}] S"
        )
    return restored
