"""``diodenet robustness``: its JSON contract, progress on stderr only."""

from __future__ import annotations

import json

from click.testing import CliRunner

from diodenet.cli.main import cli

SMALL = ["--dataset", "xor", "--hidden", "4", "--epochs", "2", "--instances", "2"]


def test_robustness_json_contract():
    r = CliRunner().invoke(cli, ["robustness", *SMALL, "--tolerance", "0.1",
                                 "--in-situ-epochs", "1", "--hardware", "builtin", "--nudge",
                                 "one-sided", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)  # stdout is the JSON alone
    assert set(out) == {"dataset", "nominal_hardware", "hardware", "instances", "nominal",
                        "offline", "in_situ", "power_w"}
    # which simulator ran: the JSON says it too, not only stderr
    assert (out["nominal_hardware"], out["hardware"], out["instances"]) == ("builtin",
                                                                           "builtin", 2)
    assert set(out["in_situ"]) == {"hl", "eqprop", "model"}
    for values in [out["offline"], *out["in_situ"].values()]:
        assert len(values) == 2 and all(0.0 <= v <= 1.0 for v in values)
    assert 0.0 <= out["nominal"] <= 1.0 and out["power_w"] > 0
    assert "instance 1: in situ eqprop" in r.stderr


def test_robustness_without_variation_deploys_the_nominal_accuracy():
    # with the trainer's quantisation too: it happens before the write, on both
    r = CliRunner().invoke(cli, ["robustness", *SMALL, "--tolerance", "0%", "--levels", "16",
                                 "--in-situ-epochs", "0", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["offline"] == [out["nominal"]] * 2  # the ideal instance is the nominal circuit


def test_robustness_bad_tolerance_is_one_line():
    r = CliRunner().invoke(cli, ["robustness", "--tolerance", "lots"])
    assert r.exit_code == 2 and "tolerance must be a fraction" in r.output
    assert "Traceback" not in r.output
