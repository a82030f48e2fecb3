"""Converters between feedforward ReLU networks and resistor–ideal-diode cascades.

One stage per ``Linear`` layer. Stage ``s`` takes the previous layer's
values ``z`` differentially, as sources ``vxp<i> = z_i`` and ``vxn<i> = -z_i``
(stage 0: ``z = x``, see ``differential``; later stages: buffers of gain
``±σ``), plus rails ``vbp = +1 V`` and ``vbn = -1 V``. Neuron ``k`` is node
``n<k>`` reached through conductances ``c_k w⁺_ki`` from ``xp<i>``,
``c_k w⁻_ki`` from ``xn<i>`` and ``c_k b^±_k`` from the rails, so with
``G_k = c_k S_k``, ``S_k = Σ_i |w_ki| + |b_k|``::

    V(n_k) = act((Σ_j g_kj V_j) / G_k) = act(w_k·z + b_k) / S_k

(``act`` = ReLU through an ideal diode from ground to ``n<k>`` when a ``ReLU``
follows the layer, the identity otherwise; ``ReLU(z/S) = ReLU(z)/S`` since
``S > 0``). The buffers out of the stage (or the output buffers of the last
one) have gains ``±S_k``, which restore the scale: the cascade computes the
network's function exactly, up to the circuit's own round-off. ``c_k`` is a
power of two placing the largest conductance near ``g_max``.

``to_mlp`` reads any cascade of such stages back: with ``σ_k`` the magnitude
of the first gain out of neuron ``k`` (the output gain for the last stage)::

    W[k, j] = σ_k / G_k · Σ_{inputs i fed from j} g_ki · a_i / σ_j
    b[k]    = σ_k / G_k · Σ_{rails r} g_kr V_r
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..circuits import Circuit, Diode, IdealDiode, Resistor, VoltageSource

if TYPE_CHECKING:
    from .cascade import Cascade

RAIL = 1.0  # V, the bias rails' magnitude


def differential(x: np.ndarray) -> np.ndarray:
    """The first stage's source values for features ``x`` (batch, d):
    ``[x_0, -x_0, x_1, -x_1, ...]`` (V)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"differential: features must be (batch, d), got shape {x.shape}")
    u = np.empty((x.shape[0], 2 * x.shape[1]))
    u[:, 0::2], u[:, 1::2] = x, -x
    return u


def _layers(module: torch.nn.Module) -> list[tuple[torch.nn.Linear, bool]]:
    """``[(Linear, followed by ReLU)]``; refuses every other layer by name."""
    children = list(module.children()) if isinstance(module, torch.nn.Sequential) else [module]
    out: list[tuple[torch.nn.Linear, bool]] = []
    for i, layer in enumerate(children):
        if isinstance(layer, torch.nn.Linear):
            out.append((layer, False))
        elif isinstance(layer, torch.nn.ReLU):
            if not out or out[-1][1]:
                raise ValueError(f"layer {i} (ReLU) does not follow a Linear layer")
            out[-1] = (out[-1][0], True)
        else:
            raise ValueError(
                f"layer {i} ({type(layer).__name__}) has no resistor–diode stage: "
                "from_mlp takes an nn.Sequential of Linear and ReLU layers only"
            )
    if not out:
        raise ValueError("from_mlp: the module has no Linear layer")
    return out


def _stage(W: np.ndarray, b: np.ndarray, relu: bool, g_max: float, s: int
           ) -> tuple[Circuit, list[str], list[tuple[str, str]], np.ndarray]:
    """One layer stage; returns ``(circuit, inputs, outputs, S)``."""
    n_out, n_in = W.shape
    c = Circuit(f"layer {s} {n_in}-{n_out}")
    inputs = []
    for i in range(n_in):
        for tag in ("p", "n"):
            inputs.append(c.add_voltage_source(f"vx{tag}{i}", f"x{tag}{i}", "0", 0.0).name)
    c.add_voltage_source("vbp", "bp", "0", RAIL)
    c.add_voltage_source("vbn", "bn", "0", -RAIL)
    S = np.zeros(n_out)
    for k in range(n_out):
        row = [*W[k], b[k] / RAIL]
        big = max(abs(v) for v in row)
        S[k] = sum(abs(v) for v in row)
        node = f"n{k}"
        if big == 0:  # a dead neuron: held at 0 V by one resistor
            c.add_resistor(f"rn{k}_g", node, "0", conductance=g_max)
            S[k] = 1.0
        else:
            ck = 2.0 ** math.floor(math.log2(g_max / big))
            for i, v in enumerate(row):
                if v == 0:
                    continue
                src = (f"x{'p' if v > 0 else 'n'}{i}" if i < n_in
                       else ("bp" if v > 0 else "bn"))
                c.add_resistor(f"rn{k}_{src}", src, node, conductance=ck * abs(v))
        if relu:
            c.add_diode(f"d{k}", "0", node, IdealDiode())
    used = {n for r in c.resistors for n in r.nodes}
    for node in [f"x{t}{i}" for i in range(n_in) for t in "pn"] + ["bp", "bn"]:
        if node not in used:  # a source no weight uses: a fixed load keeps the node valid
            c.add_resistor(f"rl_{node}", node, "0", conductance=g_max, trainable=False)
    return c, inputs, [(f"n{k}", "0") for k in range(n_out)], S


def from_mlp(module: torch.nn.Module, *, g_max: float = 1e-3, hardware: str = "builtin",
             workers: int = 1) -> Cascade:
    """A cascade of resistor–ideal-diode stages computing ``module`` (an
    ``nn.Sequential`` of ``Linear`` and ``ReLU`` layers) exactly, on
    ``hardware`` (``"builtin"`` or ``"ngspice"``). Its inputs are
    ``differential(x)``; its outputs are ``module(x)``. Any other layer is
    refused with a ``ValueError`` naming it."""
    from ..linearization import make_hardware
    from .cascade import Buffer, Cascade

    if not (math.isfinite(g_max) and g_max > 0):
        raise ValueError(f"from_mlp: g_max must be a conductance > 0 (S), got {g_max!r}")
    layers = _layers(module)
    for i, (lin, _) in enumerate(layers):
        for name, p in (("weight", lin.weight), ("bias", lin.bias)):
            if p is not None and not bool(torch.isfinite(p).all()):
                raise ValueError(f"from_mlp: Linear layer {i}'s {name} holds NaN or inf")
    stages, buffers = [], []
    S_prev: np.ndarray | None = None
    for s, (lin, relu) in enumerate(layers):
        W = lin.weight.detach().to(torch.float64).cpu().numpy()
        b = (lin.bias.detach().to(torch.float64).cpu().numpy() if lin.bias is not None
             else np.zeros(W.shape[0]))
        c, ins, outs, S = _stage(W, b, relu, g_max, s)
        stages.append(make_hardware(hardware, c, ins, outs, workers=workers))
        if S_prev is not None:
            for j, sj in enumerate(S_prev):
                buffers += [Buffer(s - 1, j, s, 2 * j, float(sj)),
                            Buffer(s - 1, j, s, 2 * j + 1, -float(sj))]
        S_prev = S
    kw: dict = {}
    if hardware == "ngspice":
        kw = dict(forward="whole", backward="single",
                  whole=lambda c, i, o: make_hardware(hardware, c, i, o, workers=workers))
    assert S_prev is not None
    cascade = Cascade(stages, buffers=buffers, output_gains=S_prev.tolist(), **kw)
    return cascade


class _LayerMap:
    """Index arrays turning a layer stage's conductances into ``(W, b)``."""

    def __init__(self, hw, s: int) -> None:
        c: Circuit = hw.circuit
        outs = [o if isinstance(o, str) else o[0] for o in hw.outputs]
        if any(not isinstance(o, str) and o[1] != "0" for o in hw.outputs):
            raise ValueError(f"to_mlp: stage {s} has a differential output; "
                             "its neurons must be single nodes")
        neuron = {n: k for k, n in enumerate(outs)}
        source = {}
        for e in c:
            if isinstance(e, VoltageSource):
                if e.neg != "0":
                    raise ValueError(f"to_mlp: stage {s} source {e.name} is not grounded")
                source[e.pos] = e
            elif isinstance(e, Diode):
                if not (isinstance(e.model, IdealDiode) and e.anode == "0" and e.cathode in neuron):
                    raise ValueError(f"to_mlp: stage {s} diode {e.name} is not an ideal diode "
                                     "from ground to a neuron (a ReLU)")
            elif not isinstance(e, Resistor):
                raise ValueError(f"to_mlp: stage {s} element {e.name} ({e.kind}) is not "
                                 "part of a layer stage")
        relu = {d.cathode for d in c.diodes}
        if relu and relu != set(outs):
            raise ValueError(f"to_mlp: stage {s} has ReLU on some neurons only")
        self.relu = bool(relu)
        self.k, self.col, self.rail = [], [], []
        inputs = {name: i for i, name in enumerate(hw.inputs)}
        for r in hw.trainable:
            e = c[r]
            assert isinstance(e, Resistor)
            if e.n2 in neuron and (e.n1 in source or e.n1 == "0"):
                node, other = e.n2, e.n1
            elif e.n1 in neuron and (e.n2 in source or e.n2 == "0"):
                node, other = e.n1, e.n2
            else:
                raise ValueError(f"to_mlp: stage {s} resistor {r} does not join a source "
                                 "to a neuron (a layer stage has no other resistors)")
            self.k.append(neuron[node])
            src = source.get(other)
            is_input = src is not None and src.name in inputs
            self.col.append(inputs[src.name] if is_input else -1)  # type: ignore[union-attr]
            self.rail.append(0.0 if src is None or is_input else src.dc)
        for r in c.resistors:
            if r.name not in hw.trainable and not ("0" in r.nodes and (
                    r.n1 in source or r.n2 in source)):
                raise ValueError(f"to_mlp: stage {s} fixed resistor {r.name} is not a "
                                 "load across a source")
        self.n_out, self.n_in = len(outs), len(hw.inputs)


def mlp_parameters(
    cascade: Cascade, g: torch.Tensor | None = None, gains: torch.Tensor | None = None
) -> list[tuple[torch.Tensor, torch.Tensor, bool]]:
    """``[(W, b, relu)]`` of the equivalent network, as torch functions of the
    conductances ``g`` (``cascade.trainable`` order) and ``gains``
    (``cascade.gain_names`` order), so autograd can differentiate them.
    Stage 0's inputs are taken as ``differential(x)``."""
    g = torch.as_tensor(cascade.conductances()) if g is None else g
    gains = torch.as_tensor(cascade.gains) if gains is None else gains
    nb = len(cascade.buffers)
    maps = [_LayerMap(hw, s) for s, hw in enumerate(cascade.stages)]
    if maps[0].n_in % 2:
        raise ValueError("to_mlp: stage 0 needs differential input pairs")
    # sigma[s][j]: the scale of stage s's output j in network units
    sigma: list[list[torch.Tensor]] = [[torch.ones((), dtype=g.dtype)] * m.n_out for m in maps]
    seen: set[tuple[int, int]] = set()
    into: dict[tuple[int, int], tuple[int, int]] = {}  # (stage, input) -> (buffer, source output)
    for k, b in enumerate(cascade.buffers):
        if b.dst != b.src + 1:
            raise ValueError("to_mlp: a feedback or skip buffer has no feedforward layer")
        into[(b.dst, b.input)] = (k, b.output)
        if (b.src, b.output) not in seen:
            sigma[b.src][b.output] = gains[k].abs()
            seen.add((b.src, b.output))
    sigma[-1] = [gains[nb + j].abs() for j in range(maps[-1].n_out)]
    out = []
    for s, (m, part) in enumerate(zip(maps, torch.split(g, cascade._sizes))):
        n_prev = m.n_in // 2 if s == 0 else maps[s - 1].n_out
        idx = torch.tensor(m.k)
        G = torch.zeros(m.n_out, dtype=g.dtype).index_add(0, idx, part)
        W = torch.zeros(m.n_out, n_prev, dtype=g.dtype)
        bias = torch.zeros(m.n_out, dtype=g.dtype).index_add(
            0, idx, part * torch.tensor(m.rail, dtype=g.dtype))
        for r, (k, i) in enumerate(zip(m.k, m.col)):
            if i < 0:
                continue
            ratio: float | torch.Tensor
            if s == 0:
                j, ratio = i // 2, (1.0 if i % 2 == 0 else -1.0)
            else:
                kb, j = into[(s, i)]
                ratio = gains[kb] / sigma[s - 1][j]
            W = W.index_put((torch.tensor(k), torch.tensor(j)), part[r] * ratio, accumulate=True)
        scale = torch.stack(sigma[s]) / G
        out.append((scale[:, None] * W, scale * bias, m.relu))
    return out


def to_mlp(cascade: Cascade) -> torch.nn.Sequential:
    """The equivalent ``nn.Sequential`` of ``Linear`` (and ``ReLU``) layers, in
    float64, for a cascade of layer stages (what ``from_mlp`` builds; see the
    module docstring). Anything else is refused with the reason."""
    layers: list[torch.nn.Module] = []
    with torch.no_grad():
        for W, b, relu in mlp_parameters(cascade):
            lin = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.float64)
            lin.weight.copy_(W)
            lin.bias.copy_(b)
            layers.append(lin)
            if relu:
                layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)
