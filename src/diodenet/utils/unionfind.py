"""Disjoint sets over hashable names (path-halving union–find)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


class UnionFind(Generic[T]):
    """Which names are connected: ``join(a, b)`` merges their sets,
    ``find(a)`` returns the set's representative (a name seen first is its
    own set), ``connected(a, b)`` compares representatives."""

    def __init__(self) -> None:
        self.parent: dict[T, T] = {}

    def find(self, a: T) -> T:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def join(self, a: T, b: T) -> bool:
        """Merge the sets of ``a`` and ``b``; ``False`` if they already were one
        (in a graph of branches: the branch ``a–b`` closes a loop)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[ra] = rb
        return True

    def connected(self, a: T, b: T) -> bool:
        return self.find(a) == self.find(b)
