"""The built-in hardware's small-signal drive, as right-hand sides of its MNA.

A linearized settle is driven by a ``Drive``: currents into output ports and
small-signal values of input sources. ``drive_rows`` turns it into the
right-hand sides the switched solve reads: currents into the free rows
(``r_f``) and the driven nodes' rows (``r_D``), the driven nodes' source
values (``r_br``), and the output ports' currents as one block ``c_out``
(batch, outputs), whose solves the re-programming has already made (its
``O G⁻¹``). ``switched_free_set`` says, per sample, which elements the switched
kernel leaves free and with what conductance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from .hardware import Drive, Measurement

if TYPE_CHECKING:
    from .builtin import BuiltinHardware


@dataclass(frozen=True)
class DriveRows:
    """A drive as right-hand sides (see the module docstring). ``applied``
    (batch, inputs): each input's small-signal value; ``drives_D``: some
    current lands on a driven node's row; ``driven_inputs``: some input source
    is driven (with none, the usual adjoint, the driven nodes stay at 0)."""

    r_f: Tensor
    r_D: Tensor
    r_br: Tensor
    c_out: Tensor
    applied: np.ndarray
    drives_D: bool
    driven_inputs: bool


def drive_rows(hw: BuiltinHardware, drive: Drive, batch: int) -> DriveRows:
    """``drive`` (already checked: ``hardware.check_drive``) on ``hw``'s rows."""
    st = hw._st
    nn = st.n_nodes
    dtype, device = hw.dtype, hw.device
    r_D = torch.zeros(batch, len(st.driven), dtype=dtype, device=device)
    r_br = torch.zeros_like(r_D)
    c_out = torch.zeros(batch, len(hw.outputs), dtype=dtype, device=device)
    r_f = torch.zeros(batch, len(st.free), dtype=dtype, device=device)
    applied = np.zeros((batch, len(hw.inputs)))
    drives_D = False
    ports = [(int(key[1]), value) for key, value in drive.items() if isinstance(key, tuple)]
    if ports:  # all output ports at once: (batch, k) currents
        js = np.array([j for j, _ in ports])
        vals = torch.as_tensor(np.stack([v if np.shape(v) == (batch,) else
                                         np.broadcast_to(v, (batch,)) for _, v in ports], 1),
                               dtype=dtype, device=device)
        if np.array_equal(js, np.arange(c_out.shape[1])):  # every port, in order
            c_out = vals
        else:
            c_out.index_add_(1, torch.as_tensor(js, device=device), vals)
        for side, sign in ((0, 1.0), (1, -1.0)):  # a port at a driven node
            rows = hw._driven_row[hw._out_cols[js, side]]
            hit = np.flatnonzero(rows >= 0)
            if hit.size:
                drives_D = True
                r_D.index_add_(1, torch.as_tensor(rows[hit], device=device),
                               sign * vals[:, torch.as_tensor(hit, device=device)])
    driven_inputs = False
    for key, value in drive.items():
        if isinstance(key, tuple):
            continue
        driven_inputs = True
        val = torch.as_tensor(np.broadcast_to(value, (batch,)).copy(), dtype=dtype, device=device)
        j = hw.inputs.index(key)
        applied[:, j] = val.cpu().numpy()
        kind, a, b = hw._input_kind[j]
        if kind == "vd":
            r_br[:, a] += val
        elif kind == "vf":
            r_f[:, a] += val
        else:  # a current source between a (pos) and b (neg)
            for col, sign in ((a, -1.0), (b, 1.0)):
                if col < nn and st.pos_f[col] >= 0:
                    r_f[:, int(st.pos_f[col])] += sign * val
                elif hw._driven_row[col] >= 0:
                    drives_D = True
                    r_D[:, int(hw._driven_row[col])] += sign * val
    return DriveRows(r_f, r_D, r_br, c_out, applied, drives_D, driven_inputs)


def switched_free_set(measurement: Measurement, impedance: Tensor | None, *,
                      dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """Per sample: which elements are free in the switched kernel and their ``g``.

    Admittance port: a short (conducting, ``g_d = ∞``) clamps ``ẑ = 0``;
    otherwise ``ŵ = -g_d ẑ``. Impedance port (``z`` = current; ``impedance``
    marks them; ``None``: there are none): a short is free with ``ŵ = 0``, an
    open clamps the current ``ẑ = 0``."""
    conducting = torch.as_tensor(measurement.conducting, device=device)
    gd = torch.as_tensor(measurement.diode_conductance, dtype=dtype, device=device)
    finite = torch.isfinite(gd)
    admittance_free = ~(conducting & ~finite)
    if impedance is None:  # admittance ports only: two operations
        return admittance_free, torch.where(finite, gd, 0.0)
    free = torch.where(impedance, conducting, admittance_free)
    g = torch.where(finite & ~impedance, gd, torch.zeros_like(gd))
    return free, g
