"""ngspice netlist to ``Circuit``: data only, every refusal a ``NetlistError``.

What is read (cards are case-insensitive):

* elements R, D, V, I (DC values; an ``ac`` part is dropped), E, F, G, H, and
  X instances of ``.subckt`` definitions, which are flattened the way ngspice
  does it: element ``r1`` of instance ``x1`` becomes ``r.x1.r1``, its internal
  node ``n`` becomes ``x1.n`` (``.global`` nodes and ground stay as they are);
  a diode model defined inside a subcircuit becomes ``x1:name``;
* instances of the writer's reserved subcircuits ``diodenet_transformer`` and
  ``diodenet_gyrator`` become ``Transformer``/``Gyrator`` elements when the
  definition is exactly the writer's; otherwise they are flattened;
* ``.model NAME D(...)``, ``.param`` (expressions: see ``expressions``),
  ``.options`` (numeric values), ``.title``, ``.global``, ``.end``;
* ``.temp 27`` (the only temperature diodenet models) is accepted.

Accepted and ignored, with a ``NetlistWarning``: the analysis and output
cards ``.op .dc .tran .ac .tf .sens .noise .pz .disto .four .save .print
.plot .probe .meas .measure .nodeset .ic .width``. They cannot change the
circuit, and the simulators add their own analyses.

Refused: ``.control``/``.endc``/``.exec`` and shell escapes, includes of files
not passed explicitly, cards after ``.end`` (ngspice would still run them),
elements diodenet does not model (L, C, Q, M, B, ...), every other card,
duplicate names, non-positive resistances, topology problems
(``Circuit.topology_problems``) and malformed numbers or expressions.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from ..circuit import Circuit
from ..elements import (
    CCCS,
    CCVS,
    VCCS,
    VCVS,
    CurrentSource,
    Diode,
    DiodeModel,
    Element,
    Gyrator,
    Resistor,
    Transformer,
    VoltageSource,
)
from .errors import NetlistError, NetlistWarning
from .expressions import ExpressionError, evaluate, parse_assignments, parse_number
from .lexer import Card, lex, split_words
from .models import parse_model_card
from .notes import read_notes
from .subckt import (
    MAX_ELEMENTS,
    MAX_SUBCKT_DEPTH,
    RESERVED,
    Block,
    flat_size,
    instance_split,
    shape,
    structure,
)
from .writer import (
    TRANSFORMER_SUBCKT,
    spice_diode_model,
)

MAX_FILE_BYTES = 50_000_000

IGNORED_CARDS = {
    ".op", ".dc", ".tran", ".ac", ".tf", ".sens", ".noise", ".pz", ".disto", ".four",
    ".save", ".print", ".plot", ".probe", ".meas", ".measure", ".nodeset", ".ic", ".width",
}
_TRANSIENT = {"sin", "pulse", "pwl", "exp", "sffm", "am", "trnoise", "trrandom", "distof1",
              "distof2", "portnum", "z0"}
UNMODELLED_ELEMENTS = {
    "a": "XSPICE code models (A)", "b": "behavioural sources (B)", "c": "capacitors (C)",
    "j": "JFETs (J)", "k": "coupled inductors (K)", "l": "inductors (L)", "m": "MOSFETs (M)",
    "n": "OSDI/Verilog-A devices (N)", "o": "lossy lines (O)", "p": "coupled lines (P)",
    "q": "bipolar transistors (Q)", "s": "switches (S)", "t": "transmission lines (T)",
    "u": "uniform RC lines (U)", "w": "current switches (W)", "y": "lossy lines (Y)",
    "z": "MESFETs (Z)",
}


def _model_name(card: Card) -> str:
    words = split_words(card, parens=True)
    if len(words) < 2:
        raise card.error(".model needs a name")
    return words[1].lower()


class _Reader:
    def __init__(self, title: str) -> None:
        self.circuit = Circuit(title=title)
        self.lines: dict[str, Card] = {}
        self.global_nodes: set[str] = set()
        self.global_params: dict[str, float] = {}
        self.models: dict[str, DiodeModel] = {}
        self.model_cards: dict[str, Card] = {}
        self.exact: dict[str, tuple[Card, DiodeModel]] = {}
        self.top: Block | None = None

    # ------------------------------------------------------------- values
    def value(self, card: Card, word: str, params: dict[str, float], what: str) -> float:
        try:
            if word[:1] in "{'":
                return evaluate(word, params)
            if word.lower() in params:
                # ngspice reads a bare name as a model name, never as a parameter
                raise ExpressionError(f"{word!r} is a parameter: write {{{word}}} to use it")
            return parse_number(word)
        except ExpressionError as exc:
            raise card.error(f"{what}: {exc}") from None

    def warn(self, card: Card, message: str) -> None:
        warnings.warn(NetlistWarning(f"line {card.line}: {card.where}{message}"), stacklevel=4)

    # ------------------------------------------------------------- top level
    def read(self, top: Block) -> None:
        self.top = top
        for card in top.cards:
            if card.first == ".global":
                self.global_nodes.update(w.lower() for w in card.text.split()[1:])
        self.expand(top, {}, "", {}, ())
        for card in top.cards:
            first = card.first
            if first in (".options", ".option", ".opt"):
                self.options(card)
            elif first == ".title":
                parts = card.text.split(None, 1)
                self.circuit.title = parts[1] if len(parts) > 1 else ""
            elif first == ".temp":
                words = card.text.split()
                if len(words) != 2 or self.value(card, words[1], {}, ".temp") != 27.0:
                    raise card.error(".temp other than 27 refused: diodenet models 27 C only")

    def options(self, card: Card) -> None:
        for w in split_words(card)[1:]:
            if "=" not in w:
                self.warn(card, f"option {w!r} without a value dropped (numeric options only)")
                continue
            key, raw = w.split("=", 1)
            key = key.lower()
            if raw.replace("_", "").isalpha():
                self.warn(card, f"option {key}={raw} dropped (numeric options only)")
                continue
            self.circuit.options[key] = self.value(card, raw, self.global_params, f"option {key}")

    # -------------------------------------------------------------- blocks
    def expand(
        self, block: Block, params: dict[str, float], path: str, ports: dict[str, str],
        stack: tuple[str, ...],
    ) -> None:
        params = dict(params)
        models: dict[str, Card] = {}
        for card in block.cards:
            if card.first == ".param":
                parts = card.text.split(None, 1)
                try:
                    params.update(parse_assignments(parts[1] if len(parts) > 1 else "", params))
                except ExpressionError as exc:
                    raise card.error(f".param: {exc}") from None
            elif card.first == ".model":
                name = _model_name(card)
                if name in models:
                    raise card.error(f"duplicate model name {name!r}")
                models[name] = card
        if not path:
            self.global_params = params
            for name, card in models.items():
                self.model_cards[name] = card
        for card in block.cards:
            first = card.first
            if first.startswith("."):
                self.dot_card(card, top=not path)
            else:
                self.element(card, params, path, ports, models, block, stack)

    def dot_card(self, card: Card, top: bool) -> None:
        first = card.first
        if first in (".param", ".model"):
            return
        if first in (".global", ".options", ".option", ".opt", ".title", ".temp"):
            if not top:
                raise card.error(f"{first} is not allowed inside .subckt")
            return
        if first in IGNORED_CARDS:
            self.warn(card, f"{first} ignored (diodenet reads the circuit; simulators add "
                      "their own analyses)")
            return
        if first == ".func":
            raise card.error(".func (user-defined functions) is not supported")
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

    def element(
        self, card: Card, params: dict[str, float], path: str, ports: dict[str, str],
        models: dict[str, Card], block: Block, stack: tuple[str, ...],
    ) -> None:
        words = split_words(card)
        name = words[0].lower()
        letter = name[0]
        if letter in UNMODELLED_ELEMENTS:
            raise card.error(
                f"element {name!r}: {UNMODELLED_ELEMENTS[letter]} are not modelled by diodenet "
                "(it reads R, D, V, I, E, F, G, H and X)"
            )
        if letter not in "rdviefghx" or not letter.isalpha():
            raise card.error(f"unknown element {name!r}")
        flat = name if not path else f"{letter}.{path}.{name}"
        if letter == "x":
            self.instance(card, words, flat, params, path, ports, block, stack)
            return

        def nodes(k: int) -> list[str]:
            if len(words) < 1 + k:
                raise card.error(f"{name}: expected {k} nodes")
            return [self.node(w, path, ports) for w in words[1:1 + k]]

        def val(word: str, what: str) -> float:
            return self.value(card, word, params, f"{name} {what}")

        def exactly(n: int, form: str) -> None:
            if len(words) != n:
                raise card.error(f"{name}: expected '{form}', got {card.text!r}")

        try:
            element: Element
            if letter == "r":
                n1, n2 = nodes(2)
                rest = words[3:]
                if not rest:
                    raise card.error(f"{name}: resistor without a value")
                for extra in rest[1:]:
                    key = extra.split("=", 1)[0].lower()
                    if key in ("tc1", "tc2", "tce"):
                        self.warn(card, f"{name}: {key} dropped (no effect at 27 C)")
                    else:
                        raise card.error(f"{name}: unsupported resistor parameter {extra!r}")
                element = Resistor(flat, n1, n2, resistance=val(rest[0], "resistance"))
            elif letter == "d":
                anode, cathode = nodes(2)
                if len(words) < 4:
                    raise card.error(f"{name}: diode without a model name")
                for extra in words[4:]:
                    key, _, raw = extra.partition("=")
                    key = key.lower()
                    if key == "off" or key == "ic":
                        continue  # initial-guess hints only
                    if key in ("area", "m") or not raw:
                        if val(raw or extra, key) != 1.0:
                            raise card.error(f"{name}: area or multiplier other than 1 "
                                             "is not modelled")
                        continue
                    raise card.error(f"{name}: unsupported diode parameter {extra!r}")
                model_name, model = self.diode_model(card, words[3].lower(), params, path,
                                                     models, block)
                element = Diode(flat, anode, cathode, model, model_name)
            elif letter in "vi":
                pos, neg = nodes(2)
                dc = self.source_value(card, name, words[3:], params)
                cls = VoltageSource if letter == "v" else CurrentSource
                element = cls(flat, pos, neg, dc)
            elif letter in "eg":
                exactly(6, f"{name} n+ n- nc+ nc- {'gain' if letter == 'e' else 'gm'}")
                pos, neg, cp, cn = nodes(4)
                gain = val(words[5], "gain")
                element = (VCVS if letter == "e" else VCCS)(flat, pos, neg, cp, cn, gain)
            else:  # f, h
                exactly(5, f"{name} n+ n- vcontrol {'gain' if letter == 'f' else 'rm'}")
                pos, neg = nodes(2)
                ctrl = words[3].lower()
                if not ctrl.startswith("v"):
                    raise card.error(f"{name}: controlling element {ctrl!r} is not a V source")
                ctrl = ctrl if not path else f"v.{path}.{ctrl}"
                gain = val(words[4], "gain")
                element = (CCCS if letter == "f" else CCVS)(flat, pos, neg, ctrl, gain)
        except NetlistError:
            raise
        except ValueError as exc:
            raise card.error(str(exc)) from None
        self.add(card, element)

    def source_value(
        self, card: Card, name: str, rest: list[str], params: dict[str, float]
    ) -> float:
        dc = 0.0
        i = 0
        if i < len(rest) and rest[i].lower() == "dc":
            i += 1
            if i >= len(rest):
                raise card.error(f"{name}: 'dc' without a value")
        if i < len(rest) and rest[i].lower().split("(")[0] in _TRANSIENT:
            raise card.error(f"{name}: only DC sources are modelled; cannot read "
                             f"{' '.join(rest[i:])!r}")
        if i < len(rest) and rest[i].lower() != "ac":
            dc = self.value(card, rest[i], params, f"{name} dc value")
            i += 1
        if i < len(rest) and rest[i].lower() == "ac":
            self.warn(card, f"{name}: ac specification dropped (DC only)")
            i += 1
            for _ in range(2):  # magnitude and phase, if numbers
                if i < len(rest):
                    try:
                        parse_number(rest[i])
                    except ExpressionError:
                        break
                    i += 1
        if i < len(rest):
            raise card.error(
                f"{name}: only DC sources are modelled; cannot read {' '.join(rest[i:])!r}"
            )
        return dc

    def diode_model(
        self, card: Card, name: str, params: dict[str, float], path: str,
        models: dict[str, Card], block: Block,
    ) -> tuple[str, DiodeModel]:
        local = bool(path) and name in models
        if local:
            model_card, model_name = models[name], f"{path}:{name}"
        elif name in self.model_cards:
            model_card, model_name = self.model_cards[name], name
        else:
            raise card.error(f"diode model {name!r} is not defined (.model {name} D(...))")
        if model_name in self.models:
            return model_name, self.models[model_name]
        model: DiodeModel = parse_model_card(
            model_card, params if local else self.global_params, self.value, self.warn)
        if not local and name in self.exact:
            note, exact = self.exact[name]
            if spice_diode_model(exact) == model:
                model = exact
            else:
                self.warn(note, f"*@diodenet model {name} ignored: the .model card on line "
                          f"{model_card.line} was edited, so it is used as written")
        self.models[model_name] = model
        return model_name, model

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
            raise card.error(f"{name}: flattening would make more than {MAX_ELEMENTS} elements")
        overrides: dict[str, float] = {}
        declared = {k for k, _ in sub.defaults}
        for w in args[cut:]:
            w = w[len("params:"):] if w.lower().startswith("params:") else w
            if not w:
                continue
            if "=" not in w:
                raise card.error(f"{name}: expected k=v after the subcircuit name, got {w!r}")
            key, raw = w.split("=", 1)
            key = key.lower()
            if key not in declared:
                raise card.error(f"{name}: subcircuit {sub_name!r} has no parameter {key!r}")
            overrides[key] = self.value(card, raw, params, f"{name} parameter {key}")
        inner = dict(self.global_params)
        for key, raw in sub.defaults:
            if key in overrides:
                inner[key] = overrides[key]
            else:
                assert sub.header is not None
                inner[key] = self.value(sub.header, raw, inner, f"{sub_name} parameter {key}")
        nodes = [self.node(w, path, ports) for w in node_words]
        if sub_name in RESERVED and sub.parent is self.top and shape(sub) == RESERVED[sub_name]:
            try:
                p1, p2, s1, s2 = nodes  # RESERVED shapes have four ports
                if sub_name == TRANSFORMER_SUBCKT:
                    element: Element = Transformer(flat, p1, p2, s1, s2, n=inner["n"])
                else:
                    element = Gyrator(flat, p1, p2, s1, s2, g=inner["g"])
            except ValueError as exc:
                raise card.error(str(exc)) from None
            self.add(card, element)
            return
        new_path = f"{path}.{name}" if path else name
        self.expand(sub, inner, new_path, dict(zip(sub.ports, nodes)), (*stack, sub_name))

    # -------------------------------------------------------------- notes


def parse_netlist(
    text: str, includes: dict[str, str] | None = None, *, check_topology: bool = True
) -> Circuit:
    """Read an ngspice netlist (see the module docstring for what is accepted).

    ``includes`` maps the file names that ``.include``/``.lib`` cards may name
    to their text; any other include is refused. With ``check_topology`` (the
    default) the first ``Circuit.topology_problems()`` entry is raised with the
    line of the element it names.
    """
    deck = lex(text, includes)
    for i, card in enumerate(deck.cards):
        if card.first == ".end":
            if i + 1 < len(deck.cards):
                after = deck.cards[i + 1]
                raise after.error(f"card after .end refused (ngspice would still read it): "
                                  f"{after.text[:40]!r}")
            deck.cards = deck.cards[:i]
            break
    top = structure(deck.cards)
    reader = _Reader(deck.title)
    model_names = {_model_name(c) for c in top.cards if c.first == ".model"}
    reader.exact, flags = read_notes(deck.notes, model_names)
    reader.read(top)
    for note, name, trainable in flags:
        if name not in reader.circuit:
            raise note.error(f"*@diodenet {'trainable' if trainable else 'fixed'}: "
                             f"no element {name!r}")
        element = reader.circuit[name]
        if not hasattr(element, "trainable"):
            raise note.error(f"{name!r} has no trainable flag")
        element.trainable = trainable
    if check_topology:
        problems = reader.circuit.topology_problems()
        if problems:
            p = problems[0]
            raise reader.lines[p.element].error(f"{p.element}: {p.message}")
    return reader.circuit


def read_netlist(
    path: str | os.PathLike[str],
    includes: Iterable[str | os.PathLike[str]] = (),
    *,
    check_topology: bool = True,
) -> Circuit:
    """Read a netlist file. ``includes``: the files its ``.include``/``.lib`` cards
    may name (matched by the path as written, relative to the netlist's folder)."""
    path = Path(path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    text = path.read_text(encoding="utf-8", errors="replace")
    base = path.resolve().parent
    table: dict[str, str] = {}
    for inc in includes:
        p = Path(inc)
        body = p.read_text(encoding="utf-8", errors="replace")
        resolved = p.resolve()
        table[str(p)] = body
        table[str(resolved)] = body
        table[os.path.normpath(os.path.relpath(resolved, base))] = body
    return parse_netlist(text, table, check_topology=check_topology)
