"""One source of training defaults: ``TrainConfig`` states them, ``RunConfig``
(what ``diodenet train`` saves and resumes) takes them from it, and every
``diodenet train`` option is a ``RunConfig`` field with the same default and,
for choices, the same allowed values as the code that checks them."""

from __future__ import annotations

import dataclasses

import click

from diodenet.cli.train_cmd import train
from diodenet.linearization import ESTIMATORS, HARDWARES, NUDGES
from diodenet.training import RunConfig, TrainConfig
from diodenet.training.architectures import ACTIVATIONS, DIODES, RECURRENT
from diodenet.training.config import OPTIMIZERS, PARAMS, SCHEDULES
from diodenet.training.losses import LOSSES

#: options that say how to run, not what to train (not saved in config.json)
RUN_OPTIONS = {"out_dir", "resume_dir", "overwrite", "workers", "progress", "as_json"}
#: option name -> RunConfig field, where they differ
FIELD = {"csv_path": "csv"}
#: RunConfig fields whose default depends on the dataset or the scale (None in both)
RESOLVED = {"hidden", "epochs", "batch_size", "temperature"}


def _options() -> dict[str, click.Option]:
    return {FIELD.get(p.name, p.name): p for p in train.params
            if isinstance(p, click.Option) and p.name not in RUN_OPTIONS}


def _defaults(cls: type) -> dict[str, object]:
    return {f.name: f.default for f in dataclasses.fields(cls)}


def test_every_train_option_is_a_runconfig_field_and_back():
    assert set(_options()) == set(_defaults(RunConfig))


def test_train_option_defaults_are_runconfigs():
    run = _defaults(RunConfig)
    for name, option in _options().items():
        # --dataset has no default of its own: moons unless --csv is given
        expected = None if name == "dataset" else run[name]
        assert option.default == expected, f"--{name.replace('_', '-')}"
    assert run["dataset"] == "moons"


def test_runconfig_training_defaults_are_trainconfigs():
    run, trainer = _defaults(RunConfig), _defaults(TrainConfig)
    assert set(trainer) <= set(run), "every TrainConfig field can be set in a run"
    for name, value in trainer.items():
        if name in RESOLVED:
            assert run[name] is None
        else:
            assert run[name] == value, name


def test_resolved_fills_the_dataset_dependent_defaults():
    cfg = RunConfig(dataset="iris", scale=4.0).resolved()
    assert (cfg.hidden, cfg.epochs, cfg.batch_size) == (16, 30, 16)
    assert cfg.temperature == 0.05 * 4.0
    tc = cfg.train_config()
    assert (tc.epochs, tc.batch_size, tc.temperature) == (30, 16, 0.2)


def test_choice_options_offer_what_the_code_accepts():
    choices = {name: tuple(o.type.choices) for name, o in _options().items()
               if isinstance(o.type, click.Choice)}
    assert choices == {
        "hardware": HARDWARES, "optimizer": OPTIMIZERS, "param": PARAMS,
        "schedule": SCHEDULES, "loss": LOSSES, "gradient": ESTIMATORS, "nudge": NUDGES,
    }
    # per-stage options take comma lists: their help names every value the code accepts
    options = _options()
    for name, known in (("recurrent", RECURRENT), ("diode", DIODES),
                        ("activation", ACTIVATIONS)):
        for value in known:
            assert value in (options[name].help or ""), (name, value)
