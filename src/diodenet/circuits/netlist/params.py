"""One scope's ``.param`` values, resolved as ngspice resolves them.

In ngspice a scope (the top level, or one subcircuit's body) defines its
parameters all at once: each name's last definition counts everywhere in the
scope, and definitions may use names defined further down (ngspice sorts
them by what they depend on). A definition that reads its own name reads the
enclosing scope's value of it (``.param g = {g*2}`` in a subcircuit doubles
the outer ``g``, even where the subcircuit's header declares ``g``); one that
depends on itself otherwise, directly or through others, is refused. In a
subcircuit a value given on the instance line outranks the body's
``.param`` of that name, which outranks the header's default.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .definitions import Assignment, names_read
from .expressions import ExpressionError, UserFunction
from .lexer import Card


class ParamScope(Mapping[str, float]):
    """The parameters in scope: ``known`` values, and ``pending`` definitions
    (each with its card) evaluated on first use."""

    def __init__(self, known: Mapping[str, float],
                 pending: Mapping[str, tuple[Assignment, Card]],
                 functions: Mapping[str, UserFunction],
                 enclosing: Mapping[str, float] | None = None) -> None:
        self.known = {k: v for k, v in known.items() if k not in pending}
        # what a definition that reads its own name gets: the enclosing scope's
        # value (ngspice: '.param g = {g*2}' in a subcircuit doubles the outer g,
        # also where the subcircuit's header declares g; with no outer g
        # ngspice refuses the self-reference)
        self.outer = {k: v for k, v in (enclosing or {}).items() if k in pending}
        self.pending = dict(pending)
        self.functions = functions
        self._resolving: list[str] = []

    def __contains__(self, name: object) -> bool:
        return name in self.known or name in self.pending

    def __getitem__(self, name: str) -> float:
        if name in self.known:
            return self.known[name]
        assignment, card = self.pending[name]  # KeyError for an unknown name
        if self._resolving[-1:] == [name] and name in self.outer:
            return self.outer[name]  # its own definition reads the enclosing value
        if name in self._resolving:
            cycle = " -> ".join([*self._resolving[self._resolving.index(name):], name])
            raise ExpressionError(f"parameters defined in terms of themselves: {cycle}")
        self._resolving.append(name)
        try:
            value = assignment.evaluate(self, self.functions)
        except ExpressionError as exc:  # named at the definition it is in
            raise card.error(f"{card.first}: {exc}") from None
        finally:
            self._resolving.pop()
        self.known[name] = value
        return value

    def __iter__(self) -> Iterator[str]:
        yield from self.known
        yield from (n for n in self.pending if n not in self.known)

    def __len__(self) -> int:
        return len(self.known) + sum(n not in self.known for n in self.pending)

    def resolved(self) -> dict[str, float]:
        """Every parameter's value: the pending definitions evaluated in the
        order they depend on each other (found from their tokens, without
        recursion, so a chain of any length written backwards resolves)."""
        for name in self._order():
            self[name]
        return dict(self.known)

    def _order(self) -> list[str]:
        """The pending names, each after those it reads (a depth-first walk with
        an explicit stack); a cycle is refused at the card that closes it."""
        deps = {n: sorted(names_read(a.tokens, self.functions) & self.pending.keys()
                          - ({n} if n in self.outer else set()))
                for n, (a, _) in self.pending.items()}
        order: list[str] = []
        state: dict[str, int] = {}  # 1: on the walk's path, 2: placed
        for root in self.pending:
            if root in state:
                continue
            state[root] = 1
            path, todo = [root], [iter(deps[root])]
            while todo:
                step = next(todo[-1], None)
                if step is None:
                    todo.pop()
                    done = path.pop()
                    state[done] = 2
                    order.append(done)
                elif state.get(step) == 1:
                    cycle = " -> ".join([*path[path.index(step):], step])
                    card = self.pending[path[-1]][1]
                    raise card.error(f"{card.first}: parameters defined in terms of "
                                     f"themselves: {cycle}")
                elif step not in state:
                    state[step] = 1
                    path.append(step)
                    todo.append(iter(deps[step]))
        return order


def scope_values(inherited: Mapping[str, float],
                 definitions: Mapping[str, tuple[Assignment, Card]],
                 pinned: frozenset[str], functions: Mapping[str, UserFunction],
                 enclosing: Mapping[str, float] | None = None) -> dict[str, float]:
    """The scope's values: ``inherited`` ones (the enclosing scope's, and the
    subcircuit header's parameters with the instance's values), overridden by
    ``definitions`` except for the ``pinned`` names (given on the instance
    line); a definition reading its own name reads ``enclosing``'s value."""
    pending = {n: d for n, d in definitions.items() if n not in pinned}
    return ParamScope(inherited, pending, functions, enclosing).resolved()
