"""Shared helpers: the one CSV reader (both of its users agree), the one
union-find (against breadth-first search), the seeded test circuits, index
sets read as views (against gathers)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from diodenet import D1N4148, Circuit
from diodenet.cli._io import read_csv_matrix
from diodenet.cli.main import UserError
from diodenet.training.datasets import DatasetError, load_csv
from diodenet.utils import UnionFind

ROWS = "".join(f"{x},{-x},{int(x > 0)}\n" for x in np.linspace(-1, 1, 12))


def test_both_csv_readers_accept_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_text("\ufeffV1,X1,Label\n" + ROWS, encoding="utf-8")
    names, values = read_csv_matrix(path)
    assert names == ["v1", "x1", "label"]
    assert values.shape == (12, 3)
    data = load_csv(path, label_column="label")
    assert data.feature_names == ["V1", "X1"]
    assert data.n_classes == 2


@pytest.mark.parametrize("header", ["a,A,label", "a,,label"])
def test_both_csv_readers_refuse_the_same_headers(tmp_path, header):
    path = tmp_path / "dup.csv"
    path.write_text(header + "\n" + ROWS)
    with pytest.raises(UserError, match=r"line 1: header needs unique, non-empty names"):
        read_csv_matrix(path)
    with pytest.raises(DatasetError, match=r"line 1: header needs unique, non-empty names"):
        load_csv(path)


def test_csv_errors_name_the_file_line_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("\n\nv1,v2\n1,2\n3,x\n")
    with pytest.raises(UserError, match=r"bad.csv: line 5, column 'v2': 'x' is not a number"):
        read_csv_matrix(path)


def _components_by_search(n: int, edges: list[tuple[int, int]]) -> list[int]:
    adjacent: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        adjacent[a].append(b)
        adjacent[b].append(a)
    label = [-1] * n
    for start in range(n):
        if label[start] >= 0:
            continue
        label[start], frontier = start, [start]
        while frontier:
            nxt = []
            for a in frontier:
                for b in adjacent[a]:
                    if label[b] < 0:
                        label[b] = start
                        nxt.append(b)
            frontier = nxt
    return label


@given(st.integers(1, 12).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=20))))
def test_union_find_components_match_breadth_first_search(case):
    n, edges = case
    uf = UnionFind[int]()
    loops = 0
    for a, b in edges:
        loops += not uf.join(a, b)
    truth = _components_by_search(n, edges)
    for a in range(n):
        for b in range(n):
            assert uf.connected(a, b) == (truth[a] == truth[b])
    # a spanning forest has n - components branches; every other branch closes a loop
    assert loops == len(edges) - (n - len(set(truth)))


def test_test_circuits_use_the_d1n4148_model():
    from diodenet.testing import D1N4148_CARD, random_diode_network

    circuit = Circuit.from_spice(random_diode_network(0))
    assert circuit.diodes and {d.model for d in circuit.diodes} == {D1N4148}
    assert "d1n4148" in D1N4148_CARD


@pytest.mark.parametrize("value, unit, text", [
    (0.04681, "W", "46.8 mW"), (3058.42, "W", "3.06 kW"), (53e-6, "J", "53 µJ"),
    (1e-6, "s", "1 µs"), (0.99996, "W", "1 W"), (999.96e-6, "J", "1 mJ"),
    (-2.5e-3, "A", "-2.5 mA"), (0.0, "W", "0 W"), (12.0, "V", "12 V"),
])
def test_quantities_are_written_with_an_si_prefix(value, unit, text):
    from diodenet.cli._io import si

    assert si(value, unit) == text


@pytest.mark.parametrize("index, is_view", [
    ([3, 4, 5, 6], True),       # consecutive: a network's inputs
    ([0, 2, 4, 6, 8], True),    # every other column: outputs' positive terminals
    ([7], True),
    ([0, 1, 3], False),         # irregular
    ([5, 4, 3], False),         # decreasing: a negative step has no view
    ([2, 2, 2], False),         # repeated
    ([], False),
])
def test_as_slice_reads_the_same_columns(index, is_view):
    from diodenet.utils.indexing import as_slice, columns

    X = torch.arange(60, dtype=torch.float64).reshape(6, 10)
    idx = torch.tensor(index, dtype=torch.int64)
    cols = as_slice(idx)
    assert isinstance(cols, slice) == is_view
    got = columns(X, cols)
    assert torch.equal(got, X[:, idx])
    if is_view:  # no copy
        assert got.data_ptr() == X[:, index[0]:].data_ptr()
