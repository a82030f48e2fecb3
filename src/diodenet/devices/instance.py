"""``Instance``: one seeded physical realisation of a nominal circuit.

An instance is drawn once from ``(spec, seed)``: each trainable device's
tolerance factor ``f_k`` and stuck state, each diode's parameters. Programming
it with nominal conductances ``g`` (what the trainer asks for) gives the
conductances the devices actually take::

    g_actual,k = clip(g_k · f_k · (1 + ε_k), lo, hi)     (ε redrawn on every write)
    g_actual,k = OPEN_CONDUCTANCE, lo or hi               (a stuck device; lo no
                                                          lower than OPEN_CONDUCTANCE)

``physical_circuit`` writes those values, the drawn diode models (at the
instance's temperature) and the crossbar wires into a netlist of its own; the
nominal circuit is never changed. The same ``(spec, seed)`` always gives the
same instance and the same sequence of write errors.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..circuits import Circuit, Diode, PWLDiode, ShockleyDiode
from ..utils.numbers import is_whole
from .spec import OPEN_CONDUCTANCE, DeviceSpec
from .temperature import shockley_at_temperature
from .wires import lay_out_crossbar

# independent random streams of one instance, by purpose
_TOLERANCE, _STUCK, _DIODES, _WRITES, _READS = range(5)


class Instance:
    """A physical instance of ``circuit`` under ``spec``, drawn from ``seed``.

    ``circuit`` fixes which devices exist (its trainable resistors, in
    order) and which diodes; its conductances are only the nominal starting
    point. Attributes: ``factors`` (k,) tolerance factors, ``stuck`` (k,)
    ``None``/``"open"``/``"lo"``/``"hi"``, ``diode_models`` by diode name.
    """

    def __init__(self, circuit: Circuit, spec: DeviceSpec | None = None, seed: int = 0) -> None:
        if spec is not None and not isinstance(spec, DeviceSpec):
            raise ValueError(f"spec must be a DeviceSpec (DeviceSpec(**...) for a dict), "
                             f"got {type(spec).__name__}")
        if not is_whole(seed) or seed < 0:
            raise ValueError(f"an instance's seed is an int >= 0 (each seed one instance), "
                             f"got {seed!r}")
        self.spec = spec or DeviceSpec()
        self.seed = int(seed)
        self.trainable = [r.name for r in circuit.trainable_resistors]
        k = len(self.trainable)
        s = self.spec
        rng = self._rng(_TOLERANCE)
        if s.tolerance == 0:
            self.factors = np.ones(k)
        elif s.distribution == "lognormal":
            self.factors = np.exp(s.tolerance * rng.standard_normal(k))
        else:
            self.factors = np.maximum(1.0 + s.tolerance * rng.standard_normal(k), 0.01)
        rng = self._rng(_STUCK)
        draw, side = rng.random(k), rng.random(k)
        self.stuck: list[str | None] = [
            "open" if d < s.stuck_open else
            ("lo" if h < 0.5 else "hi") if d < s.stuck_open + s.stuck_at_bound else None
            for d, h in zip(draw, side)
        ]
        rng = self._rng(_DIODES)
        self.diode_models = {d.name: self._draw_diode(d, rng) for d in circuit.diodes}
        self._writes = self._rng(_WRITES)
        #: the readout's noise stream (used by ``InstanceHardware``)
        self.read_rng = self._rng(_READS)
        self.writes = 0

    def _rng(self, purpose: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, purpose, 0x1D10DE])

    def _draw_diode(self, d: Diode, rng: np.random.Generator) -> object:
        s, m = self.spec, d.model
        z = rng.standard_normal(3)  # drawn for every diode, so streams stay aligned
        if isinstance(m, ShockleyDiode):
            if s.diode_is or s.diode_n or s.diode_rs:
                m = replace(m, is_=m.is_ * float(np.exp(s.diode_is * z[0])),
                            n=m.n * max(1.0 + s.diode_n * float(z[1]), 0.1),
                            rs=m.rs * max(1.0 + s.diode_rs * float(z[2]), 0.0))
            if s.temperature is not None:
                m = shockley_at_temperature(m, s.temperature, eg=s.eg, xti=s.xti)
        elif isinstance(m, PWLDiode) and s.diode_vf:
            m = replace(m, vf=m.vf + s.diode_vf * float(z[0]))
        return m

    # ------------------------------------------------------------ programming
    def program(self, g: np.ndarray) -> np.ndarray:
        """The conductances (S) the devices take when written with nominal
        ``g`` (one write of every device: a fresh programming error each)."""
        g = np.asarray(g, dtype=float).reshape(-1)
        if g.shape != (len(self.trainable),):
            raise ValueError(f"expected {len(self.trainable)} conductances, got {g.shape}")
        if not (np.isfinite(g).all() and (g > 0).all()):
            k = int(np.flatnonzero(~(np.isfinite(g) & (g > 0)))[0])
            raise ValueError(f"conductance of {self.trainable[k]} must be finite and > 0 S, "
                             f"got {g[k]!r}")
        s = self.spec
        self.writes += 1
        if s.ideal_resistors:
            return g.copy()
        out = g * self.factors
        if s.write_noise:
            out = out * (1.0 + s.write_noise * self._writes.standard_normal(len(g)))
        lo, hi = s.g_bounds
        floor = max(lo, OPEN_CONDUCTANCE)  # a device never reaches 0 S: it is open
        out = np.clip(out, floor, hi)
        for i, state in enumerate(self.stuck):
            if state is not None:
                out[i] = OPEN_CONDUCTANCE if state == "open" else (floor if state == "lo" else hi)
        return out

    def physical_circuit(self, nominal: Circuit, g_actual: np.ndarray | None = None) -> Circuit:
        """The instance's own netlist: ``nominal`` with the devices at
        ``g_actual`` (default: one ``program`` of ``nominal``'s conductances),
        the instance's diode models, and the crossbar wires."""
        c = nominal.copy()
        if [r.name for r in c.trainable_resistors] != self.trainable:
            raise ValueError("this instance was drawn for a circuit with other trainable devices")
        if g_actual is None:
            g_actual = self.program(np.array([r.g for r in c.trainable_resistors]))
        if not self.spec.ideal_resistors:
            c.set_conductances(dict(zip(self.trainable, np.asarray(g_actual, dtype=float))))
        if not self.spec.ideal_diodes:
            for d in c.diodes:
                if d.name not in self.diode_models:
                    raise ValueError(f"diode {d.name!r} is not part of this instance")
                c.elements[d.name] = d.replace(model=self.diode_models[d.name],
                                               model_name=f"d{d.name}_instance")
        if self.spec.wire_resistance:
            c = lay_out_crossbar(c, self.spec.wire_resistance)
        c.title = f"{nominal.title} (instance {self.seed})"
        return c
