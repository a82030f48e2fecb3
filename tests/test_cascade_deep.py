"""Deep and asymmetric cascades: equal to the equivalent MLP, the two backward
passes equal, builtin against ngspice, feedback well-posedness, converters."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from diodenet.cascades import (
    Buffer,
    Cascade,
    IllPosedCascade,
    differential,
    from_mlp,
    mlp_parameters,
    to_mlp,
)
from diodenet.cli.main import cli
from diodenet.linearization import BuiltinHardware, NgspiceHardware, sse_loss
from diodenet.training.architectures import CascadeNetwork, ConductanceRange, build_network

torch.set_num_threads(1)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def random_mlp(depth: int, seed: int) -> torch.nn.Sequential:
    g = torch.Generator().manual_seed(seed)
    dims = [3] + [int(d) for d in torch.randint(2, 6, (depth,), generator=g)]
    layers: list[torch.nn.Module] = []
    for i in range(depth):
        lin = torch.nn.Linear(dims[i], dims[i + 1], dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=g, dtype=torch.float64))
            lin.bias.copy_(torch.randn(lin.bias.shape, generator=g, dtype=torch.float64))
        layers.append(lin)
        if i < depth - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_from_mlp_equals_the_mlp_and_its_autograd(depth):
    m = random_mlp(depth, seed=depth)
    cascade = from_mlp(m)
    x = np.random.default_rng(depth).normal(size=(8, 3))
    ref = m(torch.tensor(x)).detach().numpy()
    t = np.random.default_rng(9).normal(size=ref.shape)
    g = cascade.gradient(differential(x), sse_loss(t))
    assert rel(g.outputs, ref) <= 1e-9

    # dL/dx: autograd through the module itself
    xt = torch.tensor(x, requires_grad=True)
    (0.5 * ((m(xt) - torch.tensor(t)) ** 2).sum()).backward()
    dx = g.dL_du[:, 0::2] - g.dL_du[:, 1::2]  # u = (x, -x) pairs
    assert rel(dx, xt.grad.numpy()) <= 1e-9

    # dL/dg, dL/da: autograd through the equivalent MLP as a function of them
    gt = torch.tensor(cascade.conductances(), requires_grad=True)
    at = torch.tensor(cascade.gains, requires_grad=True)
    z = torch.tensor(x)
    for W, b, relu in mlp_parameters(cascade, gt, at):
        z = z @ W.T + b
        z = torch.relu(z) if relu else z
    (0.5 * ((z - torch.tensor(t)) ** 2).sum()).backward()
    assert rel(g.flat_dL_dg, gt.grad.numpy()) <= 1e-9
    assert rel(g.dL_da, at.grad.numpy()) <= 1e-9


def test_round_trip_and_refusals():
    m = random_mlp(3, seed=7)
    cascade = from_mlp(m)
    back = cascade.to_mlp()  # the method, as users write it
    assert [type(layer) for layer in back] == [type(layer) for layer in m]
    for a, b in zip(m.parameters(), back.parameters()):
        # the circuit stores resistances: one reciprocal round trip per conductance
        torch.testing.assert_close(b, a, rtol=1e-15, atol=1e-16)
    for a, b in zip(back.parameters(), to_mlp(cascade).parameters()):
        assert torch.equal(a, b)  # the function and the method are one reader
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU())
    with pytest.raises(ValueError, match=r"layer 0 \(Conv2d\)"):
        from_mlp(conv)
    with pytest.raises(ValueError, match=r"layer 1 \(Tanh\)"):
        from_mlp(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh()))
    # a trained builder cascade loads its hidden nodes with the readout: not an MLP
    net = build_network(2, 2, [3, 2], seed=0)
    with pytest.raises(ValueError, match="to_mlp"):
        net.hardware("builtin").to_mlp()
    # these were "math domain error" or "cannot convert float NaN to integer"
    for g_max in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="g_max must be a conductance > 0"):
            from_mlp(m, g_max=g_max)
    for bad in (float("inf"), float("nan")):
        broken = random_mlp(2, seed=1)
        with torch.no_grad():
            broken[2].weight[0, 0] = bad
        with pytest.raises(ValueError, match="Linear layer 1's weight holds NaN or inf"):
            from_mlp(broken)
    with pytest.raises(ValueError, match=r"features must be \(batch, d\)"):
        differential(np.array([1.0, 2.0]))


def mixed_cascade() -> tuple[CascadeNetwork, Cascade]:
    """Every per-stage option: diode models, clamp, recurrent, negative neurons,
    current-source biases; random buffer gains."""
    net = build_network(
        2, 2, [4, 3, 3], diode=["ideal", "shockley", "pwl"], activation=["clamp", "relu", "relu"],
        recurrent=["none", "dense", "none"], sign=["+", "-", "+"],
        bias=["rails", "current", "rails"], scale=2.0, seed=4,
        g_range=ConductanceRange(1e-5, 1e-3),
    )
    assert isinstance(net, CascadeNetwork)
    cascade = net.hardware("builtin")
    a = np.random.default_rng(1).uniform(0.5, 3.0, len(cascade.gains))
    cascade.set_gains(np.sign(cascade.gains) * a)
    return net, cascade


def test_single_settle_equals_stage_by_stage_and_finite_differences():
    net, cascade = mixed_cascade()
    rng = np.random.default_rng(2)
    u = net.encode(rng.normal(size=(6, 2)))
    t = rng.normal(size=(6, 2))
    g = cascade.gradient(u, sse_loss(t))
    s = cascade.gradient(u, sse_loss(t), backward="single")
    assert rel(s.flat_dL_dg, g.flat_dL_dg) <= 1e-9
    assert rel(s.dL_da, g.dL_da) <= 1e-9
    assert rel(s.dL_du, g.dL_du) <= 1e-9
    # the whole cascade as one circuit settles to the same outputs
    whole = Cascade(cascade.stages, buffers=cascade.buffers,
                    output_gains=cascade.gains[-2:], forward="whole")
    assert rel(whole.settle(u).outputs, g.outputs) <= 1e-9

    def loss() -> float:
        return float(0.5 * ((cascade.settle(u).outputs - t) ** 2).sum())

    a0, g0 = cascade.gains.copy(), cascade.conductances().copy()
    for k in (0, 9, len(a0) - 1):
        vals = []
        for sgn in (1, -1):
            a = a0.copy()
            a[k] *= 1 + sgn * 1e-6
            cascade.set_gains(a)
            vals.append(loss())
        fd = (vals[0] - vals[1]) / (2e-6 * a0[k])
        assert abs(fd - g.dL_da[k]) <= 1e-5 * np.abs(g.dL_da).max()
    cascade.set_gains(a0)
    for k in (3, len(g0) // 2, len(g0) - 5):
        vals = []
        for sgn in (1, -1):
            gg = g0.copy()
            gg[k] *= 1 + sgn * 1e-6
            cascade.set_conductances(gg)
            vals.append(loss())
        fd = (vals[0] - vals[1]) / (2e-6 * g0[k])
        assert abs(fd - g.flat_dL_dg[k]) <= 1e-5 * np.abs(g.flat_dL_dg).max()
    cascade.set_conductances(g0)


def test_per_stage_options_build_what_they_say_and_behave_so():
    """Each stage gets its own options, and each option does what it states:
    checked on the circuits and, with ideal diodes, on the settled voltages
    (clamp range, neuron sign, and KCL at every blocking neuron with its bias
    current and recurrent resistors)."""
    from diodenet.circuits import CurrentSource, IdealDiode, PWLDiode

    scale, clamp = 2.0, 0.5
    net = build_network(
        2, 2, [4, 3, 3], diode=["ideal", "ideal", "pwl"],
        activation=["clamp", "relu", "relu"], recurrent=["none", "dense", "none"],
        sign=["+", "-", "+"], bias=["rails", "current", "rails"], scale=scale, seed=4,
        g_range=ConductanceRange(1e-5, 1e-3),
    )
    assert isinstance(net, CascadeNetwork)
    c0, c1, c2 = (n.circuit for n in net.stages)
    models = [{type(d.model) for d in c.diodes} for c in (c0, c1, c2)]
    assert models == [{IdealDiode}, {IdealDiode}, {PWLDiode}]
    # stage 0: a neuron diode from ground and a clamp diode to the rail per neuron
    assert sorted((d.anode, d.cathode) for d in c0.diodes if d.name.startswith("dc")) == \
        [(f"h{k}", "bc") for k in range(4)]
    assert c0["vbc"].dc == clamp * scale
    # stage 1: diodes to ground (V <= 0), one current source per neuron and no
    # bias rails into the neurons, every neuron pair joined
    assert sorted((d.anode, d.cathode) for d in c1.diodes) == [(f"h{k}", "0") for k in range(3)]
    assert len([e for e in c1 if isinstance(e, CurrentSource)]) == 3
    assert not any(n in ("bp", "bn") for r in c1.resistors for n in r.nodes)
    assert sorted(r.name for r in c1.resistors if r.name.startswith("rr")) == \
        ["rr0_1", "rr0_2", "rr1_2"]
    assert not any(r.name.startswith("rr") for c in (c0, c2) for r in c.resistors)
    assert all((d.anode, d.cathode) == ("0", f"h{k}") for k, d in enumerate(c2.diodes))

    cascade = net.hardware("builtin")
    m = cascade.settle(net.encode(np.random.default_rng(5).normal(size=(200, 2)) * 3))
    v0, v1 = m.stages[0].outputs, m.stages[1].outputs
    # clamp: every neuron of stage 0 in [0, clamp·scale], both ends reached
    assert v0.min() >= -1e-12 and v0.max() <= clamp * scale + 1e-12
    assert (np.abs(v0) <= 1e-12).any() and (np.abs(v0 - clamp * scale) <= 1e-12).any()
    # sign "-": every neuron of stage 1 at or below 0 V, some strictly below
    assert v1.max() <= 1e-12 and (v1 < -1e-3).any()
    # KCL at each blocking neuron of stage 1: resistors (inputs and recurrent)
    # plus its bias current sum to zero
    volts = {f"h{k}": v1[:, k] for k in range(3)}
    for i, name in enumerate(net.stages[1].inputs):
        volts[c1[name].pos] = m.stages[1].inputs[:, i]
    for k in range(3):
        node = f"h{k}"
        inflow = sum(r.g * (volts[r.n1 if r.n2 == node else r.n2] - volts[node])
                     for r in c1.resistors if node in r.nodes)
        inflow = inflow + sum(e.dc for e in c1 if isinstance(e, CurrentSource) and e.neg == node)
        blocking = v1[:, k] < -1e-9
        assert blocking.any()
        assert np.abs(inflow[blocking]).max() <= 1e-12 * np.abs(inflow).max() + 1e-15


def test_cli_trains_a_cascade_with_per_stage_options_and_gain_range(tmp_path: Path):
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, [
        "train", "--dataset", "xor", "--hidden", "4,3", "--epochs", "2", "--batch-size", "100",
        "--diode", "ideal,pwl", "--activation", "clamp,relu", "--sign", "+,-",
        "--bias", "rails,current", "--recurrent", "none,dense", "--train-gains",
        "--gain-min", "0.8", "--gain-max", "1.25", "--lr", "0.5", "--out", str(out),
        "--json", "--no-progress"])
    assert res.exit_code == 0, res.output
    config = json.loads((out / "config.json").read_text())
    assert config["hidden"] == [4, 3] and config["train_gains"] is True
    from diodenet.training import checkpoint as ckpt

    gains = np.abs(np.asarray(ckpt.load_checkpoint(out)["gains"]))
    # trained within the stated range, like conductances within [g_min, g_max];
    # a large step drives some to the end of the range, where they stop
    assert gains.min() >= 0.8 - 1e-12 and gains.max() <= 1.25 + 1e-12
    assert (np.isclose(gains, 0.8, rtol=0, atol=1e-12)
            | np.isclose(gains, 1.25, rtol=0, atol=1e-12)).any()
    cards = {line.split()[0]: line.split()[1:] for line in
             (out / "model.cir").read_text().splitlines() if line[:1].isalpha()}
    # one netlist: stage 0 clamped ideal diodes, stage 1 reversed PWL diodes with
    # bias currents and recurrent resistors, E-element buffers between them
    assert cards["dc0_s0"][:2] == ["s0_h0", "s0_bc"] and "rr0_1_s0" not in cards
    assert cards["d0_s1"][:3] == ["s1_h0", "0", "dpwl_d0_s1"]
    assert "ib2_s1" in cards and "rr1_2_s1" in cards and "ebuf1_7" in cards


def test_builtin_and_ngspice_agree_on_a_three_stage_cascade():
    net = build_network(2, 2, [3, 3, 2], diode="shockley", scale=4.0, seed=6, gain=1.5)
    assert isinstance(net, CascadeNetwork)
    rng = np.random.default_rng(3)
    u = net.encode(rng.normal(size=(5, 2)))
    t = rng.normal(size=(5, 2))
    builtin = net.hardware("builtin")
    with net.hardware("ngspice") as ng:
        assert ng.forward_mode == "whole"  # one netlist, one analysis per chunk
        gb = builtin.gradient(u, sse_loss(t))
        gs = ng.gradient(u, sse_loss(t))  # single settle on the adjoint network
        gn = ng.gradient(u, sse_loss(t), backward="stages")
    # ngspice solves to reltol 1e-6 / vntol 1e-9 V: outputs within 1e-5 of the
    # signal scale, gradients (a second settle on top) within 1e-4
    assert rel(gs.outputs, gb.outputs) <= 1e-5
    assert rel(gs.flat_dL_dg, gb.flat_dL_dg) <= 1e-4
    assert rel(gs.dL_da, gb.dL_da) <= 1e-4
    # the two ngspice backward passes see the same operating point
    assert rel(gs.flat_dL_dg, gn.flat_dL_dg) <= 1e-6
    assert rel(gs.dL_da, gn.dL_da) <= 1e-6
    assert rel(gs.dL_du, gn.dL_du) <= 1e-6


def feedback_cascade(gain: float) -> Cascade:
    """Stage 1's neuron 0 feeds back into stage 0's second feature pair."""
    net = build_network(2, 2, [4, 3], diode=["ideal", "shockley"], scale=2.0, seed=1)
    stages = [BuiltinHardware(n.circuit, n.inputs, n.outputs) for n in net.stages]
    buffers = [*net.buffers(), Buffer(1, 0, 0, 2, gain), Buffer(1, 0, 0, 3, -gain)]
    return Cascade(stages, buffers=buffers)


def test_feedback_cascade_is_certified_settles_and_differentiates():
    c = feedback_cascade(0.3)
    assert 0 < c.loop_gain < 1 and c.inputs == ["vxp0_s0", "vxn0_s0"]
    rng = np.random.default_rng(0)
    u = rng.normal(size=(4, 2)) * 2
    t = rng.normal(size=(4, 2))
    g = c.gradient(u, sse_loss(t))
    # the whole circuit (loop closed through its E elements) in one solve
    whole = Cascade(c.stages, buffers=c.buffers, forward="whole")
    assert rel(whole.settle(u).outputs, g.outputs) <= 1e-9
    s = c.gradient(u, sse_loss(t), backward="single")
    assert rel(s.flat_dL_dg, g.flat_dL_dg) <= 1e-9
    assert rel(s.dL_da, g.dL_da) <= 1e-9
    a0 = c.gains.copy()
    k = len(c.buffers) - 2  # the feedback gain
    vals = []
    for sgn in (1, -1):
        a = a0.copy()
        a[k] *= 1 + sgn * 1e-6
        c.set_gains(a)
        vals.append(float(0.5 * ((c.settle(u).outputs - t) ** 2).sum()))
    assert abs((vals[0] - vals[1]) / (2e-6 * a0[k]) - g.dL_da[k]) <= 1e-5 * np.abs(g.dL_da).max()


@pytest.mark.parametrize("diode", ["ideal", "shockley"])
def test_stage_gain_bound_holds_at_every_operating_point(diode):
    """The well-posedness certificate rests on |dy/du| <= M (the diodes-open
    transfer) at every operating point: checked against central differences of
    settled stages (recurrent resistors, clamp diodes, both neuron signs)."""
    from diodenet.cascades.feedback import stage_gain_bound

    for sign, activation in (("+", "clamp"), ("-", "relu")):
        net = build_network(3, 2, 5, diode=diode, recurrent="dense", sign=sign,
                            activation=activation, scale=2.0, seed=7)
        M = stage_gain_bound(net.circuit, list(net.inputs), list(net.outputs))
        hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
        u = net.encode(np.random.default_rng(1).normal(size=(40, 3)) * 2)
        h = 1e-6
        J = np.empty((len(u), len(net.outputs), len(net.inputs)))
        for i in range(len(net.inputs)):
            du = np.zeros_like(u)
            du[:, i] = h
            J[:, :, i] = (hw.settle(u + du).outputs - hw.settle(u - du).outputs) / (2 * h)
        assert np.all(np.abs(J) <= M + 1e-6 * M.max())
        assert np.abs(J).max() >= 0.05 * M.max()  # a bound met by real, non-zero gains


def test_ill_posed_feedback_is_refused_with_the_reason():
    with pytest.raises(IllPosedCascade, match=r"rho\(A\) = .* >= 1"):
        feedback_cascade(40.0)
    c = feedback_cascade(0.8)
    with pytest.raises(IllPosedCascade):
        c.set_gains(np.where(np.arange(len(c.gains)) >= len(c.buffers) - 2, 40.0, c.gains)
                    * np.sign(c.gains))


def test_a_diode_on_a_buffer_driven_node_is_refused_where_the_bound_fails():
    """A diode from a buffer-driven input node raises that input's transfer when
    it conducts, so the diodes-open bound is no bound: with V(f) = 2 V(h) and
    x = 1 V this loop has no operating point (diode off: V(f) <= V(h) forces
    V(h) <= 0, yet KCL at h gives about 0.5 V; diode on: V(h) = V(f) = 0 and
    the diode would carry -1 mA), where it was certified at rho = 0.001 and
    answered 1.8e308 V."""
    from diodenet.circuits import Circuit, IdealDiode

    c = Circuit("loopstage")
    c.add_voltage_source("vx", "x", "0", 0.0)
    c.add_voltage_source("vf", "f", "0", 0.0)
    c.add_resistor("rx", "x", "h", conductance=1e-3)
    c.add_resistor("rf", "f", "h", conductance=1e-6)
    c.add_resistor("rg", "h", "0", conductance=1e-3)
    c.add_diode("d1", "f", "h", IdealDiode())
    stage = BuiltinHardware(c, ["vx", "vf"], [("h", "0")])
    with pytest.raises(IllPosedCascade, match="diode d1 touches node 'f'"):
        Cascade([stage], buffers=[Buffer(0, 0, 0, 1, 2.0)])
    # the same diode on the external input's node leaves the bound sound
    c2 = c.copy()
    c2.remove("d1")
    c2.add_diode("d1", "x", "h", IdealDiode())
    ok = Cascade([BuiltinHardware(c2, ["vx", "vf"], [("h", "0")])],
                 buffers=[Buffer(0, 0, 0, 1, 2.0)])
    assert ok.loop_gain < 1e-2
    with pytest.raises(RuntimeError, match="feedback loop diverged"):
        ok._settled(float("inf"), float("inf"), "feedback")
    for bad in ({"tol": float("nan")}, {"tol": -1.0}, {"max_sweeps": 0}, {"max_sweeps": 2.5}):
        with pytest.raises(ValueError, match=r"tol must be|max_sweeps must be"):
            Cascade([BuiltinHardware(c2, ["vx", "vf"], [("h", "0")])],
                    buffers=[Buffer(0, 0, 0, 1, 2.0)], **bad)


def test_conductances_that_break_the_loop_certificate_are_refused_all_or_nothing():
    """The bound depends on the conductances as well as the gains: raising the
    fed-back inputs' conductances a hundredfold lifts rho from 0.57 past 1."""
    c = feedback_cascade(4.0)
    g = c.conductances()
    fed = [i for i, n in enumerate(c.trainable) if "xp1_s0" in n or "xn1_s0" in n]
    ok = g.copy()
    ok[fed] *= 10
    c.set_conductances(ok)
    assert 0.9 < c.loop_gain < 1
    bad = g.copy()
    bad[fed] *= 100
    with pytest.raises(IllPosedCascade, match=r"rho\(A\) = .* >= 1"):
        c.set_conductances(bad)
    np.testing.assert_array_equal(c.conductances(), ok)


def test_physical_instances_are_not_settled_as_their_nominal_circuit():
    """A stage of imperfect devices runs a circuit its nominal one does not
    describe: the one-circuit modes (which built the nominal circuit and so
    answered as if the devices were ideal) and a loop certificate computed on
    the nominal circuit are refused; stage by stage it runs the instance."""
    from diodenet.devices import DeviceSpec, InstanceHardware

    net = build_network(2, 2, [3, 2], scale=2.0, seed=1)
    spec = DeviceSpec(tolerance=0.3)
    stages = [InstanceHardware(n.circuit, n.inputs, n.outputs, spec, seed=s)
              for s, n in enumerate(net.stages)]
    for mode in ({"forward": "whole"}, {"backward": "single"}):
        with pytest.raises(ValueError, match="physical instance"):
            Cascade(stages, buffers=net.buffers(), **mode)
    with pytest.raises(IllPosedCascade, match="physical instance"):
        Cascade(stages, buffers=[*net.buffers(), Buffer(1, 0, 0, 2, 0.3),
                                 Buffer(1, 0, 0, 3, -0.3)])
    u = np.random.default_rng(0).normal(size=(3, 4))
    chained = Cascade(stages, buffers=net.buffers())(u)
    nominal = Cascade([BuiltinHardware(n.circuit, n.inputs, n.outputs) for n in net.stages],
                      buffers=net.buffers())(u)
    assert np.abs(chained - nominal).max() > 1e-3  # the instance, not the design


def test_ngspice_runs_a_from_mlp_cascade_as_one_netlist():
    m = random_mlp(3, seed=11)
    x = np.random.default_rng(0).normal(size=(4, 3))
    with from_mlp(m, hardware="ngspice") as ng:
        y = ng.settle(differential(x)).outputs
        assert isinstance(ng.whole.hw, NgspiceHardware)
    # ngspice's stand-in for an ideal diode drops n·Vt·ln(I/Is) ≈ 13 mV at 1 mA
    # per neuron, amplified by the following buffers (gains ≤ ~6 here)
    ref = m(torch.tensor(x)).detach().numpy()
    assert np.abs(y - ref).max() <= 0.1 * np.abs(ref).max()


def _metrics(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for r in rows:  # wall-clock time and the process's memory may differ
        r.pop("seconds")
        r.pop("peak_rss_mb", None)
    return rows


class Crash(Exception):
    pass


def test_train_a_cascade_with_gains_resume_and_export_to_ngspice(tmp_path: Path):
    from diodenet.training import checkpoint as ckpt
    from diodenet.training.session import RunConfig, run_training

    cfg = {"dataset": "xor", "hidden": [5, 3], "epochs": 2, "batch_size": 100, "seed": 2,
           "train_gains": True, "diode": "shockley", "scale": 4.0}
    full = run_training(RunConfig(**cfg), tmp_path / "full", progress=False, plots=False)

    def crash(epoch: int, batch: int) -> None:
        if epoch == 1 and batch == 1:
            raise Crash

    broken = tmp_path / "broken"
    with pytest.raises(Crash):
        run_training(RunConfig(**cfg), broken, progress=False, on_batch=crash, plots=False)
    res = CliRunner().invoke(cli, ["train", "--resume", str(broken), "--json"])
    assert res.exit_code == 0, res.output
    assert _metrics(broken / "metrics.jsonl") == _metrics(tmp_path / "full" / "metrics.jsonl")
    a, b = ckpt.load_checkpoint(tmp_path / "full"), ckpt.load_checkpoint(broken)
    assert a["state"]["theta"] == b["state"]["theta"] and a["gains"] == b["gains"]
    assert json.loads(res.output)["test_accuracy"] == full["test_accuracy"]
    # the gains moved from their initial ±1
    assert not np.allclose(np.abs(a["gains"]), 1.0)

    res = CliRunner().invoke(cli, ["export", str(broken), "--sample", "3", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    text = Path(info["netlist"]).read_text()
    assert "ebuf1_0" in text and "eout0" in text  # E-element buffers in one netlist
    ngspice = shutil.which("ngspice")
    assert ngspice is not None
    run = subprocess.run([ngspice, "-b", info["netlist"]], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "can't parse" not in run.stdout + run.stderr  # the outputs are saved by name
    lines = run.stdout.splitlines()
    row = lines[next(i for i, line in enumerate(lines) if line.startswith("Index")) + 2]
    printed = np.array([float(v) for v in row.split()[1:]])
    # the same Shockley model on both sides: ngspice's reltol 1e-6 of the signal
    np.testing.assert_allclose(printed, info["expected"], rtol=1e-5,
                               atol=1e-5 * np.abs(info["expected"]).max())


def test_cli_hidden_list_errors_are_one_line(tmp_path: Path):
    res = CliRunner().invoke(cli, ["train", "--hidden", "8,x"])
    assert res.exit_code == 2 and "--hidden" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["train", "--hidden", "8,0"])
    assert res.exit_code == 2 and "--hidden must be > 0" in res.output
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, ["train", "--hidden", "8", "--train-gains", "--epochs", "1",
                                   "--out", str(out)])
    assert res.exit_code == 2 and "cascade" in res.output
    assert not out.exists()  # refused before any work
