"""The linearized circuit as a DC sweep in ngspice (the fast small-signal route).

``.ac`` gives the small-signal response but costs one analysis per sample.
The same response is the DC solution of a *linear* circuit: every diode
replaced by its small-signal conductance ``g_d`` at that sample's operating
point, every independent source zeroed, and the drive applied as currents at
the output ports. Here that circuit is written once, with each ``g_d`` made
a sweepable quantity: a behavioural source ``i = v(j, c) · v(g_node)``
whose ``g_node`` is held by a voltage source set to ``g_d`` for each sample.
One DC sweep then measures a whole batch, at sweep speed.

``g_d`` is the slope of ngspice's own junction law (``circuits.junction``:
the exponential, recombination current and high-injection knee forward, the
cubic tail and breakdown reverse, at the model's temperature) at the
measured terminal voltage, plus ``gmin`` across the junction; with a series
resistance ``R_s`` the junction voltage first solves ``v_d = v_j + R_s
i(v_j)`` (bisection). Ideal and PWL diodes use the
stand-in device models the netlist writer gives ngspice, or the switch
(``IdealSwitch``) the hardware gives it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..circuits import CCCS, CCVS, VCCS, VCVS, Circuit, Diode, Gyrator, ShockleyDiode
from ..circuits.diode_models import GMIN, IdealDiode, PWLDiode
from ..circuits.junction import breakdown_voltage, junction_current_array
from ..circuits.netlist.writer import ControlledConductance, IdealSwitch, spice_diode_model


def junction_voltage(model: ShockleyDiode, v_d: np.ndarray, gmin: float = GMIN) -> np.ndarray:
    """The junction voltage behind ``R_s`` for terminal voltage ``v_d`` (bisection:
    ``v_j + R_s i(v_j)`` is increasing, and ``v_j`` lies between 0 and ``v_d``
    up to ``R_s I_s``)."""
    if model.rs == 0:
        return v_d
    bv = breakdown_voltage(model)
    slack = model.rs * (model.is_ + gmin * np.abs(v_d)) + 1e-15
    lo = np.minimum(v_d, 0.0) - slack
    hi = np.maximum(v_d, 0.0) + slack
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        f = mid + model.rs * junction_current_array(model, mid, gmin, bv)[0] - v_d
        lo = np.where(f < 0, mid, lo)
        hi = np.where(f < 0, hi, mid)
    return 0.5 * (lo + hi)


def small_signal_conductances(
    circuit: Circuit, forward_voltages: np.ndarray, gmin: float = GMIN,
    *, diodes: Sequence[Diode] | None = None, ideal_switch: IdealSwitch | None = None,
) -> np.ndarray:
    """``g_d`` (batch, n_diodes) from each diode's measured forward voltage
    ``V(a) - V(c)``; ``diodes``: ``circuit.diodes``, when the caller keeps that
    list (finding it scans every element); ``ideal_switch``: the switch ngspice
    was given for ideal and PWL diodes (its slope there is ``g_d``)."""
    out = np.zeros_like(forward_voltages)
    for k, d in enumerate(circuit.diodes if diodes is None else diodes):
        if ideal_switch is not None and isinstance(d.model, IdealDiode):
            out[:, k] = np.where(forward_voltages[:, k] > 0, ideal_switch.g_on,
                                 ideal_switch.g_off)
            continue
        if ideal_switch is not None and isinstance(d.model, PWLDiode):  # its exact law
            vf, slope = ideal_switch.law(d.model)
            out[:, k] = np.where(forward_voltages[:, k] > vf, slope + ideal_switch.g_off,
                                 ideal_switch.g_off)
            continue
        model = spice_diode_model(d.model)
        v_j = junction_voltage(model, forward_voltages[:, k], gmin)
        out[:, k] = junction_current_array(model, v_j, gmin)[1]
    return out


def adjoint_circuit(circuit: Circuit) -> Circuit:
    """The adjoint network (Director & Rohrer), whose MNA matrix is the transpose.

    Reciprocal elements stay. A gyrator ``g`` becomes ``-g``; a VCCS from
    control pair ``c`` to output pair ``o`` becomes one from ``o`` to ``c``
    with the same ``gm``; a VCVS of gain ``μ`` becomes a 0 V source across its
    output (a short that senses current) and a CCCS of gain ``-μ`` across its
    control pair. Current-controlled sources (F, H) are refused.
    """
    adj = Circuit(f"adjoint of {circuit.title}")
    for e in circuit:
        if isinstance(e, Gyrator):
            adj.add(e.replace(g=-e.g))
        elif isinstance(e, VCCS):
            adj.add(e.replace(pos=e.cpos, neg=e.cneg, cpos=e.pos, cneg=e.neg))
        elif isinstance(e, VCVS):
            sense = adj.add_voltage_source(f"v{e.name}_adj", e.pos, e.neg, 0.0).name
            adj.add_cccs(f"f{e.name}_adj", e.cpos, e.cneg, sense, -e.gain)
        elif isinstance(e, CCCS | CCVS):
            raise ValueError(
                f"{e.name}: the ngspice hardware has no adjoint for current-controlled "
                "sources (F, H); use the builtin hardware for this circuit"
            )
        else:
            adj.add(e.replace())
    return adj


def linear_sweep_circuit(
    circuit: Circuit, outputs: list[tuple[str, str]], *, adjoint: bool = False,
    floor: float = GMIN, ideal_switch: IdealSwitch | None = None,
) -> tuple[Circuit, list[ControlledConductance], list[str], list[str]]:
    """The linearized circuit (or its adjoint) with sweepable diode conductances.

    Returns ``(circuit, controlled conductances, conductance sources, drive
    sources)``, for ``NgspiceSimulator(circuit, conductances=...)``: setting
    ``conductance sources[k]`` to ``g_d - floor`` of diode ``k`` and ``drive
    sources[j]`` to the current injected into output ``j`` gives the
    linearized circuit's response at those values. Each diode's place holds a
    fixed resistor of conductance ``floor`` beside its controlled part: the
    controlled conductance is 0 at the sweep's first Newton iteration (its
    control node not yet set), and a node between two diodes would otherwise
    have nothing to hold it there (ngspice: "singular matrix"). A linearized
    diode is a conductance, which is reciprocal, so the adjoint of the
    linearized circuit is ``adjoint_circuit`` with the same conductances. With
    ``ideal_switch`` (what ngspice was given for ideal and PWL diodes) those
    diodes are one conductance each, their slope, with no series resistance.
    """
    c = adjoint_circuit(circuit) if adjoint else circuit.copy()
    for s in c.sources:
        c.elements[s.name] = s.replace(dc=0.0)
    controlled, g_sources = [], []
    for d in circuit.diodes:
        c.remove(d.name)
        switched = ideal_switch is not None and isinstance(d.model, IdealDiode | PWLDiode)
        model = spice_diode_model(d.model)
        junction = d.anode
        if model.rs > 0 and not switched:  # a stand-in's or a Shockley diode's own RS
            junction = f"{d.name}_lin_j"
            c.add_resistor(f"r{d.name}_lin_rs", d.anode, junction, resistance=model.rs,
                           trainable=False)
        c.add_resistor(f"r{d.name}_lin_floor", junction, d.cathode, conductance=floor,
                       trainable=False)
        g_node = f"{d.name}_lin_g"
        g_sources.append(c.add_voltage_source(f"v{d.name}_lin_g", g_node, "0", 0.0).name)
        controlled.append(ControlledConductance(f"b{d.name}_lin", junction, d.cathode, g_node))
    drives = []
    for k, (p, n) in enumerate(outputs):
        # dc current flows through the source from n to p: it is injected into p
        drives.append(c.add_current_source(f"ilin_drive{k}", n, p, 0.0).name)
    return c, controlled, g_sources, drives
