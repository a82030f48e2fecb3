"""Shared pieces of the equilibrium solvers: step sizes, segment linearisation, reduced solves.

Notation: the kernel equation is ``0 ∈ H z + F(z) + q`` with
``q = B u + b`` (amperes), ``w = H z + q`` is the current the linear network draws
from each element's port, and ``σ_α = (I + αF)⁻¹`` is the element's resolvent
(the activation) for a step ``α`` in ohms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..kernels.residuals import ideal_natural
from ._reduced import solve_reduced

if TYPE_CHECKING:
    from ..kernels.kernel import Kernel


@dataclass(frozen=True)
class Spectrum:
    """Spectral facts about ``H`` that set step sizes.

    ``margin`` = λ_min(sym H) (siemens), ``sym_max`` = λ_max(sym H),
    ``norm`` = ‖H‖₂ (estimates from power iteration, inflated by 1 %),
    ``symmetric``: ``H = Hᵀ`` up to round-off.
    """

    margin: float
    sym_max: float
    norm: float
    symmetric: bool


def _power_norm(apply: Any, n: int, like: Tensor, iterations: int = 60) -> float:
    """Largest eigenvalue of a symmetric PSD operator by power iteration (deterministic start)."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    v = torch.rand(n, generator=gen, dtype=like.dtype).to(like.device) + 0.5
    v = v / torch.linalg.vector_norm(v)
    lam = torch.zeros((), dtype=like.dtype, device=like.device)
    for _ in range(iterations):
        w = apply(v)
        lam = torch.linalg.vector_norm(w)
        if float(lam) == 0.0:
            return 0.0
        v = w / lam
    return float(lam)


def spectrum(kernel: Kernel) -> Spectrum:
    """``Spectrum`` of ``kernel.H``, cached per kernel while ``H`` is unchanged."""
    return kernel._cached("spectrum", lambda: _spectrum(kernel))


def _spectrum(kernel: Kernel) -> Spectrum:
    H = kernel.H
    n = kernel.n
    if n == 0:
        spec = Spectrum(1.0, 1.0, 1.0, True)
    else:
        scale = float(H.abs().max())
        symmetric = bool((H - H.T).abs().max() <= 1e-12 * max(scale, 1e-300))
        # 1 % above the top of the spectrum keeps FB's step safe
        sym_max = 1.01 * kernel.sym_max()
        norm = sym_max
        if not symmetric:
            norm = 1.01 * math.sqrt(_power_norm(lambda v: H.T @ (H @ v), n, H))
        spec = Spectrum(float(kernel.margin), sym_max, norm, symmetric)
    return spec


def positive_step(value: float | str | None, name: str) -> float | None:
    """Validate a user-given step ``alpha`` (ohms); ``None`` means automatic."""
    if value is None:
        return None
    alpha = float(value)
    if not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"{name} must be a finite step > 0 (ohms), got {value!r}")
    return alpha


def positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


@dataclass
class Segments:
    """The affine piece of every element's resolvent at ``x = z - α w``.

    ``σ_α(x) ≈ d x + c`` (exact for piecewise-linear elements away from knees).
    Eliminating ``x`` gives, on the ``free`` elements (``d > 0``)::

        w_k + g_k z_k = c_k / (d_k α),    g_k = (1 - d_k) / (d_k α)   (siemens)

    and on the clamped ones (``d = 0``) ``z_k = c_k`` (e.g. an ideal diode that
    blocks: ``z_k = 0``). ``g`` is the element's conductance on its segment
    (``1/ron`` for a conducting PWL diode, ``F'(σ(x))`` for a Shockley diode).
    """

    free: Tensor  # bool (batch, n)
    g: Tensor  # (batch, n), zero where clamped
    source: Tensor  # (batch, n): c/(dα) on free elements, 0 elsewhere
    clamp: Tensor  # (batch, n): z value on clamped elements, 0 elsewhere
    slope: Tensor  # d = σ'_α(x), (batch, n)
    # |z_k - σ_α(x_k)| / α (batch, n): Kernel.element_residual when α is natural
    natural: Tensor


def _natural(z: Tensor, sigma: Tensor, alpha: float) -> Tensor:
    """``|z_k - σ_α(x_k)| / α`` (batch, n): the natural residual of every element."""
    return (z - sigma).abs_().div_(alpha)


def pieces(kernel: Kernel, z: Tensor, q: Tensor, alpha: float,
           Hz: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The slopes ``σ'_α(x)`` and the natural residual (per element) of
    ``Segments``, and nothing else. ``Hz``: ``z Hᵀ`` if the caller has it (it is
    then written over)."""
    w = kernel.apply_H(z) if Hz is None else Hz
    x = torch.add(z, w.add_(q), alpha=-alpha)
    natural = ideal_natural(z, w, alpha) if kernel.all_ideal else \
        _natural(z, kernel.apply_resolvent(x, alpha), alpha)
    return kernel.apply_resolvent_derivative(x, alpha), natural


def ideal_segments(free: Tensor, natural: Tensor, like: Tensor) -> Segments:
    """``Segments`` of ideal diodes (``σ`` = ReLU) with these ``free`` pieces:
    ``g``, ``source`` and ``clamp`` are all 0 (``like`` gives dtype and device)."""
    zero = torch.zeros_like(like)
    return Segments(free=free, g=zero, source=zero, clamp=zero, slope=free.to(like.dtype),
                    natural=natural)


def segments(kernel: Kernel, z: Tensor, q: Tensor, alpha: float) -> Segments:
    """Linearise the resolvents at ``x = z - α(Hz + q)`` (see ``Segments``)."""
    w = kernel.apply_H(z).add_(q)
    x = torch.add(z, w, alpha=-alpha)
    if kernel.all_ideal:  # σ = ReLU: free where x > 0
        return ideal_segments(x > 0, ideal_natural(z, w, alpha), x)
    sigma = kernel.apply_resolvent(x, alpha)
    natural = _natural(z, sigma, alpha)
    d = kernel.apply_resolvent_derivative(x, alpha)
    c = sigma - d * x
    free = d > 0
    safe_d = torch.where(free, d, torch.ones_like(d))
    g = torch.where(free, (1.0 - d) / (safe_d * alpha), torch.zeros_like(d))
    source = torch.where(free, c / (safe_d * alpha), torch.zeros_like(d))
    clamp = torch.where(free, torch.zeros_like(c), c)
    return Segments(free=free, g=g, source=source, clamp=clamp, slope=d, natural=natural)


def check_z0(kernel: Kernel, z0: Tensor | None, batch: int) -> Tensor | None:
    """A warm start as a (batch, n) tensor on the kernel's device, or ``None``."""
    if z0 is None:
        return None
    z = torch.as_tensor(z0, dtype=kernel.dtype, device=kernel.device)
    if z.ndim == 1:
        z = z.expand(batch, -1)
    if z.shape != (batch, kernel.n):
        raise ValueError(f"z0 must have shape (batch={batch}, n={kernel.n}), got {tuple(z.shape)}")
    if not bool(torch.isfinite(z).all()):
        raise ValueError("z0 contains NaN or inf")
    return z.clone()


def equilibrium_transpose(
    kernel: Kernel, z: Tensor, v: Tensor, u: Tensor | None, alpha: float
) -> Tensor:
    """``(∂z/∂q)ᵀ v`` at an equilibrium ``z`` (batch, n), ``v`` (batch, n).

    Differentiating ``z = σ_α(z - α(Hz + q))`` with ``D = σ'_α(x)`` gives
    ``(I - D(I - αH)) dz = -αD dq``. On the clamped elements (``D = 0``)
    ``dz = 0``; on the free ones ``(H_FF + G) dz_F = -dq_F`` with the segment
    conductances ``G`` (``Segments``). Hence ``∂z/∂q = -(H_FF + G)⁻¹`` on ``F``
    (zero elsewhere) and ``(∂z/∂q)ᵀ v = -(H_FFᵀ + G)⁻¹ v_F``.

    ``u`` (batch, m) fixes ``x`` exactly; without it the segment is read from
    ``z`` with ``w = -F(z)`` taken as the element's own current, which is
    ambiguous only at a knee.
    """
    if z.shape != v.shape or z.ndim != 2 or z.shape[1] != kernel.n:
        raise ValueError(
            f"z and v must both have shape (batch, n={kernel.n}), got "
            f"{tuple(z.shape)} and {tuple(v.shape)}"
        )
    if u is not None:
        q = kernel.rhs(kernel.check_inputs(u))
        seg = segments(kernel, z, q, alpha)
        free, g = seg.free, seg.g
    else:
        free, g = _segments_from_z(kernel, z)
    spec = spectrum(kernel)
    return -solve_reduced(kernel.H.T, free, g, v, symmetric=spec.symmetric)


def _segments_from_z(kernel: Kernel, z: Tensor) -> tuple[Tensor, Tensor]:
    """Free mask and conductance of each element at ``z`` alone (no inputs known)."""
    from ..activations import Ideal, PiecewiseLinear

    free = torch.ones_like(z, dtype=torch.bool)
    g = torch.zeros_like(z)
    for k, e in enumerate(kernel.elements):
        col = z[:, k]
        if e.smooth:
            g[:, k] = e.derivative(col)
        elif isinstance(e, Ideal):
            free[:, k] = col > 0
        elif isinstance(e, PiecewiseLinear):
            on = col < -e.vf
            if e.ron == 0:
                free[:, k] = col > -e.vf
            else:
                g[:, k] = torch.where(on, torch.full_like(col, 1.0 / e.ron), g[:, k])
        else:
            raise ValueError(
                f"element {k} ({e.name}): pass u= to transpose so its segment is known"
            )
    return free, g
