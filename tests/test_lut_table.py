"""Configuration tables: defaults, per-row validation, padding, I/O; the sampling spaces."""

from __future__ import annotations

import pandas as pd
import pytest

from mcusim.errors import McusimError
from mcusim.kernels.s8_params import same_padding
from mcusim.lut import spaces
from mcusim.lut.table import (
    CONFIG_COLUMNS, ConfigError, check_row, config_key, normalize, out_shape, padding,
    read_table, validate, write_table,
)

GOOD = {"op": "conv", "in_h": 8, "in_w": 8, "in_c": 4, "out_c": 6, "kh": 3, "kw": 3,
        "pad": "same"}


@pytest.mark.parametrize("change, reason", [
    ({"in_h": -3}, "negative size: in_h = -3"),
    ({"out_c": 0}, "zero size: out_c = 0"),
    ({"kh": 11, "pad": "valid"}, "kernel 11x3 larger than the padded input 8x8"),
    ({"kh": 9, "kw": 9, "pad": "0"}, "kernel 9x9 larger than the padded input 8x8"),
    ({"op": "deconv"}, "unknown op 'deconv'"),
    ({"family": "fp32"}, "unknown family 'fp32'"),
    ({"family": "packed", "w_bits": 3}, "unsupported bit width w_bits = 3"),
    ({"w_bits": 4}, "unsupported bit width w_bits=4, a_bits=8 for family 's8'"),
    ({"family": "trec", "trec_l": 0, "trec_h": 2, "pad": "1"}, "trec_l = 0 outside 1..K = 36"),
    ({"op": "dwconv", "out_c": 5}, "dwconv keeps the channel count"),
    ({"pad": "huge"}, "pad must be 'same', 'valid' or an integer"),
    ({"pad": "3"}, "padding 3/3/3/3 not smaller than the kernel 3x3"),
    ({"in_c": "four"}, "in_c is not an integer"),
    ({"activation": "gelu"}, "unknown activation 'gelu'"),
    ({"op": "maxpool", "family": "packed", "out_c": 4}, "family 'packed' has no maxpool kernel"),
])
def test_invalid_rows_name_the_reason(change, reason):
    row = dict(normalize(pd.DataFrame([{**GOOD, **change}])).iloc[0])
    got = check_row(row)
    assert got is not None and got.startswith(reason), got


def test_valid_row_and_defaults():
    frame = normalize(pd.DataFrame([GOOD, {"op": "dwconv", "in_h": 5, "in_w": 5, "in_c": 7,
                                           "kh": 3, "kw": 3}]))
    assert list(frame.columns[:len(CONFIG_COLUMNS)]) == list(CONFIG_COLUMNS)
    assert frame.loc[1, "out_c"] == 7 and frame.loc[1, "family"] == "s8"
    assert frame.loc[1, "stride"] == 1 and frame.loc[1, "pad"] == "valid"
    assert all(check_row(r) is None for r in frame.to_dict(orient="records"))


def test_validate_skips_or_rejects_per_row():
    rows = pd.DataFrame([GOOD, {**GOOD, "in_w": -1}, {**GOOD, "op": "unknown"}, GOOD])
    valid, invalid = validate(rows, "skip")
    assert valid["row"].tolist() == [0, 3]
    assert invalid["row"].tolist() == [1, 2]
    assert invalid["reason"].str.len().gt(0).all()
    with pytest.raises(ConfigError) as err:
        validate(rows, "reject", source="layers.csv")
    assert isinstance(err.value, McusimError)
    assert err.value.details["row"] == 1 and err.value.details["file"] == "layers.csv"
    assert "negative size" in str(err.value)


def test_missing_op_column_is_an_error():
    with pytest.raises(ConfigError, match="no 'op' column"):
        normalize(pd.DataFrame([{"in_c": 3}]))


@pytest.mark.parametrize("hw, k, stride", [((9, 9), 3, 2), ((8, 8), 3, 2), ((49, 10), (10, 4), 2),
                                           ((7, 7), 2, 2), ((5, 6), 3, 1)])
def test_same_padding_matches_the_kernels(hw, k, stride):
    kh, kw = (k, k) if isinstance(k, int) else k
    row = {"op": "conv", "in_h": hw[0], "in_w": hw[1], "in_c": 1, "out_c": 1, "kh": kh,
           "kw": kw, "stride": stride, "pad": "same"}
    t, b, l, r = padding(row)
    assert (t, l, b, r) == tuple(same_padding(hw, (kh, kw), stride))
    oh, ow, _ = out_shape(row)
    assert (oh, ow) == (-(-hw[0] // stride), -(-hw[1] // stride))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_round_trip(tmp_path, suffix):
    frame = normalize(pd.DataFrame([GOOD, {**GOOD, "pad": 1}, {"op": "fc", "in_c": 30,
                                                                "out_c": 4}]))
    path = write_table(frame, tmp_path / f"t{suffix}")
    back = normalize(read_table(path))
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert [config_key(r) for r in back.to_dict(orient="records")] == \
        [config_key(r) for r in frame.to_dict(orient="records")]


def test_table_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown table format"):
        read_table(tmp_path / "t.xlsx")
    with pytest.raises(ConfigError, match="not found"):
        read_table(tmp_path / "missing.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(ConfigError, match="cannot read"):
        read_table(bad)


@pytest.mark.parametrize("name", list(spaces.SPACES))
def test_spaces_are_valid_and_seeded(name):
    a, b = spaces.get_space(name, seed=3), spaces.get_space(name, seed=3)
    pd.testing.assert_frame_equal(a, b)
    _, invalid = validate(a)
    assert invalid.empty, invalid[["op", "reason"]].head()


def test_default_space_covers_every_op():
    frame = spaces.get_space("default")
    assert 900 <= len(frame) <= 1100
    assert set(frame["family"]) == {"s8"}
    from mcusim.lut.table import supported_ops

    assert set(frame["op"]) == set(supported_ops()["s8"])
    # channel counts off the multiples of 4 on purpose, and on them
    mods = set(frame.loc[frame["op"] == "conv", "in_c"] % 4)
    assert mods == {0, 1, 2, 3}


def test_random_space_depends_on_seed_and_bounds():
    a = spaces.random_space(50, 1)
    b = spaces.random_space(50, 2)
    assert not a.equals(b)
    small = spaces.random_space(30, 1, bounds=spaces.Bounds(max_macs=5000))
    assert max(spaces.macs(r) for r in small.to_dict(orient="records")) <= 5000


def test_prior_space_takes_layer_rows():
    layers = [{"op": "conv", "in_h": 10, "in_w": 10, "in_c": 8, "out_c": 16, "kh": 3, "kw": 3,
               "pad": "1", "model": "m", "layer": "m.c1"},
              {"op": "fc", "in_c": 64, "out_c": 10, "model": "m", "layer": "m.fc"}]
    frame = spaces.prior_space(layers, variants=2, seed=0)
    assert len(frame) == 6
    assert frame["model"].eq("m").all()
    assert {"m.c1", "m.c1~0", "m.c1~1", "m.fc"} <= set(frame["layer"])


def test_prior_uses_real_models():
    rows = spaces.real_model_rows()
    models = {r["model"] for r in rows}
    assert {"cifarnet", "squeezenet"} <= models
    assert validate(pd.DataFrame(rows))[1].empty
