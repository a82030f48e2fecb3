"""Resistor–diode classifiers and regressors, built as circuits.

The network (every resistor trainable, conductances in ``[g_min, g_max]``):

* **differential inputs**: feature ``i`` drives two voltage sources,
  ``vxp<i>`` at node ``xp<i>`` with value ``s·x_i`` and ``vxn<i>`` at node
  ``xn<i>`` with value ``-s·x_i`` (``s`` = ``scale``, volts per standardised
  feature unit), so an effectively negative input weight is a conductance to
  the ``-x`` node;
* **bias rails**: constant sources ``vbp`` = ``+s`` (node ``bp``) and
  ``vbn`` = ``-s`` (node ``bn``);
* **hidden neurons**: node ``h<k>`` reached from every input node and both
  rails through resistors, with a diode from ground (anode) to ``h<k>``
  (cathode). For ideal diodes ``V(h_k) = ReLU(Σ_j g_kj V_j / Σ_j g_kj)``: the
  hidden node's voltage is the ReLU of the conductance-weighted average of its
  neighbours' voltages (a monDEQ neuron);
* ``activation="clamp"`` adds a second diode per hidden node, from ``h<k>``
  (anode) to a rail ``bc`` at ``clamp·s`` volts (cathode): the two diodes
  with their bias sources clip the neuron to ``[0, clamp·s]`` (the "clamp"
  activation, which is also a Zener-style breakdown at ``clamp·s``);
* optional **recurrent** resistors between hidden nodes (``dense``: every
  pair; ``sparse``: a seeded random fraction of pairs; ``none``);
* **differential outputs**: a pair of nodes ``op<c>``/``on<c>`` per output,
  each connected to every hidden node and both rails;
  ``y_c = V(op<c>) - V(on<c>)`` (volts), so output weights can be negative.

With ideal diodes the map ``x -> y`` is positively homogeneous in
``(s, x)``: scaling the inputs and rails by ``a > 0`` scales every node
voltage by ``a``. A real diode adds a forward drop (≈0.3–0.6 V for a 1N4148
at µA–mA), so a larger ``scale`` makes a network trained with ideal diodes
transfer better to real ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np

from ..circuits import D1N4148, Circuit, IdealDiode, PWLDiode, ShockleyDiode
from ..circuits.diode_models import DiodeModel
from .conductances import ConductanceRange
from .conductances import ConductanceRangeError as ConductanceRangeError  # public path

RECURRENT = ("none", "dense", "sparse")
DIODES = ("ideal", "pwl", "shockley")


#: hidden-neuron activations the builder makes from diodes
ACTIVATIONS = ("relu", "clamp")


def diode_model(name: str | DiodeModel) -> DiodeModel:
    """``"ideal"`` → ``IdealDiode()``, ``"pwl"`` → ``PWLDiode(vf=0.6, ron=0)``,
    ``"shockley"`` → the 1N4148-like ``D1N4148``; a model passes through."""
    if isinstance(name, IdealDiode | PWLDiode | ShockleyDiode):
        return name
    key = str(name).strip().lower()
    if key == "ideal":
        return IdealDiode()
    if key == "pwl":
        return PWLDiode(vf=0.6, ron=0.0)
    if key == "shockley":
        return D1N4148
    raise ValueError(f"unknown diode {name!r}; known: {', '.join(DIODES)}")


@dataclass
class Network:
    """A circuit plus how to drive and read it.

    ``inputs``: the per-sample source names (``vxp0, vxn0, vxp1, ...``);
    ``outputs``: ``(pos, neg)`` node pairs, one per output; ``scale``: volts per
    feature unit (and the rail voltage).
    """

    circuit: Circuit
    inputs: list[str]
    outputs: list[tuple[str, str]]
    n_features: int
    n_outputs: int
    hidden: int
    scale: float
    spec: dict = field(default_factory=dict)

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Source values (V), shape (batch, 2·n_features): ``[s·x_0, -s·x_0, s·x_1, ...]``."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected inputs of shape (batch, {self.n_features}), got {x.shape}")
        u = np.empty((x.shape[0], 2 * self.n_features))
        u[:, 0::2] = self.scale * x
        u[:, 1::2] = -self.scale * x
        return u

    def with_diodes(self, model: str | DiodeModel) -> Network:
        """A copy whose every diode uses ``model`` (e.g. ideal → ``D1N4148``)."""
        m = diode_model(model)
        c = self.circuit.copy()
        for d in c.diodes:
            c.elements[d.name] = d.replace(model=m, model_name=None)
        spec = dict(self.spec, diode=m.kind if not isinstance(model, str) else model)
        return Network(c, list(self.inputs), list(self.outputs), self.n_features,
                       self.n_outputs, self.hidden, self.scale, spec)


SIGNS = ("+", "-")
BIASES = ("rails", "current")


@overload
def build_network(
    n_features: int, n_outputs: int, hidden: int,
    *,
    recurrent: str | Sequence[str] = ...,
    sparsity: float = ...,
    diode: str | DiodeModel | Sequence[str | DiodeModel] = ...,
    g_range: ConductanceRange | None = ...,
    scale: float = ...,
    seed: int = ...,
    activation: str | Sequence[str] = ...,
    clamp: float = ...,
    sign: str | Sequence[str] = ...,
    bias: str | Sequence[str] = ...,
    gain: float = ...,
) -> Network: ...


@overload
def build_network(
    n_features: int, n_outputs: int, hidden: Sequence[int],
    *,
    recurrent: str | Sequence[str] = ...,
    sparsity: float = ...,
    diode: str | DiodeModel | Sequence[str | DiodeModel] = ...,
    g_range: ConductanceRange | None = ...,
    scale: float = ...,
    seed: int = ...,
    activation: str | Sequence[str] = ...,
    clamp: float = ...,
    sign: str | Sequence[str] = ...,
    bias: str | Sequence[str] = ...,
    gain: float = ...,
) -> Network | CascadeNetwork: ...


def build_network(
    n_features: int,
    n_outputs: int,
    hidden: int | Sequence[int],
    *,
    recurrent: str | Sequence[str] = "none",
    sparsity: float = 0.2,
    diode: str | DiodeModel | Sequence[str | DiodeModel] = "ideal",
    g_range: ConductanceRange | None = None,
    scale: float = 1.0,
    seed: int = 0,
    activation: str | Sequence[str] = "relu",
    clamp: float = 0.5,
    sign: str | Sequence[str] = "+",
    bias: str | Sequence[str] = "rails",
    gain: float = 1.0,
) -> Network | CascadeNetwork:
    """Build a resistor–diode network (see the module docstring).

    ``hidden`` is a neuron count, or a list of counts: one stage per hidden
    layer, joined by buffers (a :class:`CascadeNetwork`; a one-entry list is
    the single-stage ``Network``). ``recurrent``, ``diode``, ``activation``,
    ``sign`` (``"+"``: diode from ground, ``V(h) ≥ 0``; ``"-"``: diode to
    ground, ``V(h) ≤ 0``) and ``bias`` (``"rails"``: resistors to ``±scale``
    rails; ``"current"``: a fixed current source per neuron) take one value
    for every stage or one per stage. ``n_outputs`` differential output pairs
    (one per class for a classifier); ``sparsity`` is the fraction of hidden
    pairs coupled when ``recurrent="sparse"``. Conductances are seeded
    log-uniform in ``g_range``; ``gain`` is every buffer's initial gain.
    """
    sizes = [int(hidden)] if isinstance(hidden, int | np.integer) else [int(h) for h in hidden]
    if not sizes:
        raise ValueError("hidden must name at least one layer")
    if n_features < 1 or n_outputs < 1 or min(sizes) < 1:
        raise ValueError("n_features, n_outputs and hidden must all be >= 1")
    if not 0.0 < sparsity <= 1.0:
        raise ValueError(f"sparsity must be in (0, 1], got {sparsity}")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite voltage > 0, got {scale}")
    if not (math.isfinite(clamp) and clamp > 0):
        raise ValueError(f"clamp must be a finite fraction of scale > 0, got {clamp}")
    S = len(sizes)
    opts = {name: _per_stage(value, S, name, known) for name, value, known in (
        ("recurrent", recurrent, RECURRENT), ("activation", activation, ACTIVATIONS),
        ("sign", sign, SIGNS), ("bias", bias, BIASES), ("diode", diode, DIODES))}
    g_range = g_range or ConductanceRange()
    rng = np.random.default_rng(seed)
    stages: list[Network] = []
    n_in = n_features
    for s, h in enumerate(sizes):
        last = s == S - 1
        stages.append(_build_stage(
            n_in, n_outputs if last else 0, h, rng, g_range=g_range, scale=scale,
            sparsity=sparsity, clamp=clamp, **{k: v[s] for k, v in opts.items()},
            title=(f"diodenet classifier {n_features}-{h}-{n_outputs}" if S == 1
                   else f"diodenet stage {s} {n_in}-{h}"),
        ))
        n_in = h
    spec: dict[str, Any] = {
        "n_features": n_features, "n_outputs": n_outputs,
        "hidden": sizes[0] if S == 1 else sizes, "sparsity": sparsity,
        "g_min": g_range.g_min, "g_max": g_range.g_max, "levels": g_range.levels,
        "scale": scale, "seed": seed, "clamp": clamp,
        **{k: (v[0] if S == 1 else v) for k, v in opts.items()},
    }
    diodes = [d if isinstance(d, str) else d.kind for d in opts["diode"]]
    spec["diode"] = diodes[0] if S == 1 else diodes
    if S == 1:
        stages[0].spec = spec
        return stages[0]
    return CascadeNetwork(stages, n_features, n_outputs, sizes, scale, gain, spec)


def _per_stage(value, S: int, name: str, known: tuple[str, ...]) -> list:
    values = [value] * S if isinstance(value, str) or not isinstance(value, Sequence) \
        else list(value)
    if len(values) == 1:
        values = values * S
    if len(values) != S:
        raise ValueError(f"{name}: give one value or one per stage ({S}), got {len(values)}")
    for v in values:
        if isinstance(v, str) and v not in known:
            raise ValueError(f"unknown {name} {v!r}; known: {', '.join(known)}")
    return values


def _build_stage(
    n_features: int, n_outputs: int, hidden: int, rng: np.random.Generator, *,
    recurrent: str, sparsity: float, diode: str | DiodeModel, g_range: ConductanceRange,
    scale: float, activation: str, clamp: float, sign: str, bias: str, title: str,
) -> Network:
    """One stage: differential inputs, ``hidden`` diode neurons, and either
    ``n_outputs`` differential readout pairs or (``n_outputs=0``) the hidden
    node voltages as its outputs."""
    model = diode_model(diode)
    c = Circuit(title)
    inputs: list[str] = []
    drive_nodes: list[str] = []
    for i in range(n_features):
        for tag in ("p", "n"):
            c.add_voltage_source(f"vx{tag}{i}", f"x{tag}{i}", "0", dc=0.0)
            inputs.append(f"vx{tag}{i}")
            drive_nodes.append(f"x{tag}{i}")
    if bias == "rails" or n_outputs:  # current-biased neurons without a readout need none
        c.add_voltage_source("vbp", "bp", "0", dc=scale)
        c.add_voltage_source("vbn", "bn", "0", dc=-scale)
    rails = ["bp", "bn"]
    neuron_rails = rails if bias == "rails" else []
    names: list[tuple[str, str, str]] = []  # (name, n1, n2) in creation order
    for k in range(hidden):
        for src in drive_nodes + neuron_rails:
            names.append((f"rh{k}_{src}", src, f"h{k}"))
    pairs = [(a, b) for a in range(hidden) for b in range(a + 1, hidden)]
    if recurrent == "dense":
        chosen = pairs
    elif recurrent == "sparse":
        chosen = [p for p in pairs if rng.random() < sparsity]
    else:
        chosen = []
    for a, b in chosen:
        names.append((f"rr{a}_{b}", f"h{a}", f"h{b}"))
    outputs: list[tuple[str, str]] = []
    for j in range(n_outputs):
        for tag in ("p", "n"):
            node = f"o{tag}{j}"
            for src in [f"h{k}" for k in range(hidden)] + rails:
                names.append((f"ro{tag}{j}_{src}", src, node))
        outputs.append((f"op{j}", f"on{j}"))
    if n_outputs == 0:
        outputs = [(f"h{k}", "0") for k in range(hidden)]
    g = g_range.quantize(g_range.random(len(names), rng))
    for (name, n1, n2), gk in zip(names, g):
        c.add_resistor(name, n1, n2, conductance=float(gk), trainable=True)
    polarity = 1.0 if sign == "+" else -1.0
    for k in range(hidden):
        # "+": anode at ground, cathode at h_k: V(h_k) >= 0 (ideal), the ReLU neuron;
        # "-": the diode turned round, V(h_k) <= 0
        c.add_diode(f"d{k}", *(("0", f"h{k}") if sign == "+" else (f"h{k}", "0")), model)
    if bias == "current":
        # a fixed current per neuron, alternating in sign, so that the trained
        # conductances (which divide it) set each neuron's bias
        i_b = scale * math.sqrt(g_range.g_min * g_range.g_max)
        for k in range(hidden):
            c.add_current_source(f"ib{k}", "0", f"h{k}", dc=i_b * (1 if k % 2 == 0 else -1))
    if activation == "clamp":
        c.add_voltage_source("vbc", "bc", "0", dc=polarity * clamp * scale)
        for k in range(hidden):
            # a second diode to the clamp rail bounds |V(h_k)| by clamp·scale
            c.add_diode(f"dc{k}", *((f"h{k}", "bc") if sign == "+" else ("bc", f"h{k}")), model)
    spec = {"hidden": hidden, "recurrent": recurrent, "activation": activation,
            "sign": sign, "bias": bias, "diode": diode if isinstance(diode, str) else model.kind}
    return Network(c, inputs, outputs, n_features, n_outputs, hidden, scale, spec)


@dataclass
class CascadeNetwork:
    """Stages (``Network``s, one per hidden layer) joined by buffers: output
    ``k`` of stage ``s`` (the voltage of its neuron ``h<k>``) drives stage
    ``s+1``'s inputs ``vxp<k>`` with gain ``+a`` and ``vxn<k>`` with ``-a``
    (a differential pair, so later weights can be negative). The last stage
    carries the differential readout. ``encode`` is the first stage's."""

    stages: list[Network]
    n_features: int
    n_outputs: int
    hidden: list[int]
    scale: float
    gain: float = 1.0
    spec: dict = field(default_factory=dict)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.stages[0].encode(x)

    @property
    def inputs(self) -> list[str]:
        return self.stages[0].inputs

    def buffers(self) -> list:
        from ..cascades import Buffer

        out = []
        for s in range(len(self.stages) - 1):
            for k in range(self.stages[s].hidden):
                out.append(Buffer(s, k, s + 1, 2 * k, self.gain))
                out.append(Buffer(s, k, s + 1, 2 * k + 1, -self.gain))
        return out

    def hardware(self, kind: str, *, workers: int = 1):
        """The cascade on ``kind`` hardware: ``"builtin"`` settles the stages in
        order and measures the gradient stage by stage; ``"ngspice"`` settles
        the whole cascade as one netlist (E-element buffers) and measures its
        adjoint network in one settle."""
        from ..cascades import Cascade
        from ..linearization import make_hardware

        stages = [make_hardware(kind, n.circuit, n.inputs, n.outputs, workers=1)
                  for n in self.stages]
        if kind == "ngspice":
            return Cascade(stages, buffers=self.buffers(), forward="whole", backward="single",
                           whole=lambda c, i, o: make_hardware(kind, c, i, o, workers=workers))
        return Cascade(stages, buffers=self.buffers())

    def resistor_count(self) -> int:
        return sum(len(n.circuit.trainable_resistors) for n in self.stages)
