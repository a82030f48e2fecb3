"""``*@diodenet`` notes: data for diodenet that ngspice reads as comments.

* ``*@diodenet model NAME ideal`` / ``*@diodenet model NAME pwl vf=V ron=R``:
  the exact model behind the Shockley stand-in on ``.model NAME``;
* ``*@diodenet fixed NAME`` / ``*@diodenet trainable NAME``: a trainable flag
  that differs from the element's default.
"""

from __future__ import annotations

from ..diode_models import DiodeModel, IdealDiode, PWLDiode
from .errors import NetlistError
from .expressions import ExpressionError, parse_number
from .lexer import Card

#: (note card, element name, trainable)
Flag = tuple[Card, str, bool]


def read_notes(
    notes: list[Card], model_names: set[str]
) -> tuple[dict[str, tuple[Card, DiodeModel]], list[Flag]]:
    """The exact models by ``.model`` name, and the trainable flags, of the notes.

    ``model_names``: the top-level ``.model`` names a model note may name.
    """
    exact: dict[str, tuple[Card, DiodeModel]] = {}
    flags: list[Flag] = []
    for note in notes:
        words = note.text.split()
        verb = words[0].lower() if words else ""
        if verb == "model" and len(words) >= 3:
            name, kind = words[1].lower(), words[2].lower()
            kw: dict[str, float] = {}
            for w in words[3:]:
                key, _, raw = w.partition("=")
                if key.lower() not in ("vf", "ron") or not raw:
                    raise note.error(f"*@diodenet model: unexpected {w!r}")
                try:
                    kw[key.lower()] = parse_number(raw)
                except ExpressionError as exc:
                    raise note.error(f"*@diodenet model {key}: {exc}") from None
            try:
                if kind == "ideal" and not kw:
                    model: DiodeModel = IdealDiode()
                elif kind == "pwl":
                    model = PWLDiode(**kw)
                else:
                    raise note.error(f"*@diodenet model: unknown kind {kind!r}")
            except NetlistError:
                raise
            except ValueError as exc:
                raise note.error(f"*@diodenet model: {exc}") from None
            if name not in model_names:
                raise note.error(f"*@diodenet model {name!r}: no such .model card")
            exact[name] = (note, model)
        elif verb in ("fixed", "trainable") and len(words) == 2:
            flags.append((note, words[1].lower(), verb == "trainable"))
        else:
            raise note.error(f"unknown *@diodenet note {note.text!r}")
    return exact, flags
