"""Layer configurations as a table: columns, defaults, per-row validation, CSV/Parquet I/O.

One row is one layer configuration.  Columns (those that do not apply may be omitted; they
take the defaults of :data:`DEFAULTS`):

``op``
    ``conv``, ``dwconv``, ``fc``, ``avgpool``, ``maxpool``, ``add``, ``softmax``.
``in_h, in_w, in_c``
    Input tensor (NHWC, batch 1); ``fc`` flattens it to ``K = in_h * in_w * in_c``.
``out_c``
    Output channels (output features for ``fc``; equal to ``in_c`` for ``dwconv``, pooling,
    ``add`` and ``softmax``, and filled in when omitted).
``kh, kw, stride``
    Kernel (pooling window) and square stride.
``pad``
    ``"valid"``, ``"same"`` (TFLite's rule) or an explicit symmetric padding in pixels.
``activation``
    ``none``, ``relu`` or ``relu6``.
``family``
    ``s8`` (CMSIS-NN-style int8), ``packed`` (LiteEngine-style low-bit, conv and fc) or
    ``trec`` (TREC convolution).
``w_bits, a_bits``
    Operand widths of the ``packed`` family (2, 4 or 8); 8 elsewhere.
``trec_l, trec_h``
    Sub-vector length L and hash bits H of the ``trec`` family; 0 elsewhere.
``data_region``
    RAM region of the activations, output and scratch (weights stay in Flash), e.g.
    ``sram1``; empty (the default): the board's default data region.  A generated model
    runner puts its arena in :func:`mcusim.model.codegen.data_region_for`'s region, which is
    not the default one when the arena does not fit it (CifarNet on the F746: SRAM1, behind
    the D-cache, instead of DTCM).

Examples
--------
>>> frame = normalize(pd.DataFrame([{"op": "conv", "in_h": 8, "in_w": 8, "in_c": 4,
...                                  "out_c": 8, "kh": 3, "kw": 3, "pad": "same"}]))
>>> frame.loc[0, ["family", "stride", "activation"]].tolist()
['s8', 1, 'none']
>>> check_row(dict(frame.loc[0])) is None
True
>>> check_row({**frame.loc[0], "kh": 11, "pad": "valid"})
'kernel 11x3 larger than the padded input 8x8'
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

import pandas as pd

from mcusim.errors import McusimError

__all__ = [
    "ACTIVATIONS", "CONFIG_COLUMNS", "ConfigError", "DEFAULTS", "FAMILIES", "FAMILY_OPS", "OPS",
    "PACKED_BITS", "check_row", "config_key", "normalize", "out_shape", "padding",
    "read_table", "supported_ops", "validate", "write_table",
]

OPS: tuple[str, ...] = ("conv", "dwconv", "fc", "avgpool", "maxpool", "add", "softmax")
FAMILIES: tuple[str, ...] = ("s8", "packed", "trec")
ACTIVATIONS: tuple[str, ...] = ("none", "relu", "relu6")
PACKED_BITS: tuple[int, ...] = (2, 4, 8)
#: Ops each family has kernels for.
FAMILY_OPS: dict[str, tuple[str, ...]] = {
    "s8": ("conv", "dwconv", "fc", "avgpool", "maxpool", "add", "softmax"),
    "packed": ("conv", "fc"),
    "trec": ("conv",),
}
#: Ops whose output channels equal the input channels.
SAME_CHANNELS: tuple[str, ...] = ("dwconv", "avgpool", "maxpool", "add", "softmax")

CONFIG_COLUMNS: tuple[str, ...] = (
    "op", "in_h", "in_w", "in_c", "out_c", "kh", "kw", "stride", "pad", "activation",
    "family", "w_bits", "a_bits", "trec_l", "trec_h", "data_region",
)
INT_COLUMNS: tuple[str, ...] = ("in_h", "in_w", "in_c", "out_c", "kh", "kw", "stride",
                                "w_bits", "a_bits", "trec_l", "trec_h")
DEFAULTS: dict[str, Any] = {
    "in_h": 1, "in_w": 1, "kh": 1, "kw": 1, "stride": 1, "pad": "valid", "activation": "none",
    "family": "s8", "w_bits": 8, "a_bits": 8, "trec_l": 0, "trec_h": 0,
    "data_region": "",
}

OnInvalid = Literal["skip", "reject"]


class ConfigError(McusimError):
    """A configuration table or one of its rows is invalid (names the file, row and reason)."""


def supported_ops() -> dict[str, tuple[str, ...]]:
    """Ops the sweep can run today, per family (``softmax`` needs an ``s8`` softmax kernel)."""
    from mcusim.lut.runners import has_softmax

    ops = dict(FAMILY_OPS)
    if not has_softmax():
        ops["s8"] = tuple(o for o in ops["s8"] if o != "softmax")
    return ops


def _pad_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().lower()


def normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill omitted columns with their defaults and give every column its type.

    ``op`` is required; ``in_c`` too; ``out_c`` defaults to ``in_c`` for the ops that keep
    the channel count.  Values that cannot be read as integers are kept as they are, for
    :func:`validate` to report per row.

    Raises
    ------
    ConfigError
        A required column is missing.
    """
    out = frame.copy()
    for col in ("op", "in_c"):
        if col not in out.columns:
            raise ConfigError(f"the configuration table has no {col!r} column",
                              columns=", ".join(map(str, out.columns)))
    for col, default in DEFAULTS.items():
        if col not in out.columns:
            out[col] = default
        else:
            out[col] = out[col].where(out[col].notna(), default)
    if "out_c" not in out.columns:
        out["out_c"] = pd.NA
    same = out["op"].isin(SAME_CHANNELS) & out["out_c"].isna()
    if same.any():
        out["out_c"] = out["out_c"].astype(object).where(~same, out["in_c"])
    for col in INT_COLUMNS:
        num = pd.to_numeric(out[col], errors="coerce")
        if num.notna().all() and (num == num.round()).all():
            out[col] = num.astype("int64")
    for col in ("op", "family", "activation", "data_region"):
        out[col] = out[col].astype(str).str.strip().str.lower()
    out["pad"] = out["pad"].map(_pad_text)
    extra = [c for c in out.columns if c not in CONFIG_COLUMNS]
    return out[list(CONFIG_COLUMNS) + extra].reset_index(drop=True)


def padding(row: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` padding of a row (TFLite's rule for ``"same"``)."""
    pad = _pad_text(row["pad"])
    if pad == "valid":
        return 0, 0, 0, 0
    if pad == "same":
        s = int(row["stride"])
        pads = []
        for size, k in ((int(row["in_h"]), int(row["kh"])), (int(row["in_w"]), int(row["kw"]))):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return pads[0], pads[1], pads[2], pads[3]
    p = int(pad)
    return p, p, p, p


def out_shape(row: Mapping[str, Any]) -> tuple[int, int, int]:
    """``(out_h, out_w, out_c)`` of a valid row."""
    op = row["op"]
    if op == "fc":
        return 1, 1, int(row["out_c"])
    if op in ("add", "softmax"):
        return int(row["in_h"]), int(row["in_w"]), int(row["in_c"])
    t, b, l, r = padding(row)
    s = int(row["stride"])
    oh = (int(row["in_h"]) + t + b - int(row["kh"])) // s + 1
    ow = (int(row["in_w"]) + l + r - int(row["kw"])) // s + 1
    return oh, ow, int(row["out_c"])


def _as_int(row: Mapping[str, Any], col: str) -> int | None:
    v = row.get(col)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return int(f) if f.is_integer() else None


def check_row(row: Mapping[str, Any]) -> str | None:
    """Why a (normalised) row cannot be run, or None when it is valid.

    Checks, in order: known op and family, integer sizes, positive sizes, the family's ops
    and bit widths, the padding, the kernel against the padded input, op-specific rules.
    """
    op, family = str(row.get("op")), str(row.get("family"))
    if op not in OPS:
        return f"unknown op {op!r} (known: {', '.join(OPS)})"
    if family not in FAMILIES:
        return f"unknown family {family!r} (known: {', '.join(FAMILIES)})"
    vals: dict[str, int] = {}
    for col in INT_COLUMNS:
        v = _as_int(row, col)
        if v is None:
            return f"{col} is not an integer: {row.get(col)!r}"
        vals[col] = v
    for col in ("in_h", "in_w", "in_c", "out_c", "kh", "kw", "stride"):
        if vals[col] <= 0:
            kind = "negative" if vals[col] < 0 else "zero"
            return f"{kind} size: {col} = {vals[col]}"
    if str(row.get("activation")) not in ACTIVATIONS:
        return f"unknown activation {row.get('activation')!r} (known: {', '.join(ACTIVATIONS)})"
    region = str(row.get("data_region") or "")
    if region and family != "s8":
        return f"data_region {region!r} is supported by the s8 family only"
    if op not in FAMILY_OPS[family]:
        return f"family {family!r} has no {op} kernel (it has: {', '.join(FAMILY_OPS[family])})"
    if op == "softmax" and op not in supported_ops()["s8"]:
        return "softmax is not supported: no s8 softmax kernel in mcusim.kernels.s8"
    if family == "packed":
        for col in ("w_bits", "a_bits"):
            if vals[col] not in PACKED_BITS:
                return f"unsupported bit width {col} = {vals[col]} (packed kernels: 2, 4, 8)"
    elif vals["w_bits"] != 8 or vals["a_bits"] != 8:
        return (f"unsupported bit width w_bits={vals['w_bits']}, a_bits={vals['a_bits']} "
                f"for family {family!r} (int8 only; use family 'packed' for 2/4 bits)")
    if op in SAME_CHANNELS and vals["out_c"] != vals["in_c"]:
        return f"{op} keeps the channel count: out_c {vals['out_c']} != in_c {vals['in_c']}"
    pad = _pad_text(row.get("pad"))
    if pad not in ("same", "valid"):
        try:
            explicit = int(pad)
        except ValueError:
            return f"pad must be 'same', 'valid' or an integer, not {row.get('pad')!r}"
        if explicit < 0:
            return f"negative size: pad = {explicit}"
    if op in ("fc", "add", "softmax"):
        return None if op != "fc" or (vals["kh"], vals["kw"]) == (1, 1) else \
            f"fc takes kh = kw = 1, not {vals['kh']}x{vals['kw']}"
    t, b, l, r = padding({**row, **vals, "pad": pad})
    ph, pw = vals["in_h"] + t + b, vals["in_w"] + l + r
    if vals["kh"] > ph or vals["kw"] > pw:
        return f"kernel {vals['kh']}x{vals['kw']} larger than the padded input {ph}x{pw}"
    if family != "s8" and (t != b or l != r or t != l):
        return (f"asymmetric padding (top/bottom/left/right = {t}/{b}/{l}/{r}) is not "
                f"supported by the {family} kernels (symmetric padding only)")
    if max(t, b) >= vals["kh"] or max(l, r) >= vals["kw"]:
        return (f"padding {t}/{b}/{l}/{r} not smaller than the kernel "
                f"{vals['kh']}x{vals['kw']} (the kernels require pad < kernel size)")
    if op == "dwconv" and family != "s8":
        return f"family {family!r} has no dwconv kernel"
    if family == "trec":
        k = vals["in_c"] * vals["kh"] * vals["kw"]
        if not 1 <= vals["trec_l"] <= k:
            return f"trec_l = {vals['trec_l']} outside 1..K = {k}"
        if not 1 <= vals["trec_h"] <= min(15, vals["out_c"]):
            return f"trec_h = {vals['trec_h']} outside 1..min(15, out_c = {vals['out_c']})"
    return None


def validate(frame: pd.DataFrame, on_invalid: OnInvalid = "skip", *,
             source: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a configuration table into valid rows and invalid rows with the reason.

    Parameters
    ----------
    frame
        A configuration table (normalised here).
    on_invalid
        ``"skip"``: return the invalid rows apart; ``"reject"``: raise on the first one.
    source
        File name for the error message.

    Returns
    -------
    tuple of DataFrame
        ``(valid, invalid)``; both keep the original row numbers in column ``row``;
        ``invalid`` has a ``reason`` column.

    Raises
    ------
    ConfigError
        ``on_invalid="reject"`` and a row is invalid (names the row and the reason).
    """
    if on_invalid not in ("skip", "reject"):
        raise ConfigError(f"on_invalid must be 'skip' or 'reject', not {on_invalid!r}")
    norm = normalize(frame)
    norm.insert(0, "row", range(len(norm)))
    reasons = [check_row(r) for r in norm.to_dict(orient="records")]
    bad = [i for i, r in enumerate(reasons) if r is not None]
    if bad and on_invalid == "reject":
        i = bad[0]
        raise ConfigError(f"invalid configuration: {reasons[i]}", file=source, row=i,
                          invalid_rows=len(bad))
    invalid = norm.iloc[bad].copy()
    invalid["reason"] = [reasons[i] for i in bad]
    valid = norm.drop(index=norm.index[bad])
    for col in INT_COLUMNS:
        valid[col] = valid[col].astype("int64")
    return valid.reset_index(drop=True), invalid.reset_index(drop=True)


def config_key(row: Mapping[str, Any]) -> str:
    """A stable hex key of a row's configuration columns (same config -> same key).

    An empty ``data_region`` (the board's default) is left out, so rows of the default
    region keep the keys (and cached results, random data) they had before the column."""
    canon = {c: (int(row[c]) if c in INT_COLUMNS else str(row.get(c, "") or ""))
             for c in CONFIG_COLUMNS}
    if not canon["data_region"]:
        del canon["data_region"]
    return hashlib.sha256(json.dumps(canon, sort_keys=True).encode()).hexdigest()[:24]


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".parquet", ".pq"):
        return "csv" if suffix == ".csv" else "parquet"
    raise ConfigError("unknown table format (use .csv or .parquet)", file=str(path))


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table (configurations, a LUT or predictions) from ``.csv`` or ``.parquet``.

    Raises
    ------
    ConfigError
        The file is missing, unreadable or of an unknown format.
    """
    path = Path(path)
    fmt = _format(path)
    if not path.exists():
        raise ConfigError("table file not found", file=str(path))
    try:
        if fmt == "csv":
            return pd.read_csv(path, dtype={"pad": str})
        return pd.read_parquet(path)
    except Exception as exc:  # pandas/pyarrow raise many types; report them as ours
        raise ConfigError(f"cannot read the table: {exc}", file=str(path)) from None


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as ``.csv`` or ``.parquet`` (chosen by the suffix); returns the path."""
    path = Path(path)
    fmt = _format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = frame.copy()
    if "pad" in out.columns:
        out["pad"] = out["pad"].map(_pad_text)
    if fmt == "csv":
        out.to_csv(path, index=False)
    else:
        out.to_parquet(path, index=False)
    return path


def rows_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a table as plain dicts (numpy scalars turned into Python ones)."""
    return json.loads(frame.to_json(orient="records"))


def iter_chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    """Consecutive chunks of ``size`` items."""
    for i in range(0, len(items), size):
        yield items[i:i + size]
