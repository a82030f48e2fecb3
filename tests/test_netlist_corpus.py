"""The hand-written corpus in tests/netlists/: every card, values checked by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from diodenet import Circuit
from diodenet.circuits import (
    CCCS,
    CCVS,
    VCCS,
    VCVS,
    CurrentSource,
    Diode,
    Gyrator,
    IdealDiode,
    PWLDiode,
    Resistor,
    ShockleyDiode,
    Transformer,
    VoltageSource,
)
from diodenet.circuits.netlist import NetlistWarning, parse_netlist, read_netlist

NETLISTS = Path(__file__).parent / "netlists"


def test_basic_cards_comments_continuations_suffixes() -> None:
    with pytest.warns(NetlistWarning, match=r"line 24: \.op ignored"):
        c = read_netlist(NETLISTS / "basic.cir")
    assert c.title == "Basic cards: every element letter diodenet reads"
    assert c.options == {"reltol": 1e-6, "abstol": 1e-15, "vntol": 1e-6}  # "+ vntol=1u"
    assert list(c.elements) == ["v1", "r1", "r2", "r3", "i1", "d1", "e1", "r4", "g1", "r5",
                                "f1", "r6", "h1", "r7"]
    assert c["v1"] == VoltageSource("v1", "in", "0", 5.0)  # DC 5V
    assert c["r1"] == Resistor("r1", "in", "mid", resistance=1e4)  # 10kOhm
    assert c["r2"].resistance == 1e6  # 1meg, then a $ comment
    # three physical lines with a comment between them
    assert c["r3"] == Resistor("r3", "mid", "out", resistance=2200.0)
    assert c["i1"] == CurrentSource("i1", "0", "out", 1e-6)  # 1uA
    assert c["d1"] == Diode("d1", "out", "0", ShockleyDiode(
        is_=2.52e-9, rs=0.568, n=1.752, cjo=4e-12, m=0.4, tt=20e-9), "dsil")
    assert c["e1"] == VCVS("e1", "buf", "0", "mid", "0", 2.0)
    assert c["g1"] == VCCS("g1", "0", "gout", "mid", "0", 1e-3)
    assert c["f1"] == CCCS("f1", "0", "fout", "v1", 0.5)
    assert c["h1"] == CCVS("h1", "hout", "0", "v1", 1e3)  # "V1" read lower-case
    assert c["r7"].resistance == 1e3


def test_params_and_expressions() -> None:
    c = read_netlist(NETLISTS / "params.cir")
    # .param a=2 b={a*3}: b = 6; rload = max(2, 6)*1k
    assert c["v1"].dc == 5.0  # {a*2.5}
    assert c["r1"].resistance == 6000.0  # {rload}
    assert c["r2"].resistance == 6500.0  # 'b*1k + 500'
    # e = 2^3 = 8, ratio = log10(1000)/3 = 1
    assert c["d1"].model == ShockleyDiode(is_=1e-14, n=2.0)


def test_param_values_by_hand() -> None:
    text = """t
.param a=2 b={a*3}
.param c = 'b + 1' d=sqrt(16) e=2^3 f=2**-1 g=-2^2 h=2^3^2 k=10kOhm
v1 a 0 {a}
v2 b 0 {b}
v3 c 0 {c}
v4 d 0 {d}
v5 e 0 {e}
v6 f 0 {f}
v7 g 0 {g}
v8 h 0 {h}
v9 k 0 {k}
"""
    resistors = "".join(f"r{n} {n} 0 1\n" for n in "abcdefghk")
    c = parse_netlist(text + resistors)
    got = {e.pos: e.dc for e in c.sources}
    # h: ngspice 39 evaluates ^ left to right, (2^3)^2 = 64
    assert got == {"a": 2.0, "b": 6.0, "c": 7.0, "d": 4.0, "e": 8.0, "f": 0.5, "g": -4.0,
                   "h": 64.0, "k": 1e4}


def test_subckt_flattening_names_params_local_models_global_node() -> None:
    c = read_netlist(NETLISTS / "subckt.cir")
    # xa (pair, r=500) holds x1 (stage, r=1000) and x2 (stage, default r=2k)
    assert list(c.elements) == [
        "vdd", "vin",
        "r.xa.x1.r1", "r.xa.x1.r2", "r.xa.x1.rp", "d.xa.x1.d1",
        "r.xa.x2.r1", "r.xa.x2.r2", "r.xa.x2.rp", "d.xa.x2.d1",
        "r.xb.r1", "r.xb.r2", "r.xb.rp", "d.xb.d1",
        "rload", "rl2",
    ]
    assert c["r.xa.x1.r1"] == Resistor("r.xa.x1.r1", "in", "xa.x1.mid", resistance=1000.0)
    assert c["r.xa.x1.r2"] == Resistor("r.xa.x1.r2", "xa.x1.mid", "n1", resistance=1000.0)
    assert c["r.xa.x1.rp"].nodes == ("vdd", "xa.x1.mid")  # .global vdd is not renamed
    assert c["r.xa.x2.r1"] == Resistor("r.xa.x2.r1", "n1", "xa.x2.mid", resistance=2000.0)
    assert c["r.xa.x2.r2"].nodes == ("xa.x2.mid", "0")
    assert c["r.xb.r1"].resistance == 3000.0  # params: r=3k
    local = ShockleyDiode(is_=1e-15, n=1.1)
    assert c["d.xa.x1.d1"] == Diode("d.xa.x1.d1", "xa.x1.mid", "n1", local, "xa.x1:dloc")
    assert c["d.xb.d1"].model_name == "xb:dloc"  # ngspice's own name for it


def test_reserved_subckts_become_transformer_and_gyrator() -> None:
    c = read_netlist(NETLISTS / "reserved.cir")
    assert c["xt"] == Transformer("xt", "p", "0", "s", "0", 2.5)
    assert c["xg"] == Gyrator("xg", "p", "0", "q", "0", 1e-3)  # g=1m without params:
    assert len(c) == 6


def test_reserved_name_with_another_body_is_flattened() -> None:
    c = read_netlist(NETLISTS / "edited_reserved.cir")
    assert not c.of_type(Gyrator)
    assert c["g.xg.g1"] == VCCS("g.xg.g1", "a", "0", "b", "0", 1e-3)
    assert c["g.xg.g2"] == VCCS("g.xg.g2", "0", "b", "a", "0", 2e-3)


def test_includes_and_lib_sections_only_when_passed() -> None:
    folder = NETLISTS
    c = read_netlist(folder / "include_main.cir",
                     includes=[folder / "parts" / "divider.inc", folder / "models.lib"])
    assert list(c.elements) == ["r1", "r2", "v1", "d1"]
    assert c["r2"].resistance == 3000.0  # .param inside the included file
    assert c["d1"].model == ShockleyDiode(is_=1e-12, n=1.0)  # section "fast", not "slow"
    text = (folder / "include_main.cir").read_text()
    same = parse_netlist(text, includes={
        "parts/divider.inc": (folder / "parts" / "divider.inc").read_text(),
        "models.lib": (folder / "models.lib").read_text(),
    })
    assert same == c


def test_ltspice_datasheet_parameters_ignored() -> None:
    import warnings

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        c = read_netlist(NETLISTS / "ltspice_model.cir")
    assert not record  # iave, vpk, mfg, type: datasheet fields, no electrical effect
    assert c["d1"].model == ShockleyDiode(is_=2.52e-9, rs=0.568, n=1.752, cjo=4e-12, m=0.4,
                                          tt=20e-9, vj=0.7)
    assert c["d1"].model_name == "d1n914"


def test_diodenet_notes_give_exact_models_and_flags() -> None:
    with pytest.warns(NetlistWarning, match="dedited ignored"):
        c = read_netlist(NETLISTS / "diodenet_notes.cir")
    assert c["d1"].model == IdealDiode()
    assert c["d2"].model == PWLDiode(vf=0.7, ron=10.0)
    # its .model card differs from the stand-in: read as ngspice would
    assert c["d3"].model == ShockleyDiode(is_=1e-15, n=1.0, rs=10.0)
    assert c["v1"].trainable is True and c["r1"].trainable is False
    assert c["r2"].trainable is True and c["d1"].trainable is False


def test_every_corpus_file_round_trips() -> None:
    files = sorted(NETLISTS.glob("*.cir"))
    assert len(files) >= 8
    for path in files:
        includes = [NETLISTS / "parts" / "divider.inc", NETLISTS / "models.lib"]
        with pytest.warns() if path.stem in {"basic", "diodenet_notes"} \
                else _quiet():
            c = read_netlist(path, includes=includes)
        assert Circuit.from_spice(c.to_spice()) == c, path.name


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_case_insensitive_cards_and_suffixes() -> None:
    c = parse_netlist("T\nV1 IN 0 DC 1MEG\nR1 In 0 2MEGohm\nR2 in 0 3Mil\n.END\n")
    assert c["v1"].dc == 1e6 and c["r1"].resistance == 2e6
    assert math.isclose(c["r2"].resistance, 3 * 25.4e-6, rel_tol=1e-15)
    assert c["r1"].nodes == ("in", "0")
