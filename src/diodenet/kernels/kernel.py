"""The equilibrium-network kernel of a resistor–diode (RTGD) network.

A circuit with ``n`` nonlinear elements and ``m`` input sources is described by

    0 ∈ H z + F(z) + B u + b          (kernel equation)
    y = -C z - D u - d                (outputs)

* ``z`` (n) holds one variable per nonlinear element; for a diode extracted from
  a circuit it is the junction's reverse voltage (admittance form), so an
  ideal diode is ``F = N₊`` and ``z >= 0``;
* ``H`` (n×n, siemens) is monotone: ``sym(H) = (H + Hᵀ)/2 ⪰ 0``. Resistors
  and transformers give the symmetric part, gyrators the skew part. The
  margin ``m = λ_min(sym H)`` is the monDEQ's monotonicity parameter;
* ``B`` (n×m), ``C`` (p×n), ``D`` (p×m) couple the inputs ``u`` and the
  outputs ``y``; ``b`` (n) and ``d`` (p) are what the circuit's other, constant
  sources (bias rails, a diode's forward drop) contribute.

For every step ``α > 0`` the kernel equation is the fixed point of

    z = σ_α((I - αH) z - α(B u + b))

which for ideal diodes is the ReLU monDEQ ``z = ReLU(W z + U x + b')`` with
``W = I - αH``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ..activations import Ideal, Nonlinearity
from ..utils.versions import version
from .equilibrium import Equilibrium
from .residuals import KernelResiduals

if TYPE_CHECKING:
    from ..solvers.base import EquilibriumSolver, SolverState

ArrayLike = np.ndarray | Tensor | Sequence[Sequence[float]] | Sequence[float]


def _as_tensor(x: ArrayLike, name: str, dtype: torch.dtype, device: torch.device | None) -> Tensor:
    # a numpy array is copied: sharing its memory would let an edit through the
    # array pass every cache (a tensor's own in-place edits bump its version)
    if isinstance(x, np.ndarray) and np.iscomplexobj(x):
        raise ValueError(f"{name} must be real, got a complex array")
    if x is None:
        raise ValueError(f"{name} is required, got None")
    try:
        t = torch.as_tensor(x, dtype=dtype, device=device) if isinstance(x, Tensor) \
            else torch.tensor(np.asarray(x, dtype=float), dtype=dtype, device=device)
    except (TypeError, ValueError) as exc:  # None, strings, ragged lists
        raise ValueError(f"{name} must be an array of real numbers, got "
                         f"{type(x).__name__} ({exc})") from None
    if not all_finite(t):
        raise ValueError(f"{name} contains NaN or inf")
    return t


def all_finite(t: Tensor) -> bool:
    """Whether every entry of ``t`` is finite. A NaN or inf entry makes the sum
    NaN or inf, so a finite sum settles it in one reduction (read as a Python
    number: 6 µs against 24 for ``torch.isfinite`` on the 0-d sum); only a sum
    that overflows needs the entrywise test."""
    return math.isfinite(t.sum().item()) or bool(torch.isfinite(t).all())


@dataclass(frozen=True)
class FactoredB:
    """A kernel's input coupling kept as ``B = L R (+ B0)``, ``L`` (n, k) and
    ``R`` (k, m): ``q = (u Rᵀ) Lᵀ`` costs what ``u Bᵀ`` costs, and ``B`` itself
    (an (n, k) × (k, m) product) is formed only if something reads it. The
    built-in hardware keeps ``B = P G⁻¹ R_u`` so: with 784 inputs, forming it
    at every re-programming cost more than the solves it serves."""

    L: Tensor
    R: Tensor
    B0: Tensor | None = None


class Kernel(KernelResiduals):
    """``0 ∈ H z + F(z) + B u + b``, ``y = -C z - D u - d``.

    Parameters
    ----------
    H, B, C, D:
        numpy arrays or torch tensors of shapes (n, n), (n, m), (p, n), (p, m);
        ``B`` may be a ``FactoredB``.
    elements:
        one ``Nonlinearity`` per row of ``H`` (default: ideal diodes).
    b, d:
        constant terms (n,) and (p,) (default zero).
    dtype, device:
        where the kernel's tensors live (float64 on the CPU by default).
    monotone_tol:
        ``sym(H)`` may have eigenvalues down to ``-monotone_tol * ‖H‖``
        (``‖H‖`` bounded by ``√(‖H‖₁‖H‖_∞)``)
        (round-off) before the kernel is rejected as non-monotone.

    Raises ``ValueError`` for wrong shapes, NaN/inf entries, or a
    non-monotone ``H``.

    What the solvers read off ``H`` and the elements before solving (scale,
    norms, symmetry, margin, element kinds, fingerprint, a low-rank form) is
    ``KernelFacts`` (``kernels.facts``), cached while ``H`` stands; the
    elements grouped and their resolvents are ``ElementResolvents``
    (``kernels.resolvents``).
    """

    def __init__(
        self,
        H: ArrayLike,
        B: ArrayLike | FactoredB,
        C: ArrayLike,
        D: ArrayLike,
        elements: Sequence[Nonlinearity] | None = None,
        *,
        b: ArrayLike | None = None,
        d: ArrayLike | None = None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
        monotone_tol: float = 1e-10,
        input_names: Sequence[str] | None = None,
        output_names: Sequence[str] | None = None,
        element_names: Sequence[str] | None = None,
    ) -> None:
        if dtype not in (torch.float32, torch.float64):  # what torch.linalg factorises
            raise ValueError(f"a kernel's dtype is torch.float32 or torch.float64, got {dtype}")
        device = torch.device(device) if device is not None else None
        self.H = _as_tensor(H, "H", dtype, device)
        if isinstance(B, FactoredB):
            L, R = _as_tensor(B.L, "B", dtype, device), _as_tensor(B.R, "B", dtype, device)
            B0 = None if B.B0 is None else _as_tensor(B.B0, "B", dtype, device)
            if L.ndim != 2 or R.ndim != 2 or L.shape[1] != R.shape[0] or (
                    B0 is not None and B0.shape != (L.shape[0], R.shape[1])):
                raise ValueError("a factored B needs L (n, k), R (k, m) and B0 (n, m)")
            self.__dict__["_B"] = None
            self.__dict__["_B_factors"] = FactoredB(L, R, B0)
        else:
            self.B = _as_tensor(B, "B", dtype, device)
        self.C = _as_tensor(C, "C", dtype, device)
        self.D = _as_tensor(D, "D", dtype, device)
        if self.H.ndim != 2 or self.H.shape[0] != self.H.shape[1]:
            raise ValueError(f"H must be square (n, n), got shape {tuple(self.H.shape)}")
        n = self.H.shape[0]
        factors = self.__dict__.get("_B_factors")
        if factors is None and self.B.ndim == 1 and n > 0:
            self.B = self.B.reshape(n, -1)
        B_shape = (factors.L.shape[0], factors.R.shape[1]) if factors is not None \
            else tuple(self.B.shape)
        if len(B_shape) != 2 or B_shape[0] != n:
            raise ValueError(f"B must have shape (n={n}, m), got {B_shape}")
        m = B_shape[1]
        if self.C.ndim != 2 or self.C.shape[1] != n:
            raise ValueError(f"C must have shape (p, n={n}), got {tuple(self.C.shape)}")
        p = self.C.shape[0]
        if self.D.ndim != 2 or self.D.shape != (p, m):
            raise ValueError(f"D must have shape (p={p}, m={m}), got {tuple(self.D.shape)}")
        self.b = (
            torch.zeros(n, dtype=dtype, device=device) if b is None
            else _as_tensor(b, "b", dtype, device).reshape(-1)
        )
        self.d = (
            torch.zeros(p, dtype=dtype, device=device) if d is None
            else _as_tensor(d, "d", dtype, device).reshape(-1)
        )
        if self.b.shape != (n,):
            raise ValueError(f"b must have shape (n={n},), got {tuple(self.b.shape)}")
        if self.d.shape != (p,):
            raise ValueError(f"d must have shape (p={p},), got {tuple(self.d.shape)}")
        self.elements = (Ideal(),) * n if elements is None else elements
        self.input_names = list(input_names) if input_names is not None else None
        self.output_names = list(output_names) if output_names is not None else None
        self.element_names = list(element_names) if element_names is not None else None
        if not monotone_tol >= 0:  # NaN would switch the check off, a negative make it lie
            raise ValueError(f"monotone_tol must be >= 0 (inf: no check), got {monotone_tol!r}")
        if math.isinf(monotone_tol):
            return  # nothing to check: the margin is computed when first read
        # ‖H‖₂ ≤ √(‖H‖₁‖H‖_∞): the bound costs O(n²) where the 2-norm costs an SVD
        A = self.H.abs()
        scale = float(torch.sqrt(A.sum(0).max() * A.sum(1).max())) if n else 0.0
        if self.margin < -monotone_tol * max(scale, 1e-300):
            raise ValueError(
                f"H is not monotone: the smallest eigenvalue of sym(H) is {self.margin:.3e} < 0 "
                "(a resistor-diode network always has sym(H) ⪰ 0)"
            )

    # -------------------------------------------------------------- shapes
    @property
    def elements(self) -> tuple[Nonlinearity, ...]:
        """One ``Nonlinearity`` per row of ``H``. A tuple: to change an element,
        assign the whole sequence (``kernel.elements = ...``, checked as in the
        constructor), so the cached facts of the elements always follow."""
        return self.__dict__["_elements"]

    @elements.setter
    def elements(self, value: Sequence[Nonlinearity]) -> None:
        elements = tuple(value)
        n = self.H.shape[0]
        if len(elements) != n:
            raise ValueError(f"expected {n} elements (one per row of H), got {len(elements)}")
        # a circuit's diodes share a few element objects: each is checked once
        # (isinstance on an ABC: 55 → 40 µs for a new kernel of 128 ideal diodes)
        for e in {id(e): e for e in elements}.values():
            if not isinstance(e, Nonlinearity):
                k = next(k for k, x in enumerate(elements) if x is e)
                raise ValueError(f"element {k} is not a Nonlinearity: {e!r}")
        self.__dict__["_elements"] = elements

    @property
    def B(self) -> Tensor:
        """(n, m): formed from its factors on first read for a ``FactoredB``."""
        B = self.__dict__.get("_B")
        if B is None:
            f = self.__dict__["_B_factors"]
            B = f.L @ f.R if f.B0 is None else torch.addmm(f.B0, f.L, f.R)
            self.__dict__["_B"] = B
        return B

    @B.setter
    def B(self, value: Tensor) -> None:
        self.__dict__["_B"] = value
        self.__dict__["_B_factors"] = None

    @property
    def m(self) -> int:
        """Number of inputs."""
        f = self.__dict__.get("_B_factors")
        return f.R.shape[1] if f is not None else self.B.shape[1]

    @property
    def p(self) -> int:
        """Number of outputs."""
        return self.C.shape[0]

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Kernel:
        """A copy on another device and/or dtype."""
        dtype = dtype or self.dtype
        copy = Kernel(
            self.H.to(device=device, dtype=dtype), self.B.to(device=device, dtype=dtype),
            self.C.to(device=device, dtype=dtype), self.D.to(device=device, dtype=dtype),
            self.elements, b=self.b.to(device=device, dtype=dtype),
            d=self.d.to(device=device, dtype=dtype), dtype=dtype, device=device,
            input_names=self.input_names, output_names=self.output_names,
            element_names=self.element_names, monotone_tol=float("inf"),
        )
        copy.units = self.units
        return copy

    # --------------------------------------------------------------- maths
    def check_inputs(self, u: ArrayLike) -> Tensor:
        """``u`` as a (batch, m) tensor on the kernel's device; rejects NaN/inf and bad shapes."""
        try:
            t = torch.as_tensor(u, dtype=self.dtype, device=self.device)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"u must be an array of real numbers (batch, m={self.m}), got "
                             f"{type(u).__name__} ({exc})") from None
        if t.ndim == 1:
            t = t.reshape(1, -1) if self.m != 1 or t.numel() == 1 else t.reshape(-1, 1)
        if t.ndim != 2 or t.shape[1] != self.m:
            raise ValueError(f"u must have shape (batch, m={self.m}), got {tuple(t.shape)}")
        if not all_finite(t):
            raise ValueError("u contains NaN or inf")
        return t

    def rhs(self, u: Tensor) -> Tensor:
        """``q = B u + b`` for a batch (batch, n).

        The last answer is kept while ``u``, ``B`` and ``b`` are the same,
        unmodified tensors: a solve, its residual and its scale all ask for the
        ``q`` of one batch, and with many inputs (784 MNIST pixels, each as a
        ± pair) the product is most of a settle's arithmetic. Any in-place edit
        (of ``u``, ``B``, ``b`` or the returned ``q``) bumps that tensor's
        version and so misses the cache.
        """
        f = self.__dict__.get("_B_factors")
        coupling: Any = f if f is not None else self.B
        key = (version(u), version(self.b)) + (
            (version(f.L), version(f.R)) if f is not None else (version(coupling),))
        hit = self.__dict__.get("_last_rhs")
        if hit is not None and hit[0] is u and hit[1] is coupling and hit[2] is self.b \
                and hit[3] == key and version(hit[4]) == hit[5]:
            return hit[4]
        inner = None
        if f is not None and f.L.shape[1] == 0:  # no low-rank part (a layered network's)
            inner = u.new_empty((u.shape[0], 0))
            q = self.b.expand(u.shape[0], -1).clone() if f.B0 is None else \
                torch.addmm(self.b, u, f.B0.T)
        elif f is not None:
            inner = u @ f.R.T
            q = torch.addmm(self.b, inner, f.L.T)
            if f.B0 is not None:
                q = torch.addmm(q, u, f.B0.T)
        else:
            q = u @ coupling.T + self.b
        self.__dict__["_last_rhs"] = (u, coupling, self.b, key, q, version(q), inner)
        return q

    def factored_input(self, u: Tensor) -> Tensor | None:
        """``u Rᵀ`` (batch, k) for a ``FactoredB`` (the product ``rhs`` makes,
        kept with it; do not edit it), else ``None``."""
        if self.__dict__.get("_B_factors") is None:
            return None
        self.rhs(u)
        return self.__dict__["_last_rhs"][6]

    def outputs(self, z: Tensor, u: Tensor) -> Tensor:
        """``y = -C z - D u - d`` (batch, p)."""
        y = torch.addmm(self.d, z, self.C.T).neg_()
        # outputs with no direct path from the inputs (a layered network's): D = 0,
        # and its product would be most of this at MNIST size
        return y if not bool(self.D.any()) else y.sub_(u @ self.D.T)

    # -------------------------------------------------------------- solving
    def solve(
        self,
        u: ArrayLike,
        method: str | EquilibriumSolver = "auto",
        *,
        solver: EquilibriumSolver | None = None,
        state: SolverState | None = None,
        tol: float | None = None,
        atol: float | None = None,
        max_iter: int | None = None,
        z0: Tensor | None = None,
        raise_on_failure: bool = True,
        **options: object,
    ) -> Equilibrium:
        """Solve the kernel equation for each row of ``u`` (batch, m).

        ``method``: ``'auto'`` (picks by size, sparsity, symmetry and element
        kinds; ``Equilibrium.method`` says what ran), ``'pr'``, ``'fb'``,
        ``'pgs'``, ``'active_set'`` (exact for ideal/PWL diodes: residual at
        round-off) or ``'newton'``; or a configured solver instance.

        Reuse: pass ``solver=`` (an ``EquilibriumSolver``) and ``state=``
        (its ``init(kernel)``) to factor a kernel once and solve many batches
        with it; a state that no longer matches this kernel raises
        ``ValueError``. ``tol``/``atol``/options then belong to the solver.

        Convergence: every element's residual (``element_residual``) is at
        most ``atol + tol · element_scale``, its own current scale (and the
        round-off of an exact answer, ``allowance``); ``tol`` dimensionless
        (default 1e-10 in float64, ``1e3·ε`` of a coarser dtype), ``atol`` in
        amperes (default 0).
        A solve that does not get there raises ``ConvergenceError`` (with the
        residual and the relative tolerance) unless ``raise_on_failure=False``,
        in which case ``Equilibrium.converged`` flags the samples that failed.
        """
        from .solving import solve_kernel

        return solve_kernel(self, u, method, solver=solver, state=state, tol=tol, atol=atol,
                            max_iter=max_iter, z0=z0, raise_on_failure=raise_on_failure,
                            **options)

    # --------------------------------------------------------- monDEQ views
    def to_mondeq(self, alpha: float | None = None):
        """``(W, U, b, W_out, D)`` with ``z = ReLU(Wz + Ux + b)`` (see ``kernels.mondeq``)."""
        from .mondeq import to_mondeq

        return to_mondeq(self, alpha)

    @classmethod
    def from_mondeq(cls, W: ArrayLike, U: ArrayLike, b: ArrayLike, W_out: ArrayLike,
                    D: ArrayLike, **kwargs: Any) -> Kernel:
        """The kernel of ``z = ReLU(Wz + Ux + b)``, ``y = W_out z + D x`` (``kernels.mondeq``)."""
        from .mondeq import from_mondeq

        return from_mondeq(W, U, b, W_out, D, **kwargs)

    @classmethod
    def from_winston_kolter(cls, m: float, A: ArrayLike, S: ArrayLike, U: ArrayLike,
                            b: ArrayLike, W_out: ArrayLike, D: ArrayLike,
                            **kwargs: Any) -> Kernel:
        """The kernel of a monDEQ with ``W = (1-m)I - AᵀA + S - Sᵀ``."""
        from .mondeq import from_winston_kolter

        return from_winston_kolter(m, A, S, U, b, W_out, D, **kwargs)

    def __repr__(self) -> str:
        kinds = sorted({type(e).__name__ for e in self.elements})
        return (
            f"Kernel(n={self.n}, m={self.m}, p={self.p}, margin={self.margin:.3g}, "
            f"elements={'/'.join(kinds) or '-'}, dtype={self.dtype}, device={self.device})"
        )
