"""Subcircuit definitions: nesting, instance words, flattened size, reserved shapes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .definitions import split_assignments
from .lexer import Card, lex, split_words
from .numbers import ExpressionError
from .writer import GYRATOR_SUBCKT, GYRATOR_TEXT, TRANSFORMER_SUBCKT, TRANSFORMER_TEXT

MAX_ELEMENTS = 1_000_000
MAX_SUBCKT_DEPTH = 50


@dataclass
class Block:
    """The cards of the top level or of one ``.subckt`` definition."""

    name: str
    cards: list[Card] = field(default_factory=list)
    subckts: dict[str, Block] = field(default_factory=dict)
    ports: list[str] = field(default_factory=list)
    defaults: list[tuple[str, str]] = field(default_factory=list)
    header: Card | None = None
    parent: Block | None = None

    def find_subckt(self, name: str) -> Block | None:
        block: Block | None = self
        while block is not None:
            if name in block.subckts:
                return block.subckts[name]
            block = block.parent
        return None


def subckt_header(card: Card, parent: Block) -> Block:
    words = split_words(card)
    if len(words) < 2:
        raise card.error(".subckt needs a name")
    block = Block(name=words[1].lower(), header=card, parent=parent)
    for w in words[2:]:
        lw = w.lower()
        if lw == "params:":
            continue
        if lw.startswith("params:"):
            lw, w = lw[len("params:"):], w[len("params:"):]
        if "=" in w:
            key, value = w.split("=", 1)
            block.defaults.append((key.lower(), value))
        elif block.defaults:
            raise card.error(f"subcircuit port {w!r} after its parameters")
        else:
            block.ports.append(lw if lw != "gnd" else "0")
    return block


def structure(cards: list[Card], warn: Callable[[Card, str], None] | None = None) -> Block:
    """Split the cards into the top level and (nested) ``.subckt`` definitions.

    ``warn(card, note)`` hears of an ``.ends NAME`` naming another subcircuit
    than the one it closes (ngspice closes the innermost, whatever the name)."""
    top = Block(name="")
    stack = [top]
    for card in cards:
        if card.first == ".subckt":
            block = subckt_header(card, stack[-1])
            if block.name in stack[-1].subckts:
                raise card.error(f"duplicate subcircuit name {block.name!r}")
            stack[-1].subckts[block.name] = block
            stack.append(block)
        elif card.first == ".ends":
            if len(stack) == 1:
                raise card.error(".ends without .subckt")
            words = card.text.split()
            if len(words) > 1 and words[1].lower() != stack[-1].name and warn is not None:
                warn(card, f"'.ends {words[1]}' closes '.subckt {stack[-1].name}' (the "
                     "innermost open one, whatever the name), as in ngspice")
            stack.pop()
        else:
            stack[-1].cards.append(card)
    if len(stack) > 1:
        assert stack[-1].header is not None
        raise stack[-1].header.error(f"'.subckt {stack[-1].name}' has no .ends")
    return top


def body_parameters(block: Block) -> set[str]:
    """The names a block's own ``.param`` cards define (ngspice counts them among
    the subcircuit's formal parameters, which an instance may set)."""
    names: set[str] = set()
    for card in block.cards:
        if card.first == ".param":
            parts = card.text.split(None, 1)
            try:
                names.update(a.name for a in split_assignments(parts[1] if len(parts) > 1
                                                               else ""))
            except ExpressionError:
                continue  # refused, on its line, when the block is expanded
    return names


def instance_split(words: list[str]) -> tuple[int, str]:
    """For an X card's words: how many words after the name precede the
    parameters, and the subcircuit name (the last of them; "" if none)."""
    args = words[1:]
    cut = len(args)
    for i, w in enumerate(args):
        if w.lower().startswith("params:") or "=" in w:
            cut = i
            break
    return cut, (args[cut - 1].lower() if cut >= 1 else "")


def flat_size(block: Block, stack: tuple[str, ...], memo: dict[str, int]) -> int:
    """How many elements flattening ``block`` makes, found without expanding it.

    Instances count as one each, so element-free nesting is capped too.
    Capped just above ``MAX_ELEMENTS`` so nested instances cannot blow up
    (10 levels of 10 instances would be 10^10 instances).
    """
    total = 0
    for card in block.cards:
        if card.first.startswith("."):
            continue
        if card.first.startswith("x"):
            target = instance_split(split_words(card))[1]
            sub = block.find_subckt(target)
            if sub is None or target in stack or len(stack) > MAX_SUBCKT_DEPTH:
                total += 1  # reported properly when it is expanded
            else:
                if target not in memo:
                    memo[target] = flat_size(sub, (*stack, target), memo)
                total += 1 + memo[target]  # the instance itself counts too
        else:
            total += 1
        if total > MAX_ELEMENTS:
            return MAX_ELEMENTS + 1
    return total


def canonical(text: str) -> tuple[object, ...]:
    """A subcircuit definition, normalised for comparison with the writer's."""
    block = structure(lex("title\n" + text).cards).subckts
    (b,) = block.values()
    return shape(b)


def shape(b: Block) -> tuple[object, ...]:
    body = tuple(tuple(w.lower() for w in split_words(c)) for c in b.cards)
    defaults = tuple((k, v.lower()) for k, v in b.defaults)
    return (b.name, tuple(b.ports), defaults, body, len(b.subckts))


RESERVED = {
    TRANSFORMER_SUBCKT: canonical(TRANSFORMER_TEXT),
    GYRATOR_SUBCKT: canonical(GYRATOR_TEXT),
}
