"""Well-posedness of a cascade with feedback buffers.

A feedback buffer (from stage ``s`` back to stage ``t ≤ s``) closes a loop,
so the cascade is no longer solved by settling the stages once. Write ``w``
for the values the buffers hold; settling is the fixed point
``w = Φ(w)``, ``Φ_b(w) = a_b y_{s_b}[j_b](u_{s_b}(w))``.

**Bound on a stage's gain.** Take a stage built from resistors, diodes with
one terminal on a node held by a source (or ground) and voltage sources
with one terminal at ground, where no diode touches a node held by a
buffer-driven input. In any linear region its Jacobian ``J = ∂V/∂u`` is
the transfer of the resistor network with some nodes tied to fixed
potentials (a conducting diode, or its small-signal conductance there).
That is a random walk absorbed at fixed nodes; ``J[n, i]`` is the
probability that the walk from ``n`` reaches input ``i`` first, and more
absorbing edges only lower it for the buffer-driven inputs (a diode on
such an input's node would be an edge *to* it, raising its transfer: a
loop through it can have no operating point, or several, whatever the
bound says). So ``0 ≤ J ≤ T`` entrywise, ``T`` the
transfer with every diode *open*. For an output ``V(p) - V(n)``:
``|J_out| ≤ T[p] + T[n] =: M``.

**Condition.** ``A[b, c] = |a_b| M_{s_b}[j_b, i_c]`` when buffer ``c``
drives stage ``s_b`` (else 0) bounds ``|∂Φ/∂w|`` entrywise everywhere, so
``Φ`` is a contraction in a weighted max-norm when the spectral radius
``ρ(A) < 1``: then the cascade has exactly one operating point, the
stage-by-stage (Gauss–Seidel) sweeps converge to it geometrically at rate
≤ ρ, and the adjoint sweeps (bounded by ``Aᵀ``, the same ρ) converge too.
For a feedforward cascade ``A`` is nilpotent and ``ρ = 0``. A loop with
``ρ(A) ≥ 1`` is refused, and so is a stage outside the class above (its
gain cannot be bounded this way).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..circuits import Circuit, Diode, Resistor, VoltageSource

if TYPE_CHECKING:
    from .cascade import Cascade


class IllPosedCascade(ValueError):
    """A feedback cascade whose operating point is not certified unique."""


def stage_gain_bound(circuit: Circuit, inputs: list[str], outputs: list,
                     buffered: frozenset[str] = frozenset()) -> np.ndarray:
    """``M`` (outputs × inputs): entrywise bound on ``|∂y/∂u|`` over every
    operating point (see the module docstring), for the columns of the
    ``buffered`` inputs (the ones buffers drive). Raises ``IllPosedCascade``
    for a stage outside the class the bound holds for."""
    fixed = {"0"}
    for e in circuit:
        if isinstance(e, VoltageSource):
            if "0" not in (e.pos, e.neg):
                raise IllPosedCascade(f"{circuit.title}: source {e.name} does not touch ground, "
                                      "so the loop gain cannot be bounded")
            fixed.add(e.neg if e.pos == "0" else e.pos)
        elif not isinstance(e, Resistor | Diode):
            raise IllPosedCascade(f"{circuit.title}: {e.name} ({e.kind}) is not a resistor, "
                                  "diode or grounded voltage source, so the loop gain "
                                  "cannot be bounded")
    held = {}  # node -> the buffer-driven input holding it
    for name in buffered:
        e = circuit.element(name, VoltageSource)
        held[e.pos if e.neg == "0" else e.neg] = name
    for d in circuit.diodes:
        if d.anode not in fixed and d.cathode not in fixed:
            raise IllPosedCascade(f"{circuit.title}: diode {d.name} has no terminal on a fixed "
                                  "node, so the loop gain cannot be bounded")
        for node in (d.anode, d.cathode):
            if node in held:
                raise IllPosedCascade(
                    f"{circuit.title}: diode {d.name} touches node {node!r}, which the "
                    f"buffer into {held[node]} drives: a conducting diode there raises the "
                    "loop's gain, which cannot then be bounded (the loop may have no "
                    "operating point, or several)")
    free = sorted({n for e in circuit for n in e.nodes} - fixed)
    idx = {n: k for k, n in enumerate(free)}
    col = {}
    for i, name in enumerate(inputs):
        e = circuit[name]
        assert isinstance(e, VoltageSource)
        col[e.pos if e.neg == "0" else e.neg] = i
    L = np.zeros((len(free), len(free)))
    R = np.zeros((len(free), len(inputs)))
    for r in circuit.resistors:
        for a, b in ((r.n1, r.n2), (r.n2, r.n1)):
            if a in idx:
                L[idx[a], idx[a]] += r.g
                if b in idx:
                    L[idx[a], idx[b]] -= r.g
                elif b in col:
                    R[idx[a], col[b]] += r.g
    try:
        T = np.linalg.solve(L, R) if free else np.zeros((0, len(inputs)))
    except np.linalg.LinAlgError:
        raise IllPosedCascade(f"{circuit.title}: a node has no resistive path to a source "
                              "with every diode open, so the loop gain cannot be bounded"
                              ) from None

    def row(n: str) -> np.ndarray:
        if n in idx:
            return np.abs(T[idx[n]])
        r = np.zeros(len(inputs))
        if n in col:
            r[col[n]] = 1.0
        return r

    out = [(o, "0") if isinstance(o, str) else o for o in outputs]
    return np.array([row(p) + row(n) for p, n in out]).reshape(len(out), len(inputs))


def loop_gain_bound(cascade: Cascade) -> float:
    """``ρ(A)``, the spectral radius of the buffer-coupling bound."""
    bs = cascade.buffers
    for s, hw in enumerate(cascade.stages):
        if not hw.runs_its_circuit:
            raise IllPosedCascade(f"stage {s} runs a physical instance that its nominal circuit "
                                  "does not describe, so its loop gain cannot be bounded")
    M = [stage_gain_bound(hw.circuit, list(hw.inputs), list(hw.outputs),
                          frozenset(hw.inputs[b.input] for b in bs if b.dst == s))
         for s, hw in enumerate(cascade.stages)]
    A = np.zeros((len(bs), len(bs)))
    for k, b in enumerate(bs):
        for c, d in enumerate(bs):
            if d.dst == b.src:
                A[k, c] = abs(b.gain) * M[b.src][b.output, d.input]
    return float(np.max(np.abs(np.linalg.eigvals(A)))) if len(bs) else 0.0


def check_well_posed(cascade: Cascade) -> float:
    """The loop-gain bound ``ρ``; raises ``IllPosedCascade`` naming why when
    the loop is not certified (``ρ ≥ 1``, or a stage outside the class)."""
    rho = loop_gain_bound(cascade)
    if rho >= 1.0:
        raise IllPosedCascade(
            f"feedback cascade not well-posed: the loop-gain bound rho(A) = {rho:.4g} >= 1 "
            "(buffer gains times each stage's diodes-open transfer); lower the feedback "
            "gains until rho < 1"
        )
    return rho
