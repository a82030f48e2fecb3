"""User-supplied monotone one-ports: a callable ``i = f(v)`` or a table of samples.

Both give the activations of :mod:`diodenet.activations.oneport` numerically:

* :class:`FunctionPort`: a guarded Newton iteration with bisection on
  ``s + r f(s) = x`` (see :func:`~diodenet.activations.oneport.newton_resolvent`),
  differentiated implicitly: ``dσ_Y/dx = 1 / (1 + r f'(σ_Y))``.
* :class:`TablePort`: the piecewise-linear interpolation of ``(v, i)``
  samples, extended past both ends along the end segments. A PWL graph's
  resolvent is PWL with breakpoints ``X_k = v_k + r i_k``, so it is
  evaluated exactly (no iteration); vertical pieces (an ideal diode's
  ``v = 0, i >= 0``) and horizontal pieces are both allowed.

A relation that is not monotone raises ValueError: a table whose voltage or
current decreases, or a callable found decreasing on a sample grid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from torch import Tensor

from .oneport import OnePort, as_tensor, check_resistance, newton_resolvent

__all__ = ["FunctionPort", "TablePort"]


class _NewtonResolvent(torch.autograd.Function):
    """``(σ_Y, σ_Z)`` by Newton, with the implicit-function derivative."""

    @staticmethod
    def forward(ctx, x: Tensor, r: Tensor, port: FunctionPort) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            xb, rb = torch.broadcast_tensors(x, r)
            s = newton_resolvent(port.current, port.conductance, xb, rb)
            i = port.current(s)
            g = port.conductance(s)
        ctx.save_for_backward(i, g, r)
        ctx.x_shape = x.shape
        return s, rb * i

    @staticmethod
    def backward(ctx, grad_s: Tensor, grad_z: Tensor):
        i, g, r = ctx.saved_tensors
        rg = r * g
        # s + r f(s) = x:  ds/dx = 1/(1 + r g),  ds/dr = -i/(1 + r g);
        # r i = x - s gives the impedance form's derivatives.
        ds_dx = torch.where(torch.isinf(rg), torch.zeros_like(rg), 1.0 / (1.0 + rg))
        ds_dr = torch.where(torch.isinf(rg), torch.zeros_like(rg), -i / (1.0 + rg))
        grad_x = grad_s * ds_dx + grad_z * (1.0 - ds_dx)
        grad_r = grad_s * ds_dr - grad_z * ds_dr
        return (grad_x.sum_to_size(ctx.x_shape) if ctx.needs_input_grad[0] else None,
                grad_r.sum_to_size(r.shape) if ctx.needs_input_grad[1] else None, None)


class FunctionPort(OnePort):
    """A one-port given by a monotone function ``i = current(v)`` (V → A).

    ``current`` maps a float tensor of voltages to a tensor of currents.
    ``conductance`` (V → S) is optional: without it, ``di/dv`` comes from
    autograd when ``current`` is built from torch operations, or else from a
    central difference. At construction ``current`` is sampled on
    ``check_points`` voltages spanning ``check_range`` and ValueError is raised
    if it decreases anywhere (beyond round-off) or returns NaN.
    """

    smooth: ClassVar[bool] = True

    def __init__(
        self,
        current: Callable[[Tensor], Tensor],
        conductance: Callable[[Tensor], Tensor] | None = None,
        *,
        check_range: tuple[float, float] = (-10.0, 10.0),
        check_points: int = 4001,
        name: str = "user one-port",
    ) -> None:
        if not callable(current):
            raise ValueError("current must be a callable i = f(v)")
        if conductance is not None and not callable(conductance):
            raise ValueError("conductance must be a callable g = f'(v) or None")
        lo, hi = (float(c) for c in check_range)
        if not lo < hi or check_points < 2:
            raise ValueError("check_range must be (low, high) with low < high, check_points >= 2")
        self._current = current
        self._conductance = conductance
        self.name = name
        v = torch.linspace(lo, hi, int(check_points), dtype=torch.float64)
        i = self.current(v)
        if bool(torch.isnan(i).any()):
            raise ValueError(f"{name}: current(v) is NaN on the check grid {check_range}")
        di = torch.diff(i)
        scale = torch.maximum(i[:-1].abs(), i[1:].abs())
        falling = di < -1e-12 * scale
        if bool(falling.any()):
            k = int(torch.nonzero(falling)[0, 0])
            raise ValueError(
                f"{name}: the I-V relation is not monotone: current falls from "
                f"{i[k].item():.6g} A at {v[k].item():.6g} V to {i[k + 1].item():.6g} A at "
                f"{v[k + 1].item():.6g} V (a one-port needs non-decreasing current)"
            )

    def current(self, v: Tensor) -> Tensor:
        out = self._current(v)
        return as_tensor(out, v).to(v).expand_as(v) if not isinstance(out, Tensor) else out

    def conductance(self, v: Tensor) -> Tensor:
        if self._conductance is not None:
            return as_tensor(self._conductance(v), v)
        try:
            with torch.enable_grad():
                vv = v.detach().clone().requires_grad_(True)
                (g,) = torch.autograd.grad(self._current(vv).sum(), vv)
            return g.detach()
        except (RuntimeError, TypeError):
            # Not a torch function: central difference (precision ~1e-8 relative).
            h = 1e-6 * (1.0 + v.abs())
            return (self.current(v + h) - self.current(v - h)) / (2 * h)

    def _solve(self, x: Tensor, r: float | Tensor) -> tuple[Tensor, Tensor]:
        check_resistance(r)
        x = as_tensor(x)
        return _NewtonResolvent.apply(x, as_tensor(r, x).to(x), self)

    def admittance_activation(self, x: Tensor, r: float | Tensor) -> Tensor:
        return self._solve(x, r)[0]

    def impedance_activation(self, x: Tensor, r: float | Tensor) -> Tensor:
        return self._solve(x, r)[1]

    def __repr__(self) -> str:
        return f"FunctionPort(name={self.name!r})"


class TablePort(OnePort):
    """A one-port given by samples ``(v_k, i_k)`` (volts, amperes), joined by straight lines.

    Preconditions (ValueError otherwise): at least two samples, all finite;
    ``v`` and ``i`` both non-decreasing (a monotone graph); no two consecutive
    samples equal. Equal consecutive voltages make a vertical piece (any
    current at that voltage, as an ideal diode), equal currents a horizontal
    one. Past the first and last sample the graph continues along the end
    segments.
    """

    piecewise_linear: ClassVar[bool] = True

    def __init__(self, v: Sequence[float] | Tensor, i: Sequence[float] | Tensor,
                 name: str = "table one-port") -> None:
        vt = torch.as_tensor(v, dtype=torch.float64).flatten()
        it = torch.as_tensor(i, dtype=torch.float64).flatten()
        if vt.numel() != it.numel() or vt.numel() < 2:
            raise ValueError("a table needs v and i of equal length >= 2")
        if not bool(torch.isfinite(vt).all() & torch.isfinite(it).all()):
            raise ValueError("table voltages and currents must be finite")
        for what, arr, unit in (("voltage", vt, "V"), ("current", it, "A")):
            d = torch.diff(arr)
            if bool((d < 0).any()):
                k = int(torch.nonzero(d < 0)[0, 0])
                raise ValueError(
                    f"{name}: the I-V relation is not monotone: {what} decreases from "
                    f"{arr[k].item():.6g} {unit} to {arr[k + 1].item():.6g} {unit} at sample {k}"
                )
        if bool(((torch.diff(vt) == 0) & (torch.diff(it) == 0)).any()):
            raise ValueError(f"{name}: two consecutive samples are equal")
        self.v = vt
        self.i = it
        self.name = name
        self.smooth_graph = bool((torch.diff(vt) > 0).all())

    def _locate(self, x: Tensor, r: float | Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Segment index, parameter θ along it, and broadcast ``r``, for the
        resolvent breakpoints ``X_k = v_k + r i_k`` (strictly increasing)."""
        check_resistance(r)
        x = as_tensor(x)
        rt = as_tensor(r, x).to(x)
        xb, rb = torch.broadcast_tensors(x, rt)
        v = self.v.to(x)
        i = self.i.to(x)
        big_x = v + rb.unsqueeze(-1) * i  # shape (..., K)
        k = torch.searchsorted(big_x.detach().contiguous(), xb.detach().unsqueeze(-1).contiguous(),
                               right=True).squeeze(-1) - 1
        k = k.clamp(0, v.numel() - 2)
        x0 = torch.gather(big_x, -1, k.unsqueeze(-1)).squeeze(-1)
        x1 = torch.gather(big_x, -1, (k + 1).unsqueeze(-1)).squeeze(-1)
        theta = (xb - x0) / (x1 - x0)
        return k, theta, rb

    def admittance_activation(self, x: Tensor, r: float | Tensor) -> Tensor:
        k, theta, _ = self._locate(x, r)
        v = self.v.to(theta)
        return v[k] + theta * (v[k + 1] - v[k])

    def impedance_activation(self, x: Tensor, r: float | Tensor) -> Tensor:
        k, theta, rb = self._locate(x, r)
        i = self.i.to(theta)
        return rb * (i[k] + theta * (i[k + 1] - i[k]))

    def _slope(self, k: Tensor, like: Tensor) -> Tensor:
        """Slope di/dv (S) of segment ``k`` in ``like``'s dtype and device."""
        v, i = self.v.to(like), self.i.to(like)
        dv = v[k + 1] - v[k]
        di = i[k + 1] - i[k]
        return torch.where(dv == 0, torch.full_like(dv, float("inf")), di / dv)

    def current(self, v: Tensor) -> Tensor:
        if not self.smooth_graph:
            return super().current(v)
        v = as_tensor(v)
        k = torch.searchsorted(self.v.to(v), v.detach().contiguous(), right=True) - 1
        k = k.clamp(0, self.v.numel() - 2)
        vk, ik = self.v.to(v)[k], self.i.to(v)[k]
        return ik + (v - vk) * self._slope(k, v)

    def conductance(self, v: Tensor) -> Tensor:
        v = as_tensor(v)
        k = torch.searchsorted(self.v.to(v), v.detach().contiguous(), right=True) - 1
        k = k.clamp(0, self.v.numel() - 2)
        g = self._slope(k, v)
        # On a vertical piece's voltage the graph is vertical: g = inf.
        vertical_v = self.v[:-1][torch.diff(self.v) == 0].to(v)
        on_vertical = (v.unsqueeze(-1) == vertical_v).any(-1) if vertical_v.numel() else v != v
        return torch.where(on_vertical, torch.full_like(g, float("inf")), g)

    def small_signal_conductance(self, x: Tensor, r: float | Tensor) -> Tensor:
        # The resolvent's segment identifies the piece unambiguously.
        k, theta, _ = self._locate(x, r)
        return self._slope(k, theta)

    def __repr__(self) -> str:
        return f"TablePort(v={self.v.tolist()!r}, i={self.i.tolist()!r})"
