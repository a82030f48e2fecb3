"""Input mistakes in the CLI are one line that names the file and says what is
wrong (exit code 2), never a traceback or click's usage block."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from diodenet.cli.main import cli

NET = "t\nv1 a 0 1\nr1 a 0 1k\n.end\n"


def _one_line(args: list[str], expected: str) -> None:
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2, res.output
    assert res.output == f"Error: {expected}\n", res.output


@pytest.fixture()
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.cir").write_text(NET)
    return tmp_path


def test_missing_include_is_named(files: Path) -> None:
    _one_line(["simulate", "net.cir", "--include", "nope.inc"],
              "nope.inc: No such file or directory")


def test_a_directory_is_one_line(files: Path) -> None:
    (files / "d").mkdir()
    _one_line(["simulate", "d"], "Invalid value for 'NETLIST': File 'd' is a directory.")
    _one_line(["simulate", "net.cir", "--inputs", "d"],
              "Invalid value for '--inputs': File 'd' is a directory.")
    _one_line(["train", "--csv", "d"], "Invalid value for '--csv': File 'd' is a directory.")


@pytest.mark.parametrize("text", ["only a title\n", "title\n.end\n", "title\n* a comment\n"])
@pytest.mark.parametrize("command", ["simulate", "compare"])
def test_a_netlist_without_elements_is_refused(files: Path, text: str, command: str) -> None:
    # simulate answered {} with exit 0 (a file of another kind reads as one title line)
    (files / "empty.cir").write_text(text)
    _one_line([command, "empty.cir"],
              "empty.cir: no circuit elements after line 1 (a netlist's first line is its title)")


@pytest.mark.parametrize(("data", "offset", "byte"), [
    (b"v1\n\xff\n", 3, "ff"), ("v1\n1\n".encode("utf-16"), 0, "ff"),
])
def test_csv_that_is_not_utf8(files: Path, data: bytes, offset: int, byte: str) -> None:
    (files / "in.csv").write_bytes(data)
    _one_line(["simulate", "net.cir", "--inputs", "in.csv"],
              f"inputs CSV in.csv: not utf-8 text (byte 0x{byte} at offset {offset}); "
              "save it as UTF-8")
    (files / "t.csv").write_bytes(data)
    _one_line(["gradient", "net.cir", "--inputs", "t.csv", "--outputs", "a", "--targets",
               "t.csv"],
              f"inputs CSV t.csv: not utf-8 text (byte 0x{byte} at offset {offset}); "
              "save it as UTF-8")
    _one_line(["train", "--csv", "in.csv", "--out", "o"],
              f"in.csv: not utf-8 text (byte 0x{byte} at offset {offset}); save it as UTF-8")
    assert not (files / "o").exists()


def test_features_too_large_for_training(files: Path) -> None:
    (files / "big.csv").write_text("a,label\n1,0\n-1e300,1\n2,0\n3,1\n")
    _one_line(["train", "--csv", "big.csv", "--out", "o"],
              "big.csv: line 3, column 'a': '-1e300' is too large to standardise "
              "(|x| must be at most 1e+150)")
    assert not (files / "o").exists()


def test_unknown_output_and_input_on_ngspice(ngspice_available: None, files: Path) -> None:
    """On both backends, one line that names the netlist and what it lacks."""
    (files / "u.csv").write_text("v1\n1\n")
    (files / "x.csv").write_text("nosuch\n1\n")
    for backend in ("builtin", "ngspice"):
        _one_line(["linearize", "net.cir", "--inputs", "u.csv", "--outputs", "nosuch",
                   "--backend", backend],
                  "net.cir: output node 'nosuch' is not a node of the circuit")
        _one_line(["linearize", "net.cir", "--inputs", "x.csv", "--outputs", "a",
                   "--backend", backend],
                  "net.cir: input 'nosuch' is not an element of the circuit")
        (files / "t.csv").write_text("nosuch\n1\n")
        _one_line(["gradient", "net.cir", "--inputs", "u.csv", "--outputs", "nosuch",
                   "--targets", "t.csv", "--backend", backend],
                  "net.cir: output node 'nosuch' is not a node of the circuit")
        (files / "t.csv").write_text("a\n1\n")
        _one_line(["gradient", "net.cir", "--inputs", "x.csv", "--outputs", "a",
                   "--targets", "t.csv", "--backend", backend],
                  "net.cir: input 'nosuch' is not an element of the circuit")


def test_an_unreadable_file_is_one_line(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file the user may not read (faked: tests may run as root, who reads
    everything) is one line naming it, not click's usage block."""
    import errno
    import os

    from diodenet import _files

    real_open = os.open

    def guarded(path, flags, *args, **kwargs):
        if os.path.basename(os.fspath(path)) == "secret":
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(_files.os, "open", guarded)
    (files / "secret").write_text(NET)
    _one_line(["simulate", "secret"], "secret: Permission denied")
    _one_line(["simulate", "net.cir", "--inputs", "secret"],
              "inputs CSV secret: Permission denied")
    _one_line(["simulate", "net.cir", "--include", "secret"], "secret: Permission denied")
    _one_line(["train", "--csv", "secret", "--out", "o"], "secret: Permission denied")
    assert not (files / "o").exists()


@pytest.mark.parametrize("args, expected", [
    (["--vmin", "-1e308", "--vmax", "1e308"], "the span overflows"),
    (["--vmin", "1e308", "--vmax", "1.7e308"], "not finite"),
])
def test_json_never_carries_nan(args: list[str], expected: str) -> None:
    """JSON has no NaN or Infinity: a value that overflows is a one-line error
    with nothing on stdout, not ``NaN`` in the output."""
    res = CliRunner().invoke(cli, ["activations", *args, "--points", "3", "--json"])
    assert res.exit_code == 2 and res.stdout == "", res.output
    assert expected in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, expected", [
    (["train", "--bogus"], "No such option '--bogus'"),
    (["simulate", "x.cir", "--backend", "foo"], "Invalid value for '--backend'"),
    (["train", "--epochs", "abc"], "'abc' is not a valid integer"),
    (["bogus"], "No such command 'bogus'"),
    (["netlist", "bogus"], "No such command 'bogus'"),
    (["gradient", "x.cir"], "Missing option '--inputs'"),
])
def test_usage_errors_are_one_line(args: list[str], expected: str) -> None:
    """What click refuses while reading the command line is one line too (not
    click's usage block), naming the --help to read."""
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], lines
    assert "--help')" in lines[0]


def test_empty_or_oversized_options_are_named(tmp_path: Path) -> None:
    net = tmp_path / "n.cir"
    net.write_text("t\nv1 a 0 1\nr1 a b 1k\nd1 b 0 dd\n.model dd d\n.end\n")
    (tmp_path / "u.csv").write_text("v1\n1\n2\n")
    (tmp_path / "t.csv").write_text("b\n0.5\n")
    _one_line(["linearize", str(net), "--inputs", str(tmp_path / "u.csv"), "--outputs", " , "],
              "--outputs names nothing; give a comma-separated list")
    _one_line(["train", "--dataset", ""], "--dataset is empty; give one of moons, circles, "
              "xor, iris, digits, mnist (or --csv FILE)")
    _one_line(["activations", "--points", "100000000"],
              "--points must be between 2 and 1,000,000, got 100000000")
    res = CliRunner().invoke(cli, ["gradient", str(net), "--inputs", str(tmp_path / "u.csv"),
                                   "--outputs", "b", "--targets", str(tmp_path / "t.csv")])
    assert res.exit_code == 2 and "u.csv has 2 rows but" in res.output and "t.csv has 1" in \
        res.output, res.output
