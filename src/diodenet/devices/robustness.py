"""Robustness: train nominally, deploy to physical instances, fine-tune in situ.

``robustness(cfg, spec)``:

1. trains the network of ``cfg`` on the nominal circuit (builtin simulator,
   hardware linearization), and measures its test accuracy there (``nominal``);
2. deploys those conductances to ``instances`` seeded instances of ``spec``
   and measures each one's test accuracy (``offline``) and static power;
3. fine-tunes on each instance, from the deployed conductances, with each
   gradient estimator for ``epochs`` epochs, every settle on the instance, and
   measures again (``in_situ[estimator]``). Each estimator gets the same
   instance (same seed: same devices, same sequence of write errors). The
   deployed state (epoch 0) is a candidate of the early stopping: when no
   epoch lowered the training loss *measured on the instance*, the deployed
   conductances are written back (only training data decide).

Accuracies are fractions; power in watts (mean over the test set and the
instances); energy per inference is ``power × settle_time``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..linearization import BuiltinHardware, energy_per_inference
from ..training.session import RunConfig, build, load_data
from ..training.trainer import Trainer
from .hardware import InstanceHardware
from .spec import DeviceSpec

#: the estimators ``robustness`` fine-tunes with by default
IN_SITU = ("hl", "eqprop", "model")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def robustness(
    cfg: RunConfig,
    spec: DeviceSpec,
    *,
    instances: int = 5,
    epochs: int = 2,
    estimators: Sequence[str] = IN_SITU,
    hardware: str = "builtin",
    lr: float | None = None,
    first_seed: int = 0,
    settle_time: float = 1e-6,
    backend_options: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = _stderr,
    progress: bool = False,
    nominal_conductances: np.ndarray | None = None,
    samples: int | None = None,
) -> dict[str, Any]:
    """Nominal vs offline vs in-situ accuracy of ``cfg``'s network under ``spec``.

    ``hardware``: what settles each instance (``"builtin"``/``"ngspice"``);
    the nominal training always runs on the builtin simulator. ``lr``: the
    in-situ learning rate (default ``cfg.lr / 5``); ``epochs``: in-situ
    epochs per instance and estimator (0: deploy only). ``nominal_conductances``
    skips step 1 (a network trained already, e.g. for a tolerance sweep).
    ``samples``: fine-tune on a seeded subset of this many training samples
    (default: the whole training split).
    Returns ``{"nominal", "offline", "in_situ", "power_w"}`` plus details
    (``"energy_j"``, ``"settle_time_s"``, ``"seconds"``, ``"hardware"``, ...).
    """
    if instances < 1:
        raise ValueError(f"instances must be >= 1, got {instances}")
    if epochs < 0:
        raise ValueError(f"in-situ epochs must be >= 0, got {epochs}")
    say = log or (lambda _msg: None)
    t0 = time.perf_counter()
    cfg = cfg.resolved()
    tc = cfg.train_config()
    data = load_data(cfg)
    net = build(cfg, data)
    test = (data.x_test, data.y_test)
    nominal_hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    nominal_tr = Trainer(nominal_hw, net.encode, data.n_classes, data.x_train, data.y_train, tc,
                         test=test, progress=progress)
    if nominal_conductances is None:
        say(f"robustness: training {data.name} nominally on the builtin simulator "
            f"({tc.epochs} epochs)")
        g_trained = nominal_tr.run().conductances
    else:
        g_trained = np.asarray(nominal_conductances, dtype=float)
        nominal_tr.program(nominal_tr._to_theta(g_trained))
    nominal_acc = nominal_tr.evaluate(*test)[1]
    deployed = net.circuit.copy()
    deployed.set_conductances(dict(zip(nominal_hw.trainable, g_trained)))
    say(f"robustness: nominal test accuracy {nominal_acc:.4f}; deploying to {instances} "
        f"instances on the {hardware} hardware")
    fine = replace(tc, epochs=max(epochs, 1), lr=lr if lr is not None else tc.lr / 5,
                   schedule="constant", patience=0)

    def instance_hw(seed: int) -> InstanceHardware:
        return InstanceHardware(deployed, net.inputs, net.outputs, spec, seed=seed,
                                backend=hardware, **(backend_options or {}))

    x_fit, y_fit = data.x_train, data.y_train
    if samples is not None and samples < len(y_fit):
        pick = np.sort(np.random.default_rng([cfg.seed, 15]).permutation(len(y_fit))[:samples])
        x_fit, y_fit = x_fit[pick], y_fit[pick]
    offline: list[float] = []
    powers: list[float] = []
    in_situ: dict[str, list[float]] = {name: [] for name in estimators}
    for i in range(instances):
        seed = first_seed + i
        with instance_hw(seed) as hw:
            tr = Trainer(hw, net.encode, data.n_classes, x_fit, y_fit, fine, test=test,
                         progress=False)
            offline.append(tr.evaluate(*test)[1])
            if tr.last_power is not None:
                powers.append(tr.last_power)
        say(f"  instance {seed}: offline {offline[-1]:.4f}")
        if epochs == 0:
            continue
        for name in estimators:
            with instance_hw(seed) as hw:
                tr = Trainer(hw, net.encode, data.n_classes, x_fit, y_fit,
                             replace(fine, gradient=name), test=test, progress=progress)
                deployed_loss = tr.evaluate(x_fit, y_fit)[0]
                result = tr.run()
                accuracy = result.test_accuracy
                if min(h["train_loss"] for h in result.history) >= deployed_loss:
                    tr.program(tr._to_theta(g_trained))  # no epoch helped: keep the deployed
                    accuracy = tr.evaluate(*test)[1]
            in_situ[name].append(accuracy)
            say(f"  instance {seed}: in situ {name} {accuracy:.4f} "
                f"({result.seconds:.1f} s)")
    power = float(np.mean(powers)) if powers else float("nan")
    return {
        "nominal": nominal_acc, "offline": offline,
        "in_situ": in_situ if epochs else {name: [] for name in estimators},
        "power_w": power,
        "energy_j": energy_per_inference(power, settle_time) if powers else float("nan"),
        "settle_time_s": settle_time, "hardware": hardware, "nominal_hardware": "builtin",
        "dataset": data.name, "instances": instances, "epochs": epochs,
        "spec": spec.to_json(), "seconds": time.perf_counter() - t0,
        "conductances": g_trained,
    }
