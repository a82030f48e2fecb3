"""ngspice netlist to ``Circuit``: data only, every refusal a ``NetlistError``.

What is read (cards are case-insensitive), with DC semantics:

* elements R, C (open), L (a short), K (no effect), D, V, I (``sources``), E,
  F, G, H (``cards``), and X instances of ``.subckt`` definitions, which are
  flattened the way ngspice does it: element ``r1`` of instance ``x1``
  becomes ``r.x1.r1``, its internal node ``n`` becomes ``x1.n`` (``.global``
  nodes and ground stay as they are); a diode model defined inside a
  subcircuit becomes ``x1:name``;
* instances of the writer's reserved subcircuits ``diodenet_transformer`` and
  ``diodenet_gyrator`` become ``Transformer``/``Gyrator`` elements when the
  definition is exactly the writer's; otherwise they are flattened;
* ``.model NAME D(...)`` (``models``), ``.param``/``.global_param``
  (expressions: see ``expressions``; ``temper`` is the circuit temperature),
  ``.options`` (numeric values; ``temp``/``tnom`` set the temperatures, Xyce's
  ``.options device`` is read the same way), ``.temp``, ``.title``,
  ``.global``, ``.end`` (anything after it is skipped with a note). As in
ngspice, a second ``.model`` of a name is ignored (the first counts) and an
instance value for a name its subcircuit lacks is ignored, with a note each.

Skipped with one note each (``NetlistWarning``): ``.control`` blocks (in the
lexer) and the analysis and output cards in ``IGNORED_CARDS``. They cannot
change the circuit, and the simulators add their own analyses.

Refused: shell escapes, includes of files not allowed explicitly, out-of-scope
elements (Q, M, J, B, S, W, A, T, O, ...), every other card, duplicate element
and subcircuit names, negative resistances, topology problems (``Circuit.topology_problems``)
and malformed numbers or expressions.

``load`` holds the entry points (``parse_netlist``, ``read_netlist``) and the
deck-wide steps around the card reader here.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from ..circuit import Circuit
from ..diode_models import DiodeModel
from ..elements import Element, Gyrator, Transformer
from .cards import element_card, temperature
from .definitions import Assignment, function_scope, parse_function, split_assignments
from .dot_cards import IGNORED_CARDS, OPTION_CARDS
from .errors import NetlistWarning
from .expressions import ExpressionError, UserFunction, evaluate, parse_number
from .lexer import Card, split_words
from .models import diode_instance, model_name_of, parse_model_card, reads_as_number
from .params import scope_values
from .subckt import (
    MAX_ELEMENTS,
    MAX_SUBCKT_DEPTH,
    RESERVED,
    Block,
    body_parameters,
    flat_size,
    instance_split,
    shape,
)
from .writer import (
    TRANSFORMER_SUBCKT,
    spice_diode_model,
)

#: Notes shown per card and per netlist; the rest are summarised in one note.
NOTES_PER_CARD = 5
MAX_NOTES = 100


#: Xyce's option packages (``.options device temp=50``): the words are package names
_XYCE_PACKAGES = {"device", "nonlin", "nonlin-tran", "timeint", "linsol", "output", "parser"}


class _Reader:
    def __init__(self, title: str) -> None:
        self.circuit = Circuit(title=title)
        self.lines: dict[str, Card] = {}
        self.global_nodes: set[str] = set()
        self.global_params: dict[str, float] = {}
        self.models: dict[str, dict[str, float] | DiodeModel] = {}
        self.model_cards: dict[str, Card] = {}
        self.exact: dict[str, tuple[Card, DiodeModel]] = {}
        self.top: Block | None = None
        self.instances = 0
        self.notes_per_card: dict[tuple[int, str], int] = {}
        self.noted: set[tuple[int, str, str]] = set()  # cards warn_once has noted
        self.shown = self.hidden = self.hidden_from = 0
        self.temp = 27.0  # circuit temperature (C): .temp, .options temp=
        self.tnom = 27.0  # default nominal temperature (C): .options tnom=
        self.extra: list[Element] = []  # elements a card adds besides its own
        # the .func definitions the expanding block sees, and each block's
        # (by id: blocks are not hashable), built once however often it is called
        self.functions: Mapping[str, UserFunction] = {}
        self.function_scopes: dict[int, Mapping[str, UserFunction]] = {}
        # K cards and the (flattened) inductor names they couple: checked once
        # every element is read, as ngspice refuses a coupling of no inductor
        self.couplings: list[tuple[Card, list[str]]] = []

    # ------------------------------------------------------------- values
    def value(self, card: Card, word: str, params: dict[str, float], what: str) -> float:
        try:
            if word[:1] in "{'":
                return evaluate(word, params, self.functions)
            if word.lower() in params:
                # ngspice reads a bare name as a model name, never as a parameter
                raise ExpressionError(f"{word!r} is a parameter: write {{{word}}} to use it")
            return parse_number(word)
        except ExpressionError as exc:
            raise card.error(f"{what}: {exc}") from None

    def warn(self, card: Card, message: str) -> None:
        # at most NOTES_PER_CARD notes per card and MAX_NOTES per netlist; the rest
        # are counted and summarised in one (a card may drop 100,000 parameters)
        key = (card.line, card.where)
        count = self.notes_per_card[key] = self.notes_per_card.get(key, 0) + 1
        if count <= NOTES_PER_CARD and self.shown < MAX_NOTES:
            self.shown += 1
            warnings.warn(NetlistWarning(card.line, card.where + message), stacklevel=4)
        else:
            self.hidden += 1
            self.hidden_from = self.hidden_from or card.line

    def warn_once(self, card: Card, message: str) -> None:
        """``warn``, once per card however often its block is expanded."""
        key = (card.line, card.where, card.text)
        if key not in self.noted:
            self.noted.add(key)
            self.warn(card, message)

    def summarise_notes(self) -> None:
        """One note for the notes ``warn`` did not show (at the first card with any)."""
        if self.hidden:
            warnings.warn(NetlistWarning(self.hidden_from, f"{self.hidden} more notes not "
                                         f"shown (from line {self.hidden_from} on)"),
                          stacklevel=3)

    # ------------------------------------------------------------- top level
    def read(self, top: Block) -> None:
        self.top = top
        dot_temp: float | None = None  # ngspice: a .temp card outranks .options temp=
        for card in top.cards:
            first = card.first
            if first == ".global":
                self.global_nodes.update(w.lower() for w in card.text.split()[1:])
            elif first in OPTION_CARDS:
                self.options(card)
            elif first == ".temp":
                words = card.text.split()
                if len(words) != 2:
                    raise card.error(".temp takes one temperature (C); "
                                     "diodenet solves one operating point")
                dot_temp = temperature(card, self.value(card, words[1], {}, ".temp"), ".temp")
            elif first == ".title":
                parts = card.text.split(None, 1)
                self.circuit.title = parts[1] if len(parts) > 1 else ""
        if dot_temp is not None:
            self.temp = dot_temp
        self.expand(top, {"temper": self.temp}, "", {}, ())

    def options(self, card: Card) -> None:
        for w in split_words(card)[1:]:
            if "=" not in w:
                if w.lower() in _XYCE_PACKAGES:
                    continue
                self.warn(card, f"option {w!r} without a value ignored (numeric options only)")
                continue
            key, raw = w.split("=", 1)
            key = key.lower()
            if raw.replace("_", "").isalpha():
                self.warn(card, f"option {key}={raw} ignored (numeric options only)")
                continue
            x = self.value(card, raw, {}, f"option {key}")
            if key == "temp":
                self.temp = temperature(card, x, "option temp")
            elif key == "tnom":
                self.tnom = temperature(card, x, "option tnom")
            else:
                self.circuit.options[key] = x

    # -------------------------------------------------------------- blocks
    def expand(
        self, block: Block, params: dict[str, float], path: str, ports: dict[str, str],
        stack: tuple[str, ...], pinned: frozenset[str] = frozenset(),
        caller: dict[str, float] | None = None,
        defaults: dict[str, tuple[Assignment, Card]] | None = None,
    ) -> None:
        """Read ``block``'s cards into the circuit: its parameters resolved over
        ``params`` (see ``params``; ``pinned``: the names its instance gave;
        ``caller``: the calling scope's values, which a definition reading its
        own name reads; ``defaults``: the header's, resolved with the body's
        ``.param`` cards, which outrank them), then its elements and instances."""
        functions = self.functions_of(block)
        models: dict[str, Card] = {}
        # the scope's .param definitions, the last of each name counting
        definitions: dict[str, tuple[Assignment, Card]] = dict(defaults or {})
        for card in block.cards:
            if card.first in (".param", ".global_param"):
                parts = card.text.split(None, 1)
                try:
                    for a in split_assignments(parts[1] if len(parts) > 1 else ""):
                        definitions[a.name] = (a, card)
                except ExpressionError as exc:
                    raise card.error(f"{card.first}: {exc}") from None
            elif card.first == ".model":
                name = model_name_of(card)
                if name in models:
                    # ngspice uses the first .model card of a name, silently
                    self.warn_once(card, f"second .model {name!r} ignored: the first (line "
                                   f"{models[name].line}) is used, as ngspice does")
                    continue
                models[name] = card
        with self.seeing(functions):
            params = scope_values(params, definitions, pinned, functions, caller)
            self._expand_cards(block, params, path, ports, stack, models)

    def functions_of(self, block: Block) -> Mapping[str, UserFunction]:
        """The ``.func`` definitions ``block``'s cards see: its own over those of
        the blocks it is written in, up to the top level. ngspice scopes them
        where they are written: a subcircuit does not see its caller's."""
        table = self.function_scopes.get(id(block))
        if table is None:
            own: list[tuple[str, UserFunction]] = []
            for card in block.cards:
                if card.first == ".func":
                    try:
                        own.append(parse_function(card.text.split(None, 1)[1]
                                                  if " " in card.text.strip() else ""))
                    except ExpressionError as exc:
                        raise card.error(str(exc)) from None
            enclosing = self.functions_of(block.parent) if block.parent is not None else {}
            table = self.function_scopes[id(block)] = function_scope(own, enclosing)
        return table

    @contextmanager
    def seeing(self, functions: Mapping[str, UserFunction]) -> Iterator[None]:
        """Values read inside see ``functions`` (those of the block they are written in)."""
        outer, self.functions = self.functions, functions
        try:
            yield
        finally:
            self.functions = outer

    def _expand_cards(
        self, block: Block, params: dict[str, float], path: str, ports: dict[str, str],
        stack: tuple[str, ...], models: dict[str, Card],
    ) -> None:
        """``expand`` once the scope's parameters and functions are known."""
        if not path:
            self.global_params = params
            for name, card in models.items():
                self.model_cards[name] = card
        for card in block.cards:
            first = card.first
            if first.startswith("."):
                self.dot_card(card, top=not path)
            elif first.startswith("x"):
                self.instance(card, split_words(card), f"x.{path}.{first}" if path else first,
                              params, path, ports, block, stack)
            else:
                element = element_card(self, card, params, path,
                                       lambda w: self.node(w, path, ports), models, block)
                if element is not None:
                    self.add(card, element)
                for extra in self.extra:
                    self.add(card, extra)
                self.extra = []

    def dot_card(self, card: Card, top: bool) -> None:
        first = card.first
        if first in (".param", ".global_param", ".model", ".func"):
            return
        if first in (".global", *OPTION_CARDS, ".title", ".temp"):
            if not top:
                raise card.error(f"{first} is not allowed inside .subckt")
            return
        if first in IGNORED_CARDS:
            self.warn(card, f"{first} ignored (diodenet reads the circuit; simulators add "
                      "their own analyses)")
            return
        if first == ".end":
            raise card.error(".end inside .subckt")
        raise card.error(f"unknown card {first!r}")

    # ------------------------------------------------------------ elements
    def node(self, name: str, path: str, ports: dict[str, str]) -> str:
        n = name.lower()
        if n in ("0", "gnd"):
            return "0"
        if n in ports:
            return ports[n]
        if not path or n in self.global_nodes:
            return n
        return f"{path}.{n}"

    def add(self, card: Card, element: Element) -> None:
        if element.name in self.circuit:
            first = self.lines[element.name]
            raise card.error(
                f"duplicate element name {element.name!r} (first on line {first.line})"
            )
        if len(self.circuit) >= MAX_ELEMENTS:
            raise card.error(f"more than {MAX_ELEMENTS} elements")
        self.circuit.add(element)
        self.lines[element.name] = card

    def diode_model(
        self, card: Card, name: str, params: dict[str, float], path: str,
        models: dict[str, Card], block: object,
    ) -> tuple[str, dict[str, float] | DiodeModel]:
        """``(model name, evaluated parameters)`` of a diode's model, or an exact
        (ideal, PWL) model from a ``*@diodenet model`` note."""
        if reads_as_number(name):
            raise card.error(f"diode model name {name!r} reads as a number (ngspice refuses "
                             "it too): rename the model")
        local = bool(path) and name in models
        if local:
            model_card, model_name = models[name], f"{path}:{name}"
        elif name in self.model_cards:
            model_card, model_name = self.model_cards[name], name
        else:
            raise card.error(f"diode model {name!r} is not defined (.model {name} D(...))")
        if model_name in self.models:
            return model_name, self.models[model_name]
        # a top-level .model card reads the top level's parameters and functions,
        # wherever the diode that uses it is
        assert self.top is not None
        with self.seeing(self.functions if local else self.functions_of(self.top)):
            card_values = parse_model_card(
                model_card, params if local else self.global_params, self.value, self.warn)
        values: dict[str, float] | DiodeModel = card_values
        if not local and name in self.exact:
            note, exact = self.exact[name]
            try:
                as_written = diode_instance(card_values, 27.0, 27.0)
            except ValueError:
                as_written = None
            if spice_diode_model(exact) == as_written and self.temp == 27.0:
                values = exact
            else:
                self.warn(note, f"*@diodenet model {name} ignored: the .model card on line "
                          f"{model_card.line} was edited, so it is used as written")
        self.models[model_name] = values
        return model_name, values

    def instance(
        self, card: Card, words: list[str], flat: str, params: dict[str, float], path: str,
        ports: dict[str, str], block: Block, stack: tuple[str, ...],
    ) -> None:
        name = words[0].lower()
        args = words[1:]
        cut, sub_name = instance_split(words)
        if not sub_name:
            raise card.error(f"{name}: expected 'xNAME nodes... SUBCKT [params: k=v ...]'")
        node_words = args[:cut - 1]
        sub = block.find_subckt(sub_name)
        if sub is None:
            raise card.error(f"{name}: unknown subcircuit {sub_name!r}")
        if len(node_words) != len(sub.ports):
            raise card.error(f"{name}: subcircuit {sub_name!r} has {len(sub.ports)} ports, "
                             f"got {len(node_words)} nodes")
        if sub_name in stack or len(stack) >= MAX_SUBCKT_DEPTH:
            raise card.error(f"{name}: subcircuit {sub_name!r} instantiates itself "
                             "(or nests too deep)")
        if not stack and flat_size(sub, (sub_name,), {}) + len(self.circuit) > MAX_ELEMENTS:
            raise card.error(f"{name}: flattening would make more than {MAX_ELEMENTS} elements "
                             "and subcircuit instances")
        self.instances += 1
        if self.instances + len(self.circuit) > MAX_ELEMENTS:
            raise card.error(f"more than {MAX_ELEMENTS} elements and subcircuit instances")
        overrides: dict[str, float] = {}
        # ngspice's formal parameters: the header's and the body's .param names
        declared = {k for k, _ in sub.defaults} | body_parameters(sub)
        for w in args[cut:]:
            w = w[len("params:"):] if w.lower().startswith("params:") else w
            if not w:
                continue
            if "=" not in w:
                raise card.error(f"{name}: expected k=v after the subcircuit name, got {w!r}")
            key, raw = w.split("=", 1)
            key = key.lower()
            if not declared:
                raise card.error(f"{name}: subcircuit {sub_name!r} has no parameters, so "
                                 f"{key}= cannot be given (ngspice refuses it too: "
                                 "'Mismatch: 0 formal but 1 actual params')")
            if key not in declared:
                self.warn_once(card, f"{name}: subcircuit {sub_name!r} has no parameter "
                               f"{key!r}; {key}= ignored, as ngspice does")
                continue
            overrides[key] = self.value(card, raw, params, f"{name} parameter {key}")
        # ngspice resolves a subcircuit in the scope it is called from (the
        # caller's parameters, over the top level's), not where it is defined;
        # the header's defaults join the body's .param cards (which outrank
        # them and which they may read), the instance's values outrank both
        inner = {**params, **overrides}
        assert sub.header is not None
        defaults: dict[str, tuple[Assignment, Card]] = {}
        for key, raw in sub.defaults:
            if key not in overrides:
                try:
                    (assignment,) = split_assignments(f"{key}={raw}")
                except (ExpressionError, ValueError):
                    raise sub.header.error(f"{sub_name} parameter {key}: expected a value or "
                                           f"an expression, got {raw!r}") from None
                defaults[key] = (assignment, sub.header)
        nodes = [self.node(w, path, ports) for w in node_words]
        if sub_name in RESERVED and sub.parent is self.top and shape(sub) == RESERVED[sub_name]:
            values = scope_values(inner, defaults, frozenset(), self.functions_of(sub), params)
            try:
                p1, p2, s1, s2 = nodes  # RESERVED shapes have four ports
                if sub_name == TRANSFORMER_SUBCKT:
                    element: Element = Transformer(flat, p1, p2, s1, s2, n=values["n"])
                else:
                    element = Gyrator(flat, p1, p2, s1, s2, g=values["g"])
            except ValueError as exc:
                raise card.error(str(exc)) from None
            self.add(card, element)
            return
        new_path = f"{path}.{name}" if path else name
        self.expand(sub, inner, new_path, dict(zip(sub.ports, nodes)), (*stack, sub_name),
                    frozenset(overrides), params, defaults)
