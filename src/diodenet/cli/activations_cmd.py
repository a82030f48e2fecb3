"""``diodenet activations``: the activation functions that diode one-ports induce.

Each element sits behind a series resistor ``r`` driven by a voltage ``x``;
the curves are the design table's activations in volts: ``r · i`` (impedance
form) for the diodes, the node voltage (admittance form) for the clamp.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import click

from ._io import dump_json
from .main import UserError, cli, user_errors

if TYPE_CHECKING:
    from ..activations import OnePort


class ActivationSamples(TypedDict):
    """What ``sample_activations`` returns (and ``--json`` prints); volts throughout."""

    x: list[float]
    curves: dict[str, list[float]]
    r_ohms: float
    units: dict[str, str]
    forms: dict[str, str]
    descriptions: dict[str, str]


def _elements() -> dict[str, tuple[OnePort, str]]:
    """name -> (one-port, description) for every curve (ReLU is added separately)."""
    from ..activations import ClampPort, IdealDiodePort, PWLDiodePort, ShockleyPort, ZenerPort

    return {
        "ideal_diode": (IdealDiodePort(), "ideal diode: relu(x)"),
        "forward_drop": (PWLDiodePort(vf=0.7), "diode with 0.7 V drop: relu(x - 0.7)"),
        "on_resistance": (PWLDiodePort(ron=500.0),
                          "diode with 500 ohm on-resistance: relu(x)/(1 + 500/r)"),
        "clamp": (ClampPort(low=-1.0, high=1.0), "clamp to [-1, 1] V: clip(x, -1, 1)"),
        "zener": (ZenerPort(bv=1.5, vf=0.6), "Zener, 0.6 V forward, 1.5 V breakdown"),
        "diode_relu": (ShockleyPort(is_=1e-14),
                       "Shockley diode Is = 1e-14 A, N = 1: r * i (diode ReLU)"),
    }


#: more samples than a plot or a table can show (10⁸ ran for minutes)
MAX_POINTS = 1_000_000


def sample_activations(r: float, vmin: float, vmax: float, points: int) -> ActivationSamples:
    """The sampled curves: ``{"x": [...], "curves": {name: [...]}, ...}`` (volts)."""
    import torch

    if not vmin < vmax:
        raise ValueError(f"--vmin must be below --vmax, got {vmin} >= {vmax}")
    if not math.isfinite(vmax - vmin):
        raise ValueError(f"--vmin {vmin:g} to --vmax {vmax:g}: the span overflows a float")
    if not 2 <= points <= MAX_POINTS:
        raise ValueError(f"--points must be between 2 and {MAX_POINTS:,}, got {points}")
    x = torch.linspace(vmin, vmax, points, dtype=torch.float64)
    curves: dict[str, list[float]] = {"relu": torch.relu(x).tolist()}
    forms = {"relu": "reference"}
    descriptions = {"relu": "max(x, 0)"}
    for name, (port, text) in _elements().items():
        curves[name] = port.activation(x, r).tolist()
        forms[name] = port.activation_form
        descriptions[name] = text
    return {
        "x": x.tolist(),
        "curves": curves,
        "r_ohms": r,
        "units": {"x": "V", "curves": "V"},
        "forms": forms,
        "descriptions": descriptions,
    }


def _plot(data: ActivationSamples, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = data["x"]
    curves = data["curves"]
    r = float(data["r_ohms"])
    fig, (ax, ax_i) = plt.subplots(1, 2, figsize=(11, 4.5))
    ax.plot(x, curves["relu"], "k--", lw=2.5, label="ReLU", zorder=1)
    for name, y in curves.items():
        if name != "relu":
            ax.plot(x, y, lw=1.4, label=f"{name} ({data['forms'][name]})")
    ax.set_xlabel("applied voltage x (V)")
    ax.set_ylabel("activation (V): r·i, or node voltage for the clamp")
    ax.set_title(f"activations of diode one-ports, r = {r:g} Ω")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    i_ma = [1e3 * v / r for v in curves["diode_relu"]]
    relu_ma = [1e3 * v / r for v in curves["relu"]]
    ax_i.plot(x, relu_ma, "k--", lw=2, label="ReLU(x)/r")
    ax_i.plot(x, i_ma, lw=1.6, label="diode ReLU current")
    ax_i.set_xlabel("applied voltage x (V)")
    ax_i.set_ylabel("current (mA)")
    ax_i.set_title("Shockley diode in series with r")
    ax_i.grid(alpha=0.3)
    ax_i.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


@cli.command("activations")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the figure (PNG) here.")
@click.option("--json", "as_json", is_flag=True, help="Print the sampled curves as JSON.")
@click.option("--r", "r", type=float, default=1e3, show_default=True,
              help="Series resistance r (ohms): the resolvent step.")
@click.option("--vmin", type=float, default=-2.0, show_default=True, help="Lowest x (V).")
@click.option("--vmax", type=float, default=3.0, show_default=True, help="Highest x (V).")
@click.option("--points", type=int, default=501, show_default=True, help="Samples of x.")
def activations(out: Path | None, as_json: bool, r: float, vmin: float, vmax: float,
                points: int) -> None:
    """Plot or print the activations induced by diode elements, against ReLU.

    Each element is driven through a series resistor r by a voltage x; the
    curves are r·i (impedance form) or, for the clamp, the node voltage
    (admittance form), all in volts.
    """
    with user_errors():
        data = sample_activations(r, vmin, vmax, points)
        if out is not None:
            if out.suffix.lower() != ".png":
                raise UserError(f"--out must name a .png file, got {out}")
            _plot(data, out)
    if as_json:
        click.echo(dump_json(data))
        return
    for name, text in data["descriptions"].items():
        click.echo(f"{name:14s} {text}")
    if out is not None:
        click.echo(f"wrote {out}")
