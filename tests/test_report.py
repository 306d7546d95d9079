"""The fit report: data, text and JSON views, the memory plot, DOES NOT FIT."""

from __future__ import annotations

import json

import pytest

from mcusim.model.report import fit, multi_board_text

from tests.runner_graphs import heavy_graph, tiny_graph, wide_graph


@pytest.fixture(scope="module")
def reports():
    return {}


@pytest.fixture
def report(reports, board):
    if board.name not in reports:
        reports[board.name] = fit(tiny_graph(), board)
    return reports[board.name]


def test_fits_with_totals(report, board):
    assert report.fits and report.verdict.startswith("FITS")
    assert report.peak_sram["predicted"] == report.peak_sram["measured"]
    assert 0 < report.flash_bytes < board.flash_bytes
    ram = {r["region"]: r for r in report.regions() if r["kind"] == "ram"}
    assert ram[report.run.data_region]["free"] == ram[report.run.data_region]["size"] - \
        ram[report.run.data_region]["used"]


def test_layer_table(report):
    df = report.frame()
    assert list(df["name"]) == [op.name for op in report.graph.operators]
    assert {"op", "shape", "macs", "weight_bytes", "activation_bytes", "cycles", "ms",
            "kernel"} <= set(df.columns)
    assert int(df["cycles"].sum()) == report.cycles
    assert int(df["macs"].sum()) == report.graph.total_macs()
    assert df.loc[0, "weight_bytes"] == 216 + 4 * 8 + 8 * 8     # filter, bias, mult + shift


def test_json_view(report):
    obj = json.loads(report.to_json())
    for key in ("fits", "flash_bytes", "peak_sram_bytes", "arena_bytes", "stack_bytes",
                "cycles", "latency_ms", "layers"):
        assert key in obj, key
    assert set(obj["peak_sram_bytes"]) == {"predicted", "measured"}
    assert obj["layers"][0].keys() >= {"name", "op", "macs", "cycles"}
    assert obj["arena_bytes"] == report.arena_bytes


def test_text_view(report):
    text = report.text()
    for word in ("conv1", "mnn_convolve_s8", "peak SRAM: predicted", "(equal)", "FITS",
                 "latency", "flash:"):
        assert word in text, word


def test_memory_plot(report, tmp_path):
    path = report.plot(tmp_path / "mem.png")
    assert path.stat().st_size > 1000


def test_does_not_fit_names_region_and_overflow(board):
    rep = fit(wide_graph(), board)
    assert not rep.fits and rep.run is None
    assert rep.overflow_region and rep.overflow_bytes > 0
    assert rep.verdict.startswith("DOES NOT FIT") and rep.overflow_region in rep.verdict
    assert f"{rep.overflow_bytes:,}" in rep.verdict
    obj = json.loads(rep.to_json())
    assert obj["fits"] is False and obj["arena_bytes"] > 96 * 96 * 64
    assert "DOES NOT FIT" in rep.text()


def test_multi_board_table(reports):
    for name in ("stm32f469i", "stm32f746zg"):
        if name not in reports:
            reports[name] = fit(tiny_graph(), name)
    text = multi_board_text([reports["stm32f469i"], reports["stm32f746zg"]])
    assert "stm32f469i" in text.splitlines()[0] and "stm32f746zg" in text.splitlines()[0]
    assert "peak SRAM measured" in text


def test_flash_overflow_on_one_board_only():
    """About 1.1 MB of weights: fits the F469's 2 MiB Flash, not the F746's 1 MiB."""
    g = heavy_graph()
    small = fit(g, "stm32f746zg")
    assert not small.fits and small.overflow_region == "flash"
    assert small.overflow_bytes > 0 and "region flash" in small.verdict
    big = fit(g, "stm32f469i")
    assert big.fits and big.flash_bytes > g.weight_bytes()
    assert big.peak_sram["predicted"] == big.peak_sram["measured"]
