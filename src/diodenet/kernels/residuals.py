"""A kernel's products with ``H`` and its residuals, judged element by element.

``KernelResiduals`` holds what the solvers measure at a point ``z``: the port
currents ``w = z Hᵀ + q`` (``apply_H``, through a low-rank or sparse form
where ``H`` has one), each element's inclusion residual (amperes), its own
current scale ``s_k = Σ_j |H_kj||z_j| + |q_k|`` and the residual it may keep
(``allowance``). ``Kernel`` builds on it.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..activations import Ideal
from .resolvents import ElementResolvents

#: the round-off each element may keep beyond ``tol``, in units of ``ε`` times
#: its row's ``Σ_j |H_kj|`` and the largest ``|z_j|`` (``Kernel.allowance``)
ROUNDOFF = 16.0


def ideal_natural(z: Tensor, w: Tensor, alpha: float) -> Tensor:
    """The natural residual of ideal diodes, ``|z - ReLU(z - αw)| / α``, as
    ``|min(z/α, w)|`` (amperes): the same number without forming ``z - αw``,
    which rounds away a port current below ``ε·z/α`` (a high-impedance
    element's, beside a stiff one that sets ``α``) and would report it as 0."""
    return torch.minimum(z / alpha, w).abs_()


def unit_groups(port_forms: list[str]) -> tuple[Tensor, ...] | None:
    """The elements whose ``z`` share a unit, where a circuit's kernel mixes them
    (admittance ports: ``z`` in volts; impedance ports: in amperes); ``None``
    where every ``z`` is in one unit."""
    kinds = sorted(set(port_forms))
    if len(kinds) < 2:
        return None
    return tuple(torch.tensor([k for k, f in enumerate(port_forms) if f == kind])
                 for kind in kinds)


def worst(r: Tensor) -> Tensor:
    """The largest of each sample's element residuals ``r`` (batch, n): (batch,)."""
    return r.amax(dim=1) if r.shape[1] else r.new_zeros(r.shape[0])


class KernelResiduals(ElementResolvents):
    """Products with ``H`` and residuals per element (see the module docstring)."""

    #: the elements whose ``z`` share a unit where they do not all (``unit_groups``);
    #: ``allowance`` takes its round-off term per unit
    units: tuple[Tensor, ...] | None = None

    if TYPE_CHECKING:
        def rhs(self, u: Tensor) -> Tensor: ...

    def natural_step(self) -> float:
        """A step α (ohms) that makes ``αH`` dimensionless and O(1): ``1/max_k |H_kk|``."""
        if self.n == 0:
            return 1.0
        scale = self.max_abs()
        return 1.0 / scale if scale > 0 else 1.0

    def apply_H(self, z: Tensor) -> Tensor:
        """``z Hᵀ`` for a batch ``z`` (batch, n): the network's port currents less ``q``.

        A kernel with a diagonal-plus-low-rank form (``low_rank``) of rank
        ``r < n/2`` multiplies through it, ``z ⊙ δ + (z V) Kᵀ Uᵀ``: O(n r) per
        sample. A sparse kernel (density below 10 %, n ≥ 128) multiplies
        through a cached sparse CSR copy of ``H``: O(nnz) per sample. Otherwise
        O(n²).
        """
        form = self.low_rank()
        if form is not None and 2 * form.rank < self.n:
            return torch.addmm(z * form.delta, z @ form.V, form.KtUt)
        Hs = self._cached("sparse_H", self._sparse_H)
        if Hs is None:
            return z @ self.H.T
        return (Hs @ z.T).T

    def _sparse_H(self) -> Tensor | None:
        if self.n < 128 or self.density() > 0.1 or self.H.requires_grad:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
            return self.H.to_sparse_csr()


    def element_scale(self, z: Tensor, q: Tensor) -> Tensor:
        """Each element's own current scale (amperes, (batch, n)):
        ``s_k = Σ_j |H_kj| |z_j| + |q_k|``, which bounds its port current
        ``|w_k| = |Σ_j H_kj z_j + q_k|`` and sets the round-off of computing it.
        Tolerances are relative to it, element by element (``allowance``):
        a 1 MΩ divider beside a 1 Ω branch is held to its own microamperes,
        not to the branch's amperes.

        Computed the way ``apply_H`` forms ``w`` (one product with ``|H|``,
        kept while ``H`` stands): through a diagonal-plus-low-rank form it is
        ``|δ_k||z_k| + (|U||K||V|ᵀ|z|)_k + |q_k|``, that route's round-off
        scale, at least ``s_k`` and O(n r). Either way ``s_k = 0`` only where
        every term of ``w_k`` is an exact zero, so that ``w_k`` is computed as
        exactly 0 too.
        """
        return self._abs_product(z.abs(), q, 1.0)

    def allowance(self, z: Tensor, q: Tensor, tol: float, atol: float) -> Tensor:
        """The residual each element may keep (amperes, (batch, n)):
        ``atol + tol · s_k + ROUNDOFF·ε · (Σ_j |H_kj|) · max_j |z_j|``, with
        ``s_k`` = ``element_scale`` and ``ε`` the dtype's (where ``units`` says
        the ``z`` are in volts and amperes, the last term is taken per unit:
        ``Σ_u (Σ_{j in u} |H_kj|) · max_{j in u} |z_j|``).

        The last term is what rounding alone leaves in row ``k`` of an answer
        that is exact to the working precision as a whole (a normwise
        backward-stable solve: LU, Woodbury): where an element's own scale is
        tiny next to its row's conductances times the circuit's voltages (a
        nearly shorted port with a huge ``H_kk`` and a tiny ``z_k``), ``tol``
        of ``s_k`` can lie below it, and no method could meet it. It is ``ε``
        of the element's own row, never another element's current, and is
        below ``tol · s_k`` wherever ``s_k`` is within ``tol / (ROUNDOFF·ε)``
        (~3e4 in float64 at tol 1e-10) of the row's ``Σ_j |H_kj| · max|z|``.
        Where everything is 0 the allowance is ``atol``, or the least normal
        number of the dtype for ``atol = 0`` (nothing is divided by 0).
        """
        if self.n == 0:
            return q.new_zeros(q.shape)
        a = z.abs()
        allowed = self._abs_product(a, q, tol)
        eps = torch.finfo(allowed.dtype).eps
        if self.units is None:
            allowed = allowed.addr_(a.amax(dim=1), self.abs_row_sums(), alpha=ROUNDOFF * eps)
        else:  # Σ_j |H_kj| max|z| over j's own unit: volts and amperes are not compared
            zmax = torch.stack([a[:, g.to(a.device)].amax(dim=1) for g in self.units], 1)
            allowed = allowed.addmm_(zmax, self._abs_row_sums_by_unit().T, alpha=ROUNDOFF * eps)
        return allowed.add_(atol) if atol > 0 else \
            allowed.clamp_min_(torch.finfo(allowed.dtype).tiny)

    def _abs_row_sums_by_unit(self) -> Tensor:
        """``Σ_{j in unit} |H_kj|`` (n, units), cached while ``H`` stands."""
        units = self.units
        assert units is not None

        def compute() -> Tensor:
            A = self.H.detach().abs()
            return torch.stack([A[:, g.to(A.device)].sum(dim=1) for g in units], 1)

        return self._cached("abs_row_sums_by_unit", compute)

    def _abs_product(self, a: Tensor, q: Tensor, c: float) -> Tensor:
        """``c · (a |H|ᵀ + |q|)`` for ``a = |z|`` (batch, n), on ``apply_H``'s route.

        On a resistor network's sign pattern (no positive entry off a positive
        diagonal) ``|H| = 2 diag(H) - H``, so the product is ``apply_H``'s own,
        with no ``|H|`` to form for each new kernel (training makes one per
        step); both terms add (``-H_kj a_j ≥ 0`` off the diagonal), so nothing
        cancels."""
        if self.n == 0:
            return q.new_zeros(q.shape)
        facts = self.entry_facts()
        if facts["off_nonpositive"] and facts["diagonal_positive"]:
            s = torch.addcmul(q.abs(), a, self.H.diagonal(), value=2.0).sub_(self.apply_H(a))
            return s if c == 1.0 else s.mul_(c)
        route, *parts = self._cached("abs_H", self._abs_H)
        if route == "low_rank":
            delta, V, KtUt = parts
            return torch.addmm(torch.addcmul(q.abs(), a, delta), a @ V, KtUt, beta=c, alpha=c)
        if route == "sparse":
            return (parts[0] @ a.T).T.add_(q.abs()).mul_(c)
        return torch.addmm(q.abs(), a, parts[0], beta=c, alpha=c)

    def _abs_H(self) -> tuple[Any, ...]:
        """What ``element_scale`` multiplies by, on ``apply_H``'s route: ``("low_rank",
        |δ|, |V|, |K|ᵀ|U|ᵀ)``, ``("sparse", |H| as CSR)`` or ``("dense", |H|ᵀ)``."""
        form = self.low_rank()
        if form is not None and 2 * form.rank < self.n:
            return ("low_rank", form.delta.detach().abs(), form.V.detach().abs(),
                    form.K.detach().abs().T @ form.U.detach().abs().T)
        Hs = self._cached("sparse_H", self._sparse_H)
        if Hs is not None:
            return ("sparse", Hs.detach().abs())
        return ("dense", self.H.detach().abs().T.contiguous())

    def residual_scale(self, z: Tensor, q: Tensor) -> Tensor:
        """The circuit's current scale per sample (amperes, (batch,)):
        ``‖H‖_∞ ‖z‖_∞ + ‖q‖_∞``, at least every ``Σ_j |H_kj||z_j| + |q_k|``.
        Convergence is judged element by element, against ``element_scale``;
        this one number per sample is the scale of the whole circuit's currents."""
        if self.n == 0:
            return torch.zeros(z.shape[0], dtype=self.dtype, device=self.device)
        return self.inf_norm() * z.abs().amax(dim=1) + q.abs().amax(dim=1)

    def element_residual(self, z: Tensor, u: Tensor, q: Tensor | None = None) -> Tensor:
        """Inclusion residual per sample and element, in amperes ((batch, n);
        ``q``: ``rhs(u)`` if known).

        With ``w = H z + B u + b`` (the current the linear network draws from
        each element's port) and ``α`` = ``natural_step()``:

        * smooth element: ``|w_k + F_k(z_k)|`` (KCL error at its port);
        * set-valued element: ``|z_k - σ_α(z_k - α w_k)| / α``, the natural
          (fixed-point) residual, zero exactly at a solution; for an ideal
          diode computed as ``|min(z_k/α, w_k)|`` (``ideal_natural``).
        """
        if self.n == 0:
            return z.new_zeros(z.shape)
        w = self.apply_H(z) + (self.rhs(u) if q is None else q)
        alpha = self.natural_step()
        if self.all_ideal:
            return ideal_natural(z, w, alpha)
        r = (z - self.apply_resolvent(z - alpha * w, alpha)).abs_().div_(alpha)
        for e, cols in self.element_groups():
            if e.smooth:
                r[:, cols] = (w[:, cols] + e.value(z[:, cols])).abs()
            elif type(e) is Ideal:
                r[:, cols] = ideal_natural(z[:, cols], w[:, cols], alpha)
        return r

    def residual(self, z: Tensor, u: Tensor, q: Tensor | None = None) -> Tensor:
        """Inclusion residual per sample, in amperes ((batch,)): the largest of
        ``element_residual`` (see there) over the elements."""
        return worst(self.element_residual(z, u, q))
