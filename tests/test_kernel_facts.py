"""``Kernel.entry_facts``: the facts of ``H`` that solvers read, from one pass,
against the same facts computed plainly with torch."""

from __future__ import annotations

import pytest
import torch

from diodenet.kernels import Kernel
from diodenet.solvers.active_set import is_m_matrix
from diodenet.solvers.gauss_seidel import is_symmetric


def _kernel(H: torch.Tensor) -> Kernel:
    n = H.shape[0]
    return Kernel(H, torch.zeros(n, 1, dtype=H.dtype), torch.zeros(1, n, dtype=H.dtype),
                  torch.zeros(1, 1, dtype=H.dtype), monotone_tol=float("inf"))


def _cases() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    L = -torch.rand(6, 6, generator=gen, dtype=torch.float64)
    L = L + L.T
    L.diagonal().copy_(-L.sum(1) + 0.5)  # a symmetric M-matrix (a weighted Laplacian + 0.5)
    pos = L.clone()
    pos[1, 4] = pos[4, 1] = 1e-9  # one positive pair off the diagonal
    skew = L.clone()
    skew[0, 5] += 1e-6  # not symmetric
    neg_diag = L.clone()
    neg_diag[2, 2] = -1.0
    big_off = L.clone()
    big_off[0, 3] = big_off[3, 0] = -50.0  # the M-matrix signs, the largest entry off the diagonal
    return {"m-matrix": L, "positive-off": pos, "not-symmetric": skew,
            "negative-diagonal": neg_diag, "largest-off-diagonal": big_off,
            "one": torch.tensor([[2.0]], dtype=torch.float64)}


@pytest.mark.parametrize("name", list(_cases()))
def test_the_facts_equal_plain_torch(name):
    H = _cases()[name]
    k = _kernel(H)
    facts = k.entry_facts()
    off = H - torch.diag(H.diagonal())
    assert facts["max_abs"] == pytest.approx(float(H.abs().max()), rel=1e-15)
    assert k.max_abs() == facts["max_abs"]
    assert k.inf_norm() == pytest.approx(float(H.abs().sum(1).max()), rel=1e-14)
    symmetric = bool((H - H.T).abs().max() <= 1e-12 * float(H.abs().max()))
    assert facts["symmetric"] is symmetric and is_symmetric(k) is symmetric
    assert facts["off_nonpositive"] is bool((off <= 0).all())
    assert is_m_matrix(k) is (symmetric and bool((off <= 0).all()))
    assert facts["diagonal_positive"] is bool((H.diagonal() > 0).all())
    checks = facts["checks"]
    assert checks[1] == pytest.approx(float(H.abs().sum()), rel=1e-14)
    assert checks[2] == pytest.approx(float(H.diagonal().sum()), rel=1e-14)


def test_an_edit_of_h_is_seen():
    H = _cases()["m-matrix"]
    k = _kernel(H.clone())
    assert is_m_matrix(k)
    before = k.fingerprint()
    k.H[1, 4] = k.H[4, 1] = 1e-9
    assert not is_m_matrix(k) and k.fingerprint() != before


def test_an_empty_kernel_has_neutral_facts():
    k = _kernel(torch.zeros(0, 0, dtype=torch.float64))
    assert k.max_abs() == 0.0 and k.inf_norm() == 0.0 and is_symmetric(k) and is_m_matrix(k)


def test_elements_are_replaced_whole_and_their_facts_follow():
    """A kernel's elements are a tuple: one cannot be swapped in place, where
    the cached element facts (``all_ideal``, ...) would go stale; the whole
    sequence is replaced instead, checked as in the constructor, and the facts
    and the solve then follow the new elements, as a fresh kernel's do."""
    from diodenet.activations import Ideal, Shockley

    H = _cases()["m-matrix"]
    n = H.shape[0]
    gen = torch.Generator().manual_seed(3)
    B = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    C = torch.randn(1, n, generator=gen, dtype=torch.float64)
    D = torch.zeros(1, 2, dtype=torch.float64)
    u = 3 * torch.randn(4, 2, generator=gen, dtype=torch.float64)
    k = Kernel(H, B, C, D)
    before = k.solve(u).z
    assert k.all_ideal and not k.any_smooth
    with pytest.raises(TypeError):
        k.elements[0] = Shockley(1e-3, 0.05)  # type: ignore[index]
    with pytest.raises(ValueError, match=f"expected {n} elements"):
        k.elements = k.elements[1:]
    with pytest.raises(ValueError, match="element 1 is not a Nonlinearity"):
        k.elements = (Ideal(), "diode", *k.elements[2:])  # type: ignore[list-item]
    assert k.all_ideal  # a refused sequence changes nothing
    k.elements = [Shockley(1e-3, 0.05), *k.elements[1:]]
    assert isinstance(k.elements, tuple) and not k.all_ideal and k.any_smooth
    z = k.solve(u).z
    fresh = Kernel(H, B, C, D, elements=k.elements).solve(u).z
    assert float((z - fresh).abs().max()) <= 1e-12 * float(fresh.abs().max())
    assert float((z - before).abs().max()) > 1e-3  # the new element answers differently
