"""Checkpoints: atomic writes, and a crashed run resumes to the same metrics."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from diodenet.cli.main import cli
from diodenet.training import checkpoint as ckpt
from diodenet.training.session import RunConfig, run_training

torch.set_num_threads(1)

SMALL = {"dataset": "xor", "hidden": 4, "epochs": 3, "batch_size": 50, "seed": 3}


class Crash(Exception):
    pass


def _metrics(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for r in rows:
        # wall-clock time and the process's peak memory are all that may differ
        r.pop("seconds")
        r.pop("peak_rss_mb", None)
    return rows


def test_run_killed_mid_epoch_resumes_to_identical_metrics(tmp_path: Path) -> None:
    full = run_training(RunConfig(**SMALL), tmp_path / "full", progress=False, plots=False)

    def crash(epoch: int, batch: int) -> None:
        if epoch == 1 and batch == 3:
            raise Crash

    broken = tmp_path / "broken"
    with pytest.raises(Crash):
        run_training(RunConfig(**SMALL), broken, progress=False, on_batch=crash, plots=False)
    # only epoch 1 reached its checkpoint
    assert len(_metrics(broken / "metrics.jsonl")) == 1
    assert ckpt.load_checkpoint(broken)["state"]["epoch"] == 1
    # resume through the CLI, which reads config.json (the other options are ignored,
    # with a note on stderr; stdout holds the JSON alone)
    res = CliRunner().invoke(cli, ["train", "--resume", str(broken), "--json", "--epochs", "99"])
    assert res.exit_code == 0, res.output
    assert "note: --epochs ignored" in res.stderr
    out = json.loads(res.stdout)
    assert out["epochs"] == 3 and out["hardware"] == "builtin"
    assert _metrics(broken / "metrics.jsonl") == _metrics(tmp_path / "full" / "metrics.jsonl")
    a = ckpt.load_checkpoint(tmp_path / "full")["state"]
    b = ckpt.load_checkpoint(broken)["state"]
    assert a["theta"] == b["theta"] and a["opt"] == b["opt"]  # bit-identical parameters
    assert out["test_accuracy"] == full["test_accuracy"]
    assert (broken / "model.cir").read_text() == (tmp_path / "full" / "model.cir").read_text()


def test_resume_drops_metrics_of_an_epoch_without_checkpoint(tmp_path: Path) -> None:
    """A kill between the metrics line and the checkpoint must not duplicate an epoch."""
    def crash(epoch: int, batch: int) -> None:
        if epoch == 1:  # the second epoch's first step: epoch 1 is checkpointed
            raise Crash

    with pytest.raises(Crash):
        run_training(RunConfig(**{**SMALL, "epochs": 2}), tmp_path, progress=False,
                     plots=False, on_batch=crash)
    with open(tmp_path / "metrics.jsonl", "a") as fh:
        fh.write('{"epoch": 2, "partial": true}\n')
    state = ckpt.load_checkpoint(tmp_path)
    run_training(RunConfig(), tmp_path, resume=True, progress=False, plots=False)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and "partial" not in rows[1]
    assert rows[0] == state["state"]["history"][0]


def test_checkpoint_crash_during_write_leaves_old_one(tmp_path: Path, monkeypatch) -> None:
    ckpt.save_checkpoint(tmp_path, {"state": {"epoch": 1, "theta": [0.5]}})
    real_fsync = os.fsync

    def dying_fsync(fd: int) -> None:
        raise OSError("disk gone")  # after the new contents were written to the temp file

    monkeypatch.setattr(ckpt.os, "fsync", dying_fsync)
    with pytest.raises(OSError, match="disk gone"):
        ckpt.save_checkpoint(tmp_path, {"state": {"epoch": 2, "theta": [0.7]}})
    monkeypatch.setattr(ckpt.os, "fsync", real_fsync)

    def dying_replace(src: str, dst: str) -> None:
        raise KeyboardInterrupt  # killed just before the rename

    monkeypatch.setattr(ckpt.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(tmp_path, {"state": {"epoch": 3, "theta": [0.9]}})
    assert ckpt.load_checkpoint(tmp_path)["state"] == {"epoch": 1, "theta": [0.5]}
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.json"]  # no temp litter


def test_checkpoint_floats_round_trip_exactly(tmp_path: Path) -> None:
    values = [0.1, 1 / 3, 2.0**-1074, 1e308, -0.0]
    ckpt.save_checkpoint(tmp_path, {"x": values})
    assert ckpt.load_checkpoint(tmp_path)["x"] == values


def test_missing_or_corrupt_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint"):
        ckpt.load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.json").write_text("{truncated")
    with pytest.raises(ckpt.CheckpointError, match=r"damaged checkpoint \(not JSON"):
        ckpt.load_checkpoint(tmp_path)
    res = CliRunner().invoke(cli, ["train", "--resume", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "config.json" in res.output
    assert "Traceback" not in res.output


def test_sigkilled_run_resumes_to_identical_metrics(tmp_path: Path) -> None:
    """A real SIGKILL mid-epoch (the process kills itself in epoch 3, batch 2,
    so the moment is deterministic), then `diodenet train --resume`."""
    import subprocess
    import sys

    args = ["--dataset", "xor", "--hidden", "4", "--epochs", "5", "--batch-size", "50",
            "--seed", "5", "--no-progress"]
    killed = tmp_path / "killed"
    script = (
        "import os, signal\n"
        "from diodenet.training.session import RunConfig, run_training\n"
        "def die(epoch, batch):\n"
        "    if (epoch, batch) == (2, 2):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "cfg = RunConfig(dataset='xor', hidden=4, epochs=5, batch_size=50, seed=5)\n"
        f"run_training(cfg, {str(killed)!r}, progress=False, on_batch=die)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()
    assert ckpt.load_checkpoint(killed)["state"]["epoch"] == 2
    res = CliRunner().invoke(cli, ["train", "--resume", str(killed), "--json"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["train", *args, "--out", str(tmp_path / "full"), "--json"])
    assert res.exit_code == 0, res.output
    assert _metrics(killed / "metrics.jsonl") == _metrics(tmp_path / "full" / "metrics.jsonl")
    assert (ckpt.load_checkpoint(killed)["conductances"]
            == ckpt.load_checkpoint(tmp_path / "full")["conductances"])


def test_a_checkpoint_resumes_only_the_run_it_belongs_to(tmp_path: Path) -> None:
    """config.json edited after the checkpoint (another learning rate, seed or
    length: an audit resumed at lr 0.5 under a config saying 0.05, and on
    another data split) or a checkpoint past the run's epochs: one line naming
    the file and the settings that differ."""
    def crash(epoch: int, batch: int) -> None:
        if epoch == 1:
            raise Crash

    base = tmp_path / "base"
    with pytest.raises(Crash):
        run_training(RunConfig(**SMALL), base, progress=False, plots=False, on_batch=crash)
    for key, value in (("lr", 0.5), ("seed", 7), ("epochs", 6)):
        d = tmp_path / key
        d.mkdir()
        for f in base.iterdir():
            (d / f.name).write_bytes(f.read_bytes())
        cfg = json.loads((d / "config.json").read_text())
        (d / "config.json").write_text(json.dumps({**cfg, key: value}))
        with pytest.raises(ckpt.CheckpointError, match=f"other settings .*{key}"):
            run_training(RunConfig(), d, resume=True, progress=False, plots=False)
    d = tmp_path / "future"
    d.mkdir()
    for f in base.iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    data = json.loads((d / "checkpoint.json").read_text())
    data["state"]["epoch"] = 50
    (d / "checkpoint.json").write_text(json.dumps(data))
    with pytest.raises(ckpt.CheckpointError, match="at epoch 50, past the run's 3 epochs"):
        run_training(RunConfig(), d, resume=True, progress=False, plots=False)


def test_two_runs_never_write_one_directory(tmp_path: Path) -> None:
    """While a run holds its directory, a second one (new or resumed) is
    refused: two runs started together once interleaved their metrics and left
    one's config over the other's checkpoint, both exiting 0."""
    d = tmp_path / "run"
    seen: list[str] = []

    def second(epoch: int, batch: int) -> None:
        if not seen:
            for kwargs in ({"overwrite": True}, {"resume": True}):
                with pytest.raises(ValueError, match="in use by another diodenet run"):
                    run_training(RunConfig(**{**SMALL, "seed": 9}), d, progress=False,
                                 plots=False, **kwargs)
            seen.append("refused")

    run_training(RunConfig(**SMALL), d, progress=False, plots=False, on_batch=second)
    assert seen == ["refused"]
    rows = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]


def test_resume_names_the_options_it_does_not_read(tmp_path: Path) -> None:
    """A resumed run keeps its config.json; options given with --resume were
    dropped without a word (--epochs 9 ran the saved 3 epochs)."""
    run = tmp_path / "run"
    run_training(RunConfig(**{**SMALL, "epochs": 1}), run, progress=False, plots=False)
    res = CliRunner().invoke(cli, ["train", "--resume", str(run), "--epochs", "9", "--out",
                                   str(tmp_path / "x"), "--lr", "0.5", "--workers", "1",
                                   "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    assert (f"note: --epochs, --out, --lr ignored: a resumed run keeps the settings in "
            f"{run}/config.json") in res.stderr  # the options' own spellings
    assert json.loads(res.stdout)["epochs"] == 1  # the saved run's, not 9
    res = CliRunner().invoke(cli, ["train", "--resume", str(run), "--json"])
    assert res.exit_code == 0 and "ignored" not in res.stderr
