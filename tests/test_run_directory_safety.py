"""A training run's directory is never lost: an existing run is not replaced
unless asked, writes killed mid-way leave no litter, a run killed before its
first epoch resumes, and damaged files are one line naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from diodenet.cli.main import cli
from diodenet.training import checkpoint as ckpt
from diodenet.training.session import RunConfig, run_training

torch.set_num_threads(1)

TINY = ["--dataset", "xor", "--hidden", "3", "--epochs", "2", "--batch-size", "100",
        "--seed", "1", "--json"]


class Crash(Exception):
    pass


def _train(*args: str):
    return CliRunner().invoke(cli, ["train", *args])


def _one_line(res, *fragments: str) -> str:
    assert res.exit_code == 2, (res.output, res.stderr)
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in res.output, lines
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def _snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    run_training(RunConfig(dataset="xor", hidden=3, epochs=2, batch_size=100, seed=1), out,
                 progress=False, plots=False)
    return out


def test_an_existing_run_is_not_replaced(run_dir: Path, tmp_path: Path) -> None:
    before = _snapshot(run_dir)
    res = _train("--dataset", "xor", "--epochs", "1", "--out", str(run_dir))
    _one_line(res, f"{run_dir} already holds a training run", f"--resume {run_dir}",
              "--overwrite")
    assert _snapshot(run_dir) == before  # nothing changed, nothing added
    copy = tmp_path / "copy"
    copy.mkdir()
    for name, data in before.items():
        (copy / name).write_bytes(data)
    res = _train(*TINY[:-5], "--epochs", "1", "--out", str(copy), "--overwrite", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["epochs"] == 1
    rows = (copy / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [1]
    _one_line(_train("--resume", str(copy), "--overwrite"), "--resume or --overwrite")


def test_stale_temporaries_are_removed_on_the_next_start(run_dir: Path, tmp_path: Path) -> None:
    d = tmp_path / "r"
    d.mkdir()
    for name, data in _snapshot(run_dir).items():
        (d / name).write_bytes(data)
    litter = [".checkpoint.json.k2j4_x9q.tmp", ".model.cir.abcdef12.tmp", ".config.json.zzzzzz.tmp"]
    for name in litter:
        (d / name).write_text("partial")
    (d / "keep.tmp").write_text("mine")
    (d / ".notes").write_text("mine")
    res = _train("--resume", str(d), "--json")
    assert res.exit_code == 0, res.output
    names = {p.name for p in d.iterdir()}
    assert not names & set(litter) and {"keep.tmp", ".notes"} <= names
    assert ckpt.clean_stale_temporaries(tmp_path / "missing") == []


def test_a_run_killed_before_its_first_epoch_resumes(tmp_path: Path) -> None:
    cfg = {"dataset": "xor", "hidden": 3, "epochs": 2, "batch_size": 100, "seed": 1}

    def crash(epoch: int, batch: int) -> None:
        raise Crash

    with pytest.raises(Crash):
        run_training(RunConfig(**cfg), tmp_path / "a", on_batch=crash, plots=False,
                     progress=False)
    state = ckpt.load_checkpoint(tmp_path / "a")["state"]
    assert state["epoch"] == 0 and state["history"] == []  # the epoch-0 checkpoint
    resumed = run_training(RunConfig(), tmp_path / "a", resume=True, plots=False, progress=False)
    fresh = run_training(RunConfig(**cfg), tmp_path / "b", plots=False, progress=False)
    assert resumed["test_accuracy"] == fresh["test_accuracy"] and resumed["epochs"] == 2
    # killed between config.json and the first checkpoint: resume starts over, saying so
    (tmp_path / "a" / "checkpoint.json").unlink()
    (tmp_path / "a" / "metrics.jsonl").unlink()
    res = _train("--resume", str(tmp_path / "a"), "--json")
    assert res.exit_code == 0, res.stderr
    assert "no checkpoint.json yet" in res.stderr and "starting from epoch 0" in res.stderr
    assert json.loads(res.stdout)["test_accuracy"] == fresh["test_accuracy"]


@pytest.mark.parametrize(("file", "text", "problem"), [
    ("checkpoint.json", '{"format": 1}', "'state' must be an object, got nothing"),
    ("checkpoint.json", '{"format": 1, "state": null}', "'state' must be an object"),
    ("checkpoint.json", "[1, 2]", "expected a JSON object, got list"),
    ("checkpoint.json", '{"format": 7, "state": {}}', "unknown checkpoint format 7"),
    ("checkpoint.json", '{"format": 1, "state": {"epoch": 1}}', "'state' has no 'theta'"),
    ("checkpoint.json", "\udcff", "not UTF-8"),
    ("checkpoint.json", "{trunc", "not JSON"),
    ("config.json", "[]", "damaged run config: expected a JSON object, got list"),
    ("config.json", '{"hidden": "x"}', "damaged run config: 'hidden' is 'x'"),
    ("config.json", '{"epochs": 0}', "damaged run config: epochs and batch_size must be >= 1"),
])
def test_damaged_files_on_resume_are_one_line(run_dir: Path, tmp_path: Path, file: str,
                                              text: str, problem: str) -> None:
    for name, data in _snapshot(run_dir).items():
        (tmp_path / name).write_bytes(data)
    if text == "\udcff":
        (tmp_path / file).write_bytes(b'{"format": 1, \xff}')
    else:
        (tmp_path / file).write_text(text)
    before = _snapshot(tmp_path)
    _one_line(_train("--resume", str(tmp_path)), f"{tmp_path / file}: ", problem)
    assert _snapshot(tmp_path) == before


def _opt(d: dict) -> dict:
    """The checkpoint's optimiser state_dict, as ``state_to_json`` encodes it:
    {"state": {0: {...}}, "param_groups": [...]} with pairs for dicts."""
    return dict(d["state"]["opt"]["__dict__"])


def _param_state(d: dict) -> dict:
    per_param = dict(_opt(d)["state"]["__dict__"])
    return per_param[0]["__dict__"]


def _cut_exp_avg(d: dict) -> None:
    for pair in _param_state(d):
        if pair[0] == "exp_avg":
            pair[1]["__tensor__"] = pair[1]["__tensor__"][:10]


def _drop_param_groups(d: dict) -> None:
    d["state"]["opt"]["__dict__"] = [p for p in d["state"]["opt"]["__dict__"]
                                     if p[0] != "param_groups"]


def _bad_dtype(d: dict) -> None:
    _param_state(d)[0][1]["dtype"] = "torch.nosuch"


@pytest.mark.parametrize(("edit", "problem"), [
    # a short moment vector once made the fused Adam kernel read past its end
    # (a segmentation fault, exit 139); the others were tracebacks
    (_cut_exp_avg, "optimiser state 'exp_avg' has shape (10,)"),
    (_drop_param_groups, "needs 'state' and a list of 'param_groups'"),
    (_bad_dtype, "its optimiser state does not read back"),
    (lambda d: d["state"].update(scheduler=[1, 2]), "the scheduler state must be an object"),
    (lambda d: d["state"]["history"].append({}), "history' must be a list of objects with"),
    (lambda d: d["state"].update(best_epoch=-5), "'best_epoch' must be -1"),
])
def test_a_damaged_optimiser_state_is_one_line(run_dir: Path, tmp_path: Path, edit,
                                                problem: str) -> None:
    for name, data in _snapshot(run_dir).items():
        (tmp_path / name).write_bytes(data)
    d = json.loads((tmp_path / "checkpoint.json").read_text())
    edit(d)
    (tmp_path / "checkpoint.json").write_text(json.dumps(d))
    _one_line(_train("--resume", str(tmp_path)), "checkpoint.json: ", problem)


def test_checkpoints_are_strict_json_and_resume_from_a_null_best(run_dir: Path,
                                                                 tmp_path: Path) -> None:
    """The epoch-0 checkpoint held ``"best_value": Infinity`` (not JSON), and the
    null the checker allowed in its place was a TypeError on resume."""
    def crash(epoch: int, batch: int) -> None:
        raise Crash

    early = tmp_path / "early"
    with pytest.raises(Crash):
        run_training(RunConfig(dataset="xor", hidden=3, epochs=2, batch_size=100, seed=1),
                     early, progress=False, plots=False, on_batch=crash)
    first = json.loads((early / "checkpoint.json").read_text(),
                       parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert first["state"]["epoch"] == 0 and first["state"]["best_value"] is None
    text = (run_dir / "checkpoint.json").read_text()
    for name, data in _snapshot(run_dir).items():
        (tmp_path / name).write_bytes(data)
    d = json.loads(text)
    d["state"]["best_value"] = None
    (tmp_path / "checkpoint.json").write_text(json.dumps(d))
    res = _train("--resume", str(tmp_path), "--json")
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(("theta", "problem"), [
    (1e308, "theta[0] = 1e+308 gives conductance inf S, outside the run's range"),
    (-1e308, "gives conductance 0.0 S, outside"),
    (0.0, "theta[0] = 0.0 gives conductance 1.0 S, outside the run's range [1e-06, 0.001] S"),
])
def test_out_of_range_parameters_in_a_checkpoint(run_dir: Path, tmp_path: Path, theta: float,
                                                 problem: str) -> None:
    for name, data in _snapshot(run_dir).items():
        (tmp_path / name).write_bytes(data)
    d = json.loads((tmp_path / "checkpoint.json").read_text())
    d["state"]["theta"][0] = theta
    (tmp_path / "checkpoint.json").write_text(json.dumps(d))
    _one_line(_train("--resume", str(tmp_path)), "checkpoint.json: ", problem)
    d["state"]["theta"] = d["state"]["theta"][:-1]
    d["state"]["best_theta"] = d["state"]["best_theta"][:-1]
    (tmp_path / "checkpoint.json").write_text(json.dumps(d))
    _one_line(_train("--resume", str(tmp_path)), "checkpoint.json: ", "values, the network has")


@pytest.mark.parametrize(("option", "value"), [
    ("--epochs", "0"), ("--hidden", "0"), ("--batch-size", "0"), ("--temperature", "0"),
    ("--scale", "0"), ("--workers", "0"), ("--workers", "-1"), ("--epochs", "-3"),
    ("--temperature", "nan"),
])
def test_train_refuses_non_positive_options(tmp_path: Path, option: str, value: str) -> None:
    out = tmp_path / "out"
    _one_line(_train("--dataset", "xor", option, value, "--out", str(out)),
              f"{option} must be > 0, got")
    assert not out.exists()


@pytest.mark.parametrize(("command", "option", "value", "bound"), [
    ("train", "--seed", "-1", ">= 0"), ("demo", "--seed", "-1", ">= 0"),
    ("demo", "--finetune-epochs", "-1", ">= 0"), ("robustness", "--first-seed", "-1", ">= 0"),
    ("robustness", "--seed", "-2", ">= 0"), ("robustness", "--in-situ-epochs", "-1", ">= 0"),
    ("robustness", "--lr", "-1", "> 0"), ("robustness", "--settle-time", "-1", "> 0"),
    ("robustness", "--instances", "0", "> 0"),
])
def test_bad_options_are_refused_before_any_training(tmp_path: Path, command: str, option: str,
                                                      value: str, bound: str) -> None:
    """Each of these once failed only after minutes of training (or not at all:
    a negative fine-tuning count read as 0, a negative seed in scikit-learn's
    words); they are now refused first, naming the option."""
    res = CliRunner().invoke(cli, [command, option, value, "--out", str(tmp_path / "o")]
                             if command != "robustness" else [command, option, value])
    _one_line(res, f"{option} must be {bound}, got")
    assert not (tmp_path / "o").exists()


def test_gradient_and_simulate_refuse_bad_workers(tmp_path: Path) -> None:
    net = tmp_path / "n.cir"
    net.write_text("t\nv1 a 0 1\nr1 a 0 1k\n.end\n")
    (tmp_path / "u.csv").write_text("v1\n1\n")
    (tmp_path / "t.csv").write_text("a\n1\n")
    for args in (["simulate", str(net)],
                 ["gradient", str(net), "--inputs", str(tmp_path / "u.csv"), "--outputs", "a",
                  "--targets", str(tmp_path / "t.csv")],
                 ["linearize", str(net), "--inputs", str(tmp_path / "u.csv"), "--outputs", "a"]):
        for w in ("0", "-1"):
            res = CliRunner().invoke(cli, [*args, "--workers", w])
            assert res.exit_code == 2 and res.output == f"Error: --workers must be > 0, got {w}\n"


def test_library_refuses_zero_instead_of_the_default() -> None:
    for key, value, problem in (("epochs", 0, "epochs and batch_size must be >= 1"),
                                ("batch_size", 0, "epochs and batch_size must be >= 1"),
                                ("hidden", 0, "hidden must be >= 1"),
                                ("temperature", 0.0, "temperature must be a voltage > 0"),
                                ("scale", 0.0, "scale must be a voltage > 0"),
                                # powers (scale²) overflowed: 'static power: nan W',
                                # NaN in metrics.jsonl
                                ("scale", 1e200, "scale must be at most 1e100 V")):
        with pytest.raises(ValueError, match=problem):
            RunConfig(**{"dataset": "xor", key: value}).resolved().train_config()


@pytest.mark.parametrize(("file", "edit", "problem"), [
    ("checkpoint.json", lambda d: d.update(best_conductances=[1.0]),
     "'best_conductances' must be 38 finite"),
    ("checkpoint.json", lambda d: d.update(best_conductances={"a": 1}),
     "'best_conductances' must be"),
    ("checkpoint.json", lambda d: d.update(best_conductances=[1.0] * 38),
     "outside the run's range"),
    ("checkpoint.json", lambda d: d.update(trainable=None), "resistors are not the network"),
    ("checkpoint.json", lambda d: d.update(gains=[1.0]), "the run's network has no buffers"),
    ("config.json", lambda d: d.update(hidden="abc"), "damaged run config: 'hidden' is 'abc'"),
    ("config.json", lambda d: d.update(seed="s"), "damaged run config: 'seed' is 's'"),
])
def test_export_of_a_damaged_run_is_one_line(run_dir: Path, tmp_path: Path, file: str,
                                             edit, problem: str) -> None:
    """``export`` reads the run as ``--resume`` does: a damaged config or
    checkpoint is one line naming the file, never a traceback."""
    for name, data in _snapshot(run_dir).items():
        (tmp_path / name).write_bytes(data)
    d = json.loads((tmp_path / file).read_text())
    edit(d)
    (tmp_path / file).write_text(json.dumps(d))
    _one_line(CliRunner().invoke(cli, ["export", str(tmp_path)]), f"{tmp_path / file}: ",
              problem)


def test_an_unwritable_output_names_the_file_asked_for(run_dir: Path) -> None:
    """The atomic write's temporary file is an implementation detail: a write
    that cannot start names the file the user gave."""
    res = CliRunner().invoke(cli, ["export", str(run_dir), "--out", "/proc/x.cir"])
    line = _one_line(res, "cannot write /proc/x.cir")
    assert ".tmp" not in line


def test_export_is_the_runs_result_its_best_epoch(tmp_path: Path) -> None:
    """A run whose best epoch is not its last: ``export`` once programmed the
    last epoch's conductances (up to 11x off the model the run reported; its
    test accuracy 0.896 against the reported 0.936). It now writes what
    ``model.cir`` holds, the best epoch's, and says which epoch."""
    import warnings

    from diodenet.circuits.netlist import NetlistWarning, read_netlist

    out = tmp_path / "run"
    res = _train("--dataset", "moons", "--epochs", "6", "--hidden", "8", "--lr", "1.0",
                 "--schedule", "constant", "--seed", "0", "--out", str(out), "--json")
    assert res.exit_code == 0, res.output
    state = json.loads((out / "checkpoint.json").read_text())["state"]
    assert 1 <= state["best_epoch"] < 6  # the case at hand
    res = CliRunner().invoke(cli, ["export", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["epoch"] == state["best_epoch"] and summary["finished"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetlistWarning)
        model, exported = read_netlist(out / "model.cir"), read_netlist(out / "export.cir")
    trained = [r.name for r in model.trainable_resistors]
    assert trained and [exported[n].g for n in trained] == [model[n].g for n in trained]
    # a checkpoint from before the best epoch was kept: its last epoch, with a note
    d = json.loads((out / "checkpoint.json").read_text())
    d.pop("best_conductances")
    (out / "checkpoint.json").write_text(json.dumps(d))
    res = CliRunner().invoke(cli, ["export", str(out), "--json"])
    assert res.exit_code == 0 and "written before checkpoints kept the best epoch" in res.stderr
    assert json.loads(res.stdout)["epoch"] == 6


def test_overwrite_checks_the_new_run_before_deleting_the_old(run_dir: Path,
                                                               tmp_path: Path) -> None:
    """--overwrite with a mistyped dataset or a missing CSV once deleted the old
    run's files and then failed: the new run's inputs are read first."""
    before = _snapshot(run_dir)
    for bad in (["--dataset", "mooons"], ["--csv", str(tmp_path / "nosuch.csv")]):
        copy = tmp_path / bad[0].strip("-")
        copy.mkdir()
        for name, data in before.items():
            (copy / name).write_bytes(data)
        res = _train(*bad, "--epochs", "1", "--out", str(copy), "--overwrite")
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output
        assert _snapshot(copy) == before


def test_run_files_get_the_permissions_of_any_new_file(run_dir: Path, tmp_path: Path) -> None:
    """The atomic writes' temporaries are 0600 (mkstemp): config.json,
    checkpoint.json, metrics.jsonl and model.cir came out unreadable to the
    other users of a shared run, unlike the figures. They get the umask's mode,
    and a file rewritten keeps the mode it has."""
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    for name in ("config.json", "checkpoint.json", "metrics.jsonl", "model.cir"):
        assert (run_dir / name).stat().st_mode & 0o777 == 0o666 & ~mask, name
    f = tmp_path / "kept.json"
    f.write_text("{}")
    f.chmod(0o640)
    ckpt.atomic_write_text(f, "[]")
    assert f.stat().st_mode & 0o777 == 0o640 and f.read_text() == "[]"


def test_settings_that_only_fail_when_built_name_config_json(run_dir: Path,
                                                              tmp_path: Path) -> None:
    """A resumed run takes every setting from config.json, so a bad one there is
    reported against that file (it read "unknown diode 'zener'", no file)."""
    for key, value in (("diode", "zener"), ("hidden", [0]), ("dataset", "nosuch")):
        d = tmp_path / key
        d.mkdir()
        for name, data in _snapshot(run_dir).items():
            (d / name).write_bytes(data)
        cfg = json.loads((d / "config.json").read_text())
        (d / "config.json").write_text(json.dumps({**cfg, key: value}))
        _one_line(_train("--resume", str(d)), f"{d / 'config.json'}: ")


def test_a_seed_numpy_cannot_take_and_a_directory_in_a_files_place(tmp_path: Path) -> None:
    _one_line(_train(*TINY[:-1], "--seed", "5000000000", "--out", str(tmp_path / "s")),
              "seed must be an integer in [0, 2**32 - 1], got 5000000000")
    with pytest.raises(OSError, match=f"cannot write {tmp_path / 'metrics.jsonl'}: ") as info:
        (tmp_path / "metrics.jsonl").mkdir()
        ckpt.atomic_write_text(tmp_path / "metrics.jsonl", "")
    assert ".tmp" not in str(info.value)
