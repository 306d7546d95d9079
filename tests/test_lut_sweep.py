"""Sweeps: result rows, per-row invalid handling, cache hits, resume, Dask, the CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mcusim.cli import main
from mcusim.lut import sweep as S
from mcusim.lut.cache import ResultCache
from mcusim.lut.runners import RESULT_COLUMNS, firmware_hash
from mcusim.lut.table import write_table

BOARDS = ("stm32f469i", "stm32f746zg")

TINY = [
    {"op": "conv", "in_h": 5, "in_w": 5, "in_c": 3, "out_c": 5, "kh": 3, "kw": 3, "pad": "same"},
    {"op": "conv", "in_h": 4, "in_w": 4, "in_c": 6, "out_c": 3, "stride": 2, "pad": "valid"},
    {"op": "dwconv", "in_h": 5, "in_w": 5, "in_c": 6, "kh": 3, "kw": 3, "stride": 2, "pad": "same"},
    {"op": "fc", "in_c": 20, "out_c": 5, "activation": "relu"},
    {"op": "avgpool", "in_h": 4, "in_w": 4, "in_c": 5, "kh": 2, "kw": 2, "stride": 2},
    {"op": "maxpool", "in_h": 5, "in_w": 5, "in_c": 4, "kh": 3, "kw": 3, "pad": "1"},
    {"op": "add", "in_h": 3, "in_w": 3, "in_c": 5},
    {"op": "softmax", "in_h": 1, "in_w": 2, "in_c": 10},
    {"op": "fc", "in_c": 40, "out_c": 3, "family": "packed", "w_bits": 4, "a_bits": 2},
    {"op": "conv", "in_h": 4, "in_w": 4, "in_c": 4, "out_c": 4, "kh": 3, "kw": 3, "pad": "1",
     "family": "packed", "w_bits": 2, "a_bits": 8},
    {"op": "conv", "in_h": 5, "in_w": 5, "in_c": 2, "out_c": 4, "kh": 3, "kw": 3, "pad": "1",
     "family": "trec", "trec_l": 6, "trec_h": 2},
]
BAD = [
    {"op": "conv", "in_h": -2, "in_w": 4, "in_c": 3, "out_c": 2},
    {"op": "conv", "in_h": 3, "in_w": 3, "in_c": 3, "out_c": 2, "kh": 5, "kw": 5},
    {"op": "transpose", "in_c": 3},
    {"op": "fc", "in_c": 8, "out_c": 2, "family": "packed", "w_bits": 6},
]


@pytest.fixture(scope="module")
def configs() -> pd.DataFrame:
    return pd.DataFrame(TINY + BAD)


@pytest.mark.parametrize("board", BOARDS)
def test_sweep_rows_and_invalid_rows(configs, board, tmp_path):
    res = S.sweep(configs, board, cache=ResultCache(tmp_path), batch_size=4)
    assert len(res.table) == len(TINY) and res.ran == len(TINY) and res.cached == 0
    assert all(c in res.table.columns for c in RESULT_COLUMNS)
    t = res.table
    assert (t["cycles"] > 0).all() and (t["instructions"] > 0).all()
    causes = t[[c for c in t.columns if c.startswith("cycles_")]].sum(axis=1)
    assert (causes == t["cycles"]).all()
    assert t["latency_ms"].gt(0).all() and t["stack_bytes"].gt(0).all()
    assert t.loc[t["op"] == "conv", "weights_bytes"].gt(0).all()
    assert t.loc[(t["op"] == "avgpool"), "scratch_bytes"].gt(0).all()
    for fam, part in t.groupby("family"):
        assert set(part["hash"]) == {firmware_hash(board, fam)}
    assert sorted(res.invalid["row"]) == list(range(len(TINY), len(TINY) + len(BAD)))
    assert res.invalid["reason"].str.contains("negative size").any()
    assert res.invalid["reason"].str.contains("larger than the padded input").any()
    assert res.invalid["reason"].str.contains("unknown op").any()
    assert res.invalid["reason"].str.contains("unsupported bit width").any()
    with pytest.raises(Exception, match="negative size"):
        S.sweep(configs, board, cache=False, on_invalid="reject")


def test_cache_hit_and_extension(configs, tmp_path):
    cache = ResultCache(tmp_path)
    first = S.sweep(configs.iloc[:6], BOARDS[0], cache=cache)
    assert first.ran == 6
    again = S.sweep(configs, BOARDS[0], cache=ResultCache(tmp_path))
    assert again.cached == 6 and again.ran == len(TINY) - 6
    pd.testing.assert_frame_equal(again.table.iloc[:6], first.table)
    third = S.sweep(configs, BOARDS[0], cache=ResultCache(tmp_path))
    assert third.ran == 0 and third.cached == len(TINY)
    pd.testing.assert_frame_equal(third.table, again.table)


def test_resume_after_interruption(configs, tmp_path):
    calls = []

    def flaky(board, rows):
        if calls:
            raise KeyboardInterrupt
        calls.append(len(rows))
        return S.run_batch(board, rows)

    with pytest.raises(KeyboardInterrupt):
        S.sweep(configs, BOARDS[1], cache=ResultCache(tmp_path), batch_size=3, batch_fn=flaky)
    # a torn last line (killed mid-write) is ignored
    (next(tmp_path.glob("*.jsonl"))).open("a").write('{"key": "abc", "ro')
    res = S.sweep(configs, BOARDS[1], cache=ResultCache(tmp_path), batch_size=3)
    assert res.cached == 3 and res.ran == len(TINY) - 3
    ref = S.sweep(configs, BOARDS[1], cache=False)
    pd.testing.assert_frame_equal(res.table, ref.table)


def test_emulation_failure_is_reported_per_row(configs, tmp_path):
    def failing(board, rows):
        out = S.run_batch(board, rows)
        out[0] = {"row": rows[0]["row"], "error": "HardFault: boom"}
        return out

    res = S.sweep(configs.iloc[:3], BOARDS[0], cache=ResultCache(tmp_path), batch_fn=failing,
                  batch_size=3)
    assert len(res.table) == 2 and res.invalid["reason"].tolist() == ["HardFault: boom"]
    assert S.sweep(configs.iloc[:3], BOARDS[0], cache=ResultCache(tmp_path)).ran == 1


def test_dask_local_cluster_gives_the_same_table(configs):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        dask = S.sweep(configs, BOARDS[0], executor=S.DaskExecutor(client), cache=False,
                       batch_size=4)
    local = S.sweep(configs, BOARDS[0], cache=False)
    pd.testing.assert_frame_equal(dask.table, local.table)
    pd.testing.assert_frame_equal(dask.invalid, local.invalid)


def test_bad_scheduler_address_is_an_error():
    pytest.importorskip("distributed")
    from mcusim.errors import McusimError

    with pytest.raises(McusimError, match="Dask scheduler"):
        S.DaskExecutor("tcp://127.0.0.1:9", timeout=2)


def test_cli_spaces_sweep_fit_predict(configs, tmp_path, capsys):
    assert main(["lut", "spaces", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"default", "grid", "prior", "random"} <= {s["name"] for s in listed}
    src = write_table(configs, tmp_path / "layers.csv")
    lut = tmp_path / "lut.parquet"
    argv = ["lut", "sweep", "--board", BOARDS[0], "--configs", str(src), "--out", str(lut),
            "--jobs", "2", "--cache-dir", str(tmp_path / "cache"), "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["simulated"] == len(TINY) and summary["invalid"] == len(BAD)
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["from_cache"] == len(TINY)
    pred = tmp_path / "p.predictor"
    assert main(["lut", "fit", str(lut), "-o", str(pred)]) == 0
    good = write_table(pd.DataFrame(TINY[::-1]), tmp_path / "good.csv")
    out = tmp_path / "pred.csv"
    capsys.readouterr()
    assert main(["lut", "predict", str(pred), "--configs", str(good), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table["op"].tolist() == [r["op"] for r in TINY[::-1]]
    assert table["predicted_cycles"].gt(0).all()
    # another board is refused unless forced
    assert main(["lut", "predict", str(pred), "--configs", str(good), "--out", str(out),
                 "--board", BOARDS[1]]) == 1
    assert "trained on board" in capsys.readouterr().err
    assert main(["lut", "predict", str(pred), "--configs", str(good), "--out", str(out),
                 "--board", BOARDS[1], "--force"]) == 0
    # an invalid configuration file is rejected naming the row
    assert main(["lut", "predict", str(pred), "--configs", str(src), "--out", str(out)]) == 1
    assert f"row={len(TINY)}" in capsys.readouterr().err


def test_cli_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["lut", "sweep", "--help"])
    assert "examples:" in capsys.readouterr().out


#: A convolution whose 13.8 KB input (and im2col reads over it) exceed the F746's 4 KB
#: L1 D-cache: in SRAM1 (cached, with miss costs) it must cost more than in DTCM.
MISSING = {"op": "conv", "in_h": 24, "in_w": 24, "in_c": 24, "out_c": 8, "kh": 3, "kw": 3,
           "pad": "same"}


def test_data_region_sram1_costs_more_than_dtcm_on_the_f746():
    rows = pd.DataFrame([{**MISSING, "data_region": r} for r in ("", "dtcm", "sram1")])
    t = S.sweep(rows, "stm32f746zg", cache=False).table
    default, dtcm, sram1 = t["cycles"].tolist()
    assert default == dtcm              # the F746's default data region is the DTCM
    assert sram1 > dtcm
    assert t.loc[2, "cycles_data"] > t.loc[1, "cycles_data"]
    assert list(t["data_region"]) == ["", "dtcm", "sram1"]


def test_data_region_is_in_the_cache_key_and_checked():
    from mcusim.lut.table import config_key, normalize

    base, = normalize(pd.DataFrame([MISSING])).to_dict(orient="records")
    assert base["data_region"] == ""
    keys = {config_key({**base, "data_region": r}) for r in ("", "dtcm", "sram1")}
    assert len(keys) == 3
    bad = pd.DataFrame([{**MISSING, "in_h": 4, "in_w": 4, "data_region": "nowhere"}])
    res = S.sweep(bad, "stm32f746zg", cache=False)
    assert len(res.table) == 0 and res.invalid["reason"].str.contains("nowhere").all()
    packed = pd.DataFrame([{**MISSING, "family": "packed", "data_region": "sram1"}])
    reason = S.sweep(packed, "stm32f746zg", cache=False).invalid["reason"]
    assert reason.str.contains("s8 family only").all()
