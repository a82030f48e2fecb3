"""``diodenet gradient`` / ``linearize`` against finite differences of the
built-in simulator's operating points."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from diodenet import D1N4148, Circuit
from diodenet.cli.main import cli
from diodenet.simulators.builtin import BuiltinSimulator


def _setup(tmp_path: Path) -> tuple[Circuit, Path, Path, Path, np.ndarray, np.ndarray]:
    c = Circuit("cli gradient")
    c.add_voltage_source("V1", "in1", "0", 1.0)
    c.add_voltage_source("V2", "in2", "0", 1.0)
    c.add_resistor("R1", "in1", "a", resistance=1e3)
    c.add_resistor("R2", "in2", "a", resistance=2e3)
    c.add_resistor("R3", "a", "b", resistance=1.5e3)
    c.add_resistor("R4", "b", "0", resistance=3e3)
    c.add_resistor("R5", "a", "0", resistance=5e3)
    c.add_diode("D1", "0", "a", D1N4148)
    c.add_diode("D2", "b", "0", D1N4148)
    net = tmp_path / "net.cir"
    c.write(net)
    u = np.array([[2.0, 1.0], [-1.0, 0.5], [3.0, -2.0]])
    t = np.array([[0.2], [0.1], [-0.3]])
    (tmp_path / "u.csv").write_text("V1,V2\n" + "\n".join(f"{a},{b}" for a, b in u))
    (tmp_path / "t.csv").write_text("b\n" + "\n".join(str(x[0]) for x in t))
    return c, net, tmp_path / "u.csv", tmp_path / "t.csv", u, t


def _loss(c: Circuit, u: np.ndarray, t: np.ndarray) -> float:
    ops = BuiltinSimulator(c).operating_points(u, ["v1", "v2"])
    y = ops.voltages[:, ops.nodes.index("b")]
    return float(0.5 * ((y - t[:, 0]) ** 2).sum())


def test_gradient_json_matches_finite_differences(tmp_path: Path):
    c, net, ucsv, tcsv, u, t = _setup(tmp_path)
    r = CliRunner().invoke(cli, ["gradient", str(net), "--inputs", str(ucsv), "--outputs", "b",
                                 "--targets", str(tcsv), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["backend"] == "builtin"
    assert data["loss"] == _loss(c, u, t) or abs(data["loss"] - _loss(c, u, t)) < 1e-12
    for name in ["r1", "r2", "r3", "r4", "r5"]:
        g0 = c[name].g
        vals = []
        for s in (1, -1):
            cc = c.copy()
            cc.set_conductances({name: g0 * (1 + s * 1e-6)})
            vals.append(_loss(cc, u, t))
        fd = (vals[0] - vals[1]) / (2e-6 * g0)
        assert abs(data["dL_dg"][name] - fd) <= 1e-6 * max(abs(fd), 1e-3)
    assert np.array(data["dL_du"]).shape == (3, 2)


def test_gradient_ngspice_backend_agrees(tmp_path: Path, ngspice_available):
    _, net, ucsv, tcsv, _, _ = _setup(tmp_path)
    args = ["gradient", str(net), "--inputs", str(ucsv), "--outputs", "b", "--targets",
            str(tcsv), "--json"]
    a = json.loads(CliRunner().invoke(cli, args).output)
    b = json.loads(CliRunner().invoke(cli, [*args, "--backend", "ngspice"]).output)
    assert b["backend"] == "ngspice"
    scale = max(abs(v) for v in a["dL_dg"].values())
    for k, v in a["dL_dg"].items():
        assert abs(b["dL_dg"][k] - v) <= 1e-3 * scale


def test_linearize_json_matches_finite_differences(tmp_path: Path):
    c, net, ucsv, _, u, _ = _setup(tmp_path)
    r = CliRunner().invoke(cli, ["linearize", str(net), "--inputs", str(ucsv), "--outputs",
                                 "a,b", "--json"])
    assert r.exit_code == 0, r.output
    J = np.array(json.loads(r.output)["jacobian"])
    sim = BuiltinSimulator(c)
    for i in range(2):
        up, um = u.copy(), u.copy()
        up[:, i] += 1e-6
        um[:, i] -= 1e-6
        p = sim.operating_points(up, ["v1", "v2"])
        m = sim.operating_points(um, ["v1", "v2"])
        cols = [p.nodes.index("a"), p.nodes.index("b")]
        fd = (p.voltages[:, cols] - m.voltages[:, cols]) / 2e-6
        np.testing.assert_allclose(J[:, :, i], fd, rtol=1e-6, atol=1e-9)


def test_gradient_bad_targets_is_one_line_error(tmp_path: Path):
    _, net, ucsv, _, _, _ = _setup(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("zz\n1\n2\n3\n")
    r = CliRunner().invoke(cli, ["gradient", str(net), "--inputs", str(ucsv), "--outputs", "b",
                                 "--targets", str(bad)])
    assert r.exit_code == 2
    assert "must name the outputs" in r.output and "Traceback" not in r.output
