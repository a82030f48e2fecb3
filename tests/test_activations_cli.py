"""``diodenet activations``: JSON curves against the formulas written out here, the PNG, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from diodenet.cli.main import cli


def test_json_curves_follow_the_design_table() -> None:
    r = 2e3
    result = CliRunner().invoke(cli, ["activations", "--json", "--r", str(r), "--vmin", "-3",
                                      "--vmax", "4", "--points", "141"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    x = np.array(data["x"])
    np.testing.assert_allclose(x, np.linspace(-3, 4, 141), rtol=0, atol=1e-14)
    c = {k: np.array(v) for k, v in data["curves"].items()}
    relu = np.maximum(x, 0)
    np.testing.assert_array_equal(c["relu"], relu)
    np.testing.assert_allclose(c["ideal_diode"], relu, atol=1e-15)
    np.testing.assert_allclose(c["forward_drop"], np.maximum(x - 0.7, 0), atol=1e-15)
    np.testing.assert_allclose(c["on_resistance"], relu / (1 + 500 / r), atol=1e-15)
    np.testing.assert_allclose(c["clamp"], np.clip(x, -1, 1), atol=1e-15)
    np.testing.assert_allclose(c["zener"], np.maximum(x - 0.6, 0) - np.maximum(-1.5 - x, 0),
                               atol=1e-15)
    # Diode ReLU r·i satisfies KVL with the Shockley law: x = nVt ln(1 + i/Is) + r i.
    i = c["diode_relu"] / r
    nvt = 1.38064852e-23 * 300.15 / 1.6021766208e-19  # kT/q as ngspice 39 computes it
    fwd = x > 0.2  # where i >> Is, so that log1p(i/Is) is well conditioned
    np.testing.assert_allclose(nvt * np.log1p(i[fwd] / 1e-14) + r * i[fwd], x[fwd], atol=1e-9)
    # Reverse bias: i = Is (e^{v/nVt} - 1) with v ~ x, i.e. -Is to 1e-6 relative.
    np.testing.assert_allclose(i[x < -0.5], -1e-14, rtol=1e-6)
    assert data["units"] == {"x": "V", "curves": "V"}
    assert data["r_ohms"] == r


def test_png_figure(tmp_path: Path) -> None:
    out = tmp_path / "act.png"
    result = CliRunner().invoke(cli, ["activations", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000
    assert "wrote" in result.output


def test_user_errors_are_one_line() -> None:
    runner = CliRunner()
    for args in (["--vmin", "2", "--vmax", "1"], ["--r", "0"], ["--points", "1"],
                 ["--out", "figure.pdf"]):
        result = runner.invoke(cli, ["activations", *args])
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert result.output.strip().count("\n") == 0, result.output
