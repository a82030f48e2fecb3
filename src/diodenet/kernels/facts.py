"""What a kernel's solvers ask of it before solving, computed once and cached.

``KernelFacts`` is the part of ``Kernel`` that reads ``H`` and the element list
without solving anything: sizes, the entry facts of ``H`` (its scale, norms,
symmetry, M-matrix signs), the margin of ``sym(H)``, what kinds of elements
there are, a fingerprint for solver states, and an attached
diagonal-plus-low-rank form. Each is computed on first use and kept while
``H`` (the same tensor, not edited in place) and the element list stand.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..activations import Ideal, Nonlinearity
from ..utils.versions import version
from .low_rank import DiagonalPlusLowRank


@functools.lru_cache(maxsize=16)
def _projections(n: int) -> np.ndarray:
    """Two fixed random vectors of length ``n`` for ``Kernel.fingerprint``."""
    gen = torch.Generator(device="cpu").manual_seed(12345)
    out = torch.rand(2, n, generator=gen, dtype=torch.float64).numpy()
    out.flags.writeable = False  # shared between calls
    return out


class KernelFacts:
    """Cached facts of ``H`` (n, n) and ``elements`` (one per row), for ``Kernel``."""

    H: Tensor
    #: one per row of ``H``, immutable (``Kernel.elements``): the cache keys on its identity
    elements: tuple[Nonlinearity, ...]

    def _cached(self, name: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, remembered while ``H`` (same tensor, unmodified) and the
        elements (the same tuple) are unchanged. An in-place edit bumps the
        tensor's version; the elements can only be replaced whole."""
        H, elements = self.H, self.elements
        cache = self.__dict__.setdefault("_facts", {})
        hit = cache.get(name)
        # spelt out, not a loop over the key: a training step asks about 35 times
        if hit is not None and hit[0] is H and hit[1] == version(H) and hit[2] is elements \
                and hit[3] == len(elements):
            return hit[4]
        value = compute()
        cache[name] = (H, version(H), elements, len(elements), value)
        return value

    @property
    def n(self) -> int:
        """Number of nonlinear elements."""
        return self.H.shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.H.dtype

    @property
    def device(self) -> torch.device:
        return self.H.device

    def max_abs(self) -> float:
        """``max |H_ij|`` (siemens), cached: the scale of ``H``'s entries."""
        return float(self.entry_facts()["max_abs"])

    def inf_norm(self) -> float:
        """``‖H‖_∞ = max_k Σ_j |H_kj|`` (siemens), cached."""
        return float(self.entry_facts()["inf_norm"])

    def abs_row_sums(self) -> Tensor:
        """``Σ_j |H_kj|`` per row (siemens, (n,)), on the kernel's device, cached."""
        return self._cached("abs_row_sums", lambda: torch.as_tensor(
            self.entry_facts()["abs_rows"], dtype=self.dtype, device=self.device))

    def entry_facts(self) -> dict[str, Any]:
        """What the solvers ask of every new kernel's ``H``, computed together
        (cached while ``H`` is untouched): ``max_abs``;
        ``inf_norm`` (``‖H‖_∞``); ``abs_rows`` (``Σ_j |H_kj|`` per row, a
        numpy array); ``symmetric`` (``H = Hᵀ`` to 1e-12 of ``max_abs``);
        ``off_nonpositive`` (no positive entry off the diagonal);
        ``diagonal_positive``; and ``checks``, ``fingerprint``'s
        checksum (two fixed random projections, the entrywise 1-norm, the
        trace). Computed on the CPU in float64 (numpy: a new kernel at 128
        diodes costs a quarter of the time of the same reductions in torch),
        in as few passes over ``H`` as its sign pattern allows."""

        def compute() -> dict[str, Any]:
            n = self.n
            H = self.H.detach().to("cpu", torch.float64).numpy()
            if n == 0:
                return {"max_abs": 0.0, "inf_norm": 0.0, "abs_rows": np.zeros(0),
                        "symmetric": True, "off_nonpositive": True,
                        "diagonal_positive": True, "checks": (0.0, 0.0, 0.0)}
            diag = np.diagonal(H)
            positive_diagonal = int(np.count_nonzero(diag > 0.0))
            # every positive entry on the diagonal
            off_nonpositive = int(np.count_nonzero(H > 0.0)) == positive_diagonal
            if off_nonpositive and positive_diagonal == n:
                # the sign pattern of a resistor network's kernel: |H| is H on the
                # diagonal and -H off it, so its row sums need no |H|
                abs_rows = 2.0 * diag - H.sum(axis=1)
                max_abs = max(float(diag.max()), -float(H.min()))
            else:
                A = np.abs(H)
                abs_rows, max_abs = A.sum(axis=1), float(A.max())
            gap = np.subtract(H, H.T)
            r = _projections(n)
            return {
                "max_abs": max_abs,
                "inf_norm": float(abs_rows.max()),
                "abs_rows": abs_rows,
                "symmetric": bool(np.abs(gap, out=gap).max() <= 1e-12 * max(max_abs, 1e-300)),
                "off_nonpositive": off_nonpositive,
                "diagonal_positive": positive_diagonal == n,
                "checks": (float(r[0] @ (H @ r[1])), float(abs_rows.sum()), float(diag.sum())),
            }

        return self._cached("entry_facts", compute)

    def density(self) -> float:
        """Fraction of nonzero entries of ``H`` (cached)."""
        return self._cached(
            "density", lambda: float((self.H != 0).sum()) / max(self.n * self.n, 1)
        )

    def _sym_extremes(self) -> tuple[float, float]:
        """``(λ_min, λ_max)`` of ``sym(H)``, one eigendecomposition, cached."""
        def compute() -> tuple[float, float]:
            if self.n == 0:
                return float("inf"), 0.0
            ev = torch.linalg.eigvalsh((0.5 * (self.H + self.H.T)).cpu())
            return float(ev[0]), float(ev[-1])

        return self._cached("sym_extremes", compute)

    @property
    def margin(self) -> float:
        """The monotonicity margin ``λ_min(sym H)`` (siemens)."""
        return self._sym_extremes()[0]

    def sym_max(self) -> float:
        """``λ_max(sym H)``, from the margin's eigendecomposition."""
        return self._sym_extremes()[1]

    def _distinct_elements(self) -> list[Nonlinearity]:
        """Each distinct element once (cached): the facts of the element list are
        facts of these (a circuit's diodes share a few objects)."""
        return self._cached("distinct", lambda: list({id(e): e for e in self.elements}.values()))

    @property
    def piecewise_linear(self) -> bool:
        return self._cached("piecewise_linear",
                            lambda: all(e.piecewise_linear for e in self._distinct_elements()))

    @property
    def smooth(self) -> bool:
        return self._cached("smooth", lambda: all(e.smooth for e in self._distinct_elements()))

    @property
    def any_smooth(self) -> bool:
        """Some element is smooth (a Shockley diode, say)."""
        return self._cached("any_smooth",
                            lambda: any(e.smooth for e in self._distinct_elements()))

    @property
    def all_ideal(self) -> bool:
        """Every element an ideal diode (``σ_α`` = ReLU)."""
        return self._cached("all_ideal",
                            lambda: all(type(e) is Ideal for e in self._distinct_elements()))

    def fingerprint(self) -> tuple[Any, ...]:
        """A cheap identity of what solver states depend on: the size, dtype,
        device, the elements (hashed on every call, so an edited element list
        counts: which object sits in each place, and each distinct object's
        parameters) and a checksum of ``H`` (``entry_facts``' ``checks``: two
        random projections, the entrywise 1-norm and the trace, O(n²), cached
        while ``H`` is untouched)."""

        def compute() -> tuple[Any, ...]:
            return (self.n, str(self.dtype), str(self.device), self.entry_facts()["checks"])

        ids, params = self._element_identity()
        return (*self._cached("fingerprint", compute), hash(ids), params)

    def _element_identity(self) -> tuple[tuple[int, ...], int]:
        """Which element object sits in each place, and a hash of each distinct
        object's parameters (a circuit's diodes usually share a few objects,
        so each is hashed once). Recomputed at every call: an edited element
        list, or an element edited in place, changes it."""
        ids = tuple(map(id, self.elements))
        distinct = dict(zip(ids, self.elements))
        return ids, hash(tuple(distinct.values()))

    def low_rank(self) -> DiagonalPlusLowRank | None:
        """``H`` as ``diag(δ) + U K Vᵀ`` if one was set (``set_low_rank``) and ``H``
        has not changed since; solvers use it for the switched solves."""
        return self._cached("low_rank", lambda: None)

    def set_low_rank(self, form: DiagonalPlusLowRank, rtol: float | None = None) -> None:
        """Attach ``form`` (see ``kernels.low_rank``). Raises ``ValueError`` unless
        it has this kernel's shape and equals ``H`` to ``rtol · max|H|`` (default
        1e-12, or ``100·ε`` of a coarser dtype)."""
        if rtol is None:
            rtol = max(1e-12, 100 * torch.finfo(self.dtype).eps)
        n = self.n
        if form.delta.shape != (n,) or form.U.shape[0] != n or form.V.shape != form.U.shape \
                or form.K.shape != (form.rank, form.rank):
            raise ValueError("the low-rank form does not have the kernel's shape")
        scale = self.max_abs()
        # H - U K Vᵀ - diag(δ), by one product
        gap = torch.addmm(self.H, form.U @ form.K, form.V.T, alpha=-1.0)
        gap.diagonal().sub_(form.delta)
        error = float(gap.abs().max()) if n else 0.0
        if not error <= rtol * scale:
            raise ValueError(f"the low-rank form is not H: max error {error:.1e} "
                             f"> {rtol:g} · max|H| = {rtol * scale:.1e}")
        facts = self.__dict__.setdefault("_facts", {})
        facts.pop("low_rank", None)
        facts.pop("abs_H", None)  # Kernel.element_scale's product follows the form
        self._cached("low_rank", lambda: form)
