"""``mcusim model``: list, inspect, plan, run, fit; exit status of a model that does not fit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mcusim.cli import main
from mcusim.commands import model as model_cmd
from mcusim.model.run import default_input

from tests.runner_graphs import reference_outputs, tiny_graph, wide_graph

GRAPHS = {"handmade": tiny_graph, "wide": wide_graph}


@pytest.fixture(autouse=True)
def builtin(monkeypatch):
    """Serve the hand-built graphs under a name (independent of the zoo)."""
    real = model_cmd.load

    def load(spec: str):
        return GRAPHS[spec]() if spec in GRAPHS else real(spec)

    monkeypatch.setattr(model_cmd, "load", load)


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["model", "fit", "--help"])
    out = capsys.readouterr().out
    assert "mcusim model fit" in out and "status 3" in out


def test_list(capsys):
    assert main(["model", "list", "--json"]) == 0
    names = json.loads(capsys.readouterr().out)["models"]
    assert {"cifarnet", "squeezenet", "zfnet"} <= set(names)


def test_inspect_builtin(capsys):
    assert main(["model", "inspect", "cifarnet"]) == 0
    assert "conv" in capsys.readouterr().out


def test_unknown_model_is_an_error(capsys):
    assert main(["model", "fit", "no_such_model", "-b", "stm32f469i"]) == 1
    assert "no_such_model" in capsys.readouterr().err


def test_unknown_planner_is_an_error(capsys):
    assert main(["model", "plan", "handmade", "-b", "stm32f469i", "--planner", "nope"]) == 1
    assert "unknown planner" in capsys.readouterr().err


def test_inspect_json(capsys):
    assert main(["model", "inspect", "handmade", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["macs"] == tiny_graph().total_macs() and len(obj["layers"]) == 7


def test_plan(capsys):
    assert main(["model", "plan", "handmade", "-b", "stm32f469i", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["arena_bytes"] > 0 and len(obj["order"]) == 7


def test_fit_two_boards_one_table(capsys, tmp_path):
    csv = tmp_path / "layers.csv"
    assert main(["model", "fit", "handmade", "-b", "stm32f469i", "-b", "stm32f746zg",
                 "--csv", str(csv), "--plot", str(tmp_path / "mem.png")]) == 0
    out = capsys.readouterr().out
    assert out.count("FITS") >= 2 and "peak SRAM measured" in out
    assert csv.read_text().count("\n") == 1 + 2 * 7
    assert (tmp_path / "mem_stm32f469i.png").exists()


def test_fit_json(capsys):
    assert main(["model", "fit", "handmade", "-b", "stm32f746zg", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["fits"] is True and obj["peak_sram_bytes"]["predicted"] == \
        obj["peak_sram_bytes"]["measured"]


def test_does_not_fit_exit_status(capsys):
    assert main(["model", "fit", "wide", "-b", "stm32f469i"]) == model_cmd.EXIT_DOES_NOT_FIT
    assert "DOES NOT FIT" in capsys.readouterr().out


def test_run_with_input_and_output(tmp_path, capsys):
    g = tiny_graph()
    x = default_input(g, seed=3)
    np.save(tmp_path / "x.npy", x)
    assert main(["model", "run", "handmade", "-b", "stm32f469i", "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), reference_outputs(g, x)[0])


def test_bad_input_file_is_an_error(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros(5, np.int8))
    assert main(["model", "run", "handmade", "-b", "stm32f469i", "--input",
                 str(tmp_path / "x.npy")]) == 1
    assert "needs 192" in capsys.readouterr().err


def test_demo_writes_model_reports(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--no-kernels", "--model", "handmade",
                 "-b", "stm32f469i"]) == 0
    reports = json.loads((tmp_path / "models.json").read_text())
    assert [r["board"] for r in reports] == ["stm32f469i"] and reports[0]["fits"]
    assert "peak SRAM" in (tmp_path / "models.txt").read_text()
    assert (tmp_path / "model_tiny_stm32f469i_memory.png").stat().st_size > 1000


def test_demo_finds_the_shared_models_without_the_environment(monkeypatch, tmp_path):
    from mcusim._paths import shared_models_dir

    monkeypatch.delenv("MCUSIM_SHARED_MODELS", raising=False)
    monkeypatch.chdir(tmp_path)
    found = shared_models_dir()
    assert found.name == "models" and found.parent.name == "shared"
    assert shared_models_dir(str(tmp_path)) == tmp_path
