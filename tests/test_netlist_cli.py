"""`diodenet netlist check`: summary, --json, --include, one-line errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from diodenet.cli.main import cli

NETLISTS = Path(__file__).parent / "netlists"


def run(*args: str):
    return CliRunner().invoke(cli, ["netlist", "check", *args])


def test_good_file_summary() -> None:
    r = run(str(NETLISTS / "subckt.cir"))
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "title:     Subcircuits: nested" in out
    # 7 nodes: vdd in n1 n2 xa.x1.mid xa.x2.mid xb.mid; 16 elements; 11 resistors
    assert "nodes:     7" in out and "elements:  16" in out
    assert "resistor:       11" in out and "diode:          3" in out
    assert "trainable: 11" in out


def test_json_summary() -> None:
    r = run(str(NETLISTS / "reserved.cir"), "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["by_kind"] == {"gyrator": 1, "resistor": 3, "transformer": 1,
                               "voltage source": 1}
    assert data["elements"] == 6 and data["trainable"] == 3 and data["nodes"] == 4
    assert data["notes"] == []


def test_notes_for_ignored_cards() -> None:
    r = run(str(NETLISTS / "basic.cir"), "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["notes"] == [
        f"{NETLISTS / 'basic.cir'}:24: note: .op ignored (diodenet reads the circuit; "
        "simulators add their own analyses)"
    ]


def test_include_only_when_passed() -> None:
    main = str(NETLISTS / "include_main.cir")
    r = run(main)
    assert r.exit_code == 2
    assert r.stderr.strip().startswith(f"Error: {main}: line 2: .include 'parts/divider.inc'")
    r = run(main, "--include", str(NETLISTS / "parts" / "divider.inc"),
            "--include", str(NETLISTS / "models.lib"), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["elements"] == 4


def test_bad_file_one_line_error_with_line_number(tmp_path: Path) -> None:
    bad = tmp_path / "bad.cir"
    bad.write_text("title\nv1 a 0 1\nr1 a 0 1k\n* fine so far\nr1 a 0 2k\n")
    r = run(str(bad))
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr == f"Error: {bad}: line 5: duplicate element name 'r1' (first on line 3)\n"
    assert "Traceback" not in r.output


def test_control_block_skipped_with_one_note(tmp_path: Path) -> None:
    bad = tmp_path / "evil.cir"
    bad.write_text("title\nv1 a 0 1\nr1 a 0 1k\n.control\nshell rm -rf ~\n.endc\n.end\n")
    r = run(str(bad))
    assert r.exit_code == 0
    assert r.stderr == (f"{bad}:4: note: .control block (lines 4-6) skipped: diodenet never "
                        "runs ngspice commands\n")
    assert run(str(bad), "--quiet").stderr == ""


def test_missing_file() -> None:
    r = run("no/such/file.cir")
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: no/such/file.cir:") and "Traceback" not in r.output


def test_help_says_what_is_checked() -> None:
    r = CliRunner().invoke(cli, ["netlist", "check", "--help"])
    assert r.exit_code == 0
    for word in (".control", "--include", "DC", "duplicate", "exit code 2", "--json"):
        assert word in r.output


IGNORED = [".tran 1n 1u", ".ac dec 10 1 1k", ".dc v1 0 1 0.1", ".op", ".print dc v(a)",
           ".plot dc v(a)", ".probe v(a)", ".save all", ".meas tran vmax max v(a)",
           ".four 1k v(a)", ".backanno"]


@pytest.mark.parametrize("card", IGNORED)
def test_analysis_and_output_cards_skipped_with_one_note(tmp_path: Path, card: str) -> None:
    """Each analysis or output card: one note naming its line, and never in the
    deck that `compare` gives ngspice."""
    from diodenet.circuits.netlist.deck import ngspice_deck

    path = tmp_path / "net.cir"
    path.write_text(f"title\nv1 a 0 1\nr1 a 0 1k\n{card}\n.end\n")
    r = run(str(path))
    assert r.exit_code == 0, r.output
    first = card.split()[0]
    assert r.stderr == (f"{path}:4: note: {first} ignored (diodenet reads the circuit; "
                        "simulators add their own analyses)\n")
    assert run(str(path), "-q").stderr == ""
    assert first not in ngspice_deck(path)


def test_control_block_and_text_after_end_never_reach_ngspice(tmp_path: Path) -> None:
    from diodenet.circuits.netlist.deck import ngspice_deck

    path = tmp_path / "net.cir"
    path.write_text("title\nv1 a 0 1\n.control\nrun\nwrite out.raw\n.endc\nr1 a 0 1k\n.end\n"
                    "r9 a 0 1\nanything at all\n")
    r = run(str(path), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["elements"] == 2
    assert r.stderr == ""  # --json puts the notes in the JSON
    assert json.loads(r.stdout)["notes"] == [
        f"{path}:3: note: .control block (lines 3-6) skipped: diodenet never runs ngspice "
        "commands",
        f"{path}:9: note: text after .end (lines 9-10) skipped",
    ]
    deck = ngspice_deck(path)
    assert deck.splitlines()[1:] == ["v1 a 0 1", "r1 a 0 1k", ".end"]
