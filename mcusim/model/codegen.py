"""Generate a readable C model runner from a graph, a memory plan and a board, and build it.

:func:`generate` writes four files (cached by a hash of their content's inputs):

- ``model_data.h`` / ``model_data.c``: every constant -- filters, biases, requantisation
  multipliers and shifts, the kernel parameter structs and dimensions -- as ``const`` arrays,
  which the linker puts in Flash (``.rodata``);
- ``model.h`` / ``model.c``: the activation arena as ONE static SRAM buffer of the plan's size
  (16-byte aligned, in ``.bss``), one non-inlined function ``mcusim_op_<i>`` per operator
  holding the single kernel call at the planned arena offsets (a comment names the operator),
  and ``mcusim_model_invoke()`` calling them in plan order with a status check per call.

:func:`build_model` links them with the ``s8`` kernel family for a board (with
``-fstack-usage``, so :mod:`mcusim.model.stack` can bound the stack); the ELF is cached by
:func:`mcusim.build.build_firmware`.

Examples
--------
>>> gen = generate(graph, plan)                          # doctest: +SKIP
>>> print((gen.directory / "model.c").read_text()[:400]) # doctest: +SKIP
>>> elf = build_model(gen, "stm32f469i").elf             # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from mcusim.boards import Board, get_board
from mcusim.build import BuildResult, build_firmware, cache_dir
from mcusim.errors import ModelError
from mcusim.kernels.firmware import family_sources
from mcusim.model.graph import Graph, Operator
from mcusim.model.lower import lower_op
from mcusim.model.plan import Plan

__all__ = [
    "ARENA_ALIGN", "ARENA_SYMBOL", "GeneratedModel", "OpCode", "Placement", "build_model",
    "generate", "kernel_for", "lower", "op_symbol", "placement_of",
]

#: Bumped whenever the generated text changes (part of the cache key).
CODEGEN_VERSION = "1"
ARENA_SYMBOL = "mcusim_arena"
ARENA_ALIGN = 16
INVOKE_SYMBOL = "mcusim_model_invoke"
STACK_FLAGS = ("-fstack-usage",)

#: The s8 kernel each operator kind calls; conv and dwconv call the path their wrapper
#: would pick (:func:`kernel_for`), so that the stack bound follows the code that runs.
KERNELS: Mapping[str, str] = {
    "conv": "mnn_convolve_wrapper_s8",
    "dwconv": "mnn_depthwise_conv_wrapper_s8",
    "fc": "mnn_fully_connected_s8",
    "maxpool": "mnn_max_pool_s8",
    "avgpool": "mnn_avg_pool_s8",
    "add": "mnn_elementwise_add_s8",
    "softmax": "mnn_softmax_s8",
    "reshape": "",
}


def kernel_for(kind: str, struct_words: Sequence[int], filter_shape: Sequence[int]) -> str:
    """The kernel of an operator: for conv/dwconv the one ``mnn_convolve_wrapper_s8`` /
    ``mnn_depthwise_conv_wrapper_s8`` picks from the same struct (``mnn_conv_params`` words:
    offsets, stride w/h, padding w/h, ...; filter ``[O, KH, KW, I]``)."""
    if kind == "conv":
        kh, kw = filter_shape[1], filter_shape[2]
        one = kh == 1 and kw == 1 and struct_words[4] == 0 and struct_words[5] == 0
        return "mnn_convolve_1x1_s8" if one else "mnn_convolve_s8"
    if kind == "dwconv":
        kh, kw = filter_shape[1], filter_shape[2]
        small = kh == 3 and kw == 3 and struct_words[4] <= 1 and struct_words[5] <= 1
        return "mnn_depthwise_conv_3x3_s8" if small else "mnn_depthwise_conv_s8"
    return KERNELS[kind]


def op_symbol(index: int) -> str:
    """Name of the generated function of operator ``index``."""
    return f"mcusim_op_{index}"


# ----------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Placement:
    """What the generator needs from a memory plan.

    Attributes
    ----------
    order
        Operator indices in execution order.
    tensor_offsets
        Arena offset of every activation tensor (by tensor index).
    scratch
        ``(offset, size)`` of each operator's scratch buffer (operators without scratch absent).
    arena_bytes
        Size of the arena as planned (every buffer rounded up to the plan's alignment).
    used_bytes
        End of the highest buffer's own bytes (the arena without the last buffer's
        alignment tail): the size of the generated arena array.
    strategy
        Name of the planner that produced it.
    """

    order: tuple[int, ...]
    tensor_offsets: Mapping[int, int]
    scratch: Mapping[int, tuple[int, int]]
    arena_bytes: int
    used_bytes: int
    strategy: str = ""


def placement_of(plan: Plan | Placement) -> Placement:
    """Adapt a :class:`mcusim.model.plan.Plan` (or a :class:`Placement`) to a Placement."""
    if isinstance(plan, Placement):
        return plan
    offsets = {int(s.tensor): int(s.offset) for s in plan.tensors}
    scratch = {int(s.op): (int(s.offset), int(s.nbytes)) for s in plan.scratch if s.nbytes}
    ends = [int(s.offset) + int(s.nbytes) for s in plan.tensors]
    ends += [o + n for o, n in scratch.values()]
    return Placement(tuple(int(i) for i in plan.order), offsets, scratch,
                     int(plan.arena_bytes), max(ends, default=0), plan.planner)


def lower(graph: Graph) -> list[Any]:
    """The kernel parameter object of every operator (``None`` for reshape and for
    ``packed`` operators, which :mod:`mcusim.model.lower_packed` lowers), from
    :func:`mcusim.model.lower.lower_op`."""
    return [None if op.kernel.family == "packed" else lower_op(graph, i).params
            for i, op in enumerate(graph.operators)]


# ----------------------------------------------------------------------------- output
@dataclass(frozen=True)
class OpCode:
    """One generated operator function."""

    index: int
    name: str
    kind: str
    symbol: str
    kernel: str


@dataclass(frozen=True)
class GeneratedModel:
    """The generated runner of one (graph, plan).

    Attributes
    ----------
    name
        The graph's name.
    directory
        Where the files are (in the cache).
    sources
        The generated ``.c`` files.
    key
        Content hash (the cache key).
    cached
        True when the files came from the cache.
    placement
        The plan the code was generated for.
    ops
        The generated operator functions, in plan order.
    """

    name: str
    directory: Path
    sources: tuple[Path, ...]
    key: str
    cached: bool
    placement: Placement
    ops: tuple[OpCode, ...]

    @property
    def arena_bytes(self) -> int:
        """Bytes of the generated arena array (:attr:`Placement.used_bytes`)."""
        return self.placement.used_bytes


_COPY_HELPER = """static void mcusim_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    if (dst < src) { for (int32_t i = 0; i < n; i++) dst[i] = src[i]; }
    else { for (int32_t i = n - 1; i >= 0; i--) dst[i] = src[i]; }
}

"""


def _c_array(ctype: str, name: str, values: np.ndarray, per_line: int) -> str:
    flat = np.asarray(values).reshape(-1).tolist()
    if not flat:
        flat = [0]
    lines = [", ".join(str(v) for v in flat[i:i + per_line])
             for i in range(0, len(flat), per_line)]
    body = ",\n    ".join(lines)
    return f"const {ctype} {name}[{len(flat)}] __attribute__((aligned(4))) = {{\n    {body}\n}};\n"


def _words(words: Sequence[int]) -> str:
    return ", ".join(str(int(w)) for w in words)


def _struct_words(params: Any, kind: str) -> list[int]:
    if kind == "fc":
        return list(params.fc_struct())
    if kind in ("conv", "dwconv"):
        return list(params.conv_struct())
    if hasattr(params, "struct"):
        return list(params.struct())
    return [int(getattr(params, f)) for f in ("input_multiplier", "input_left_shift", "diff_min")]


class _Writer:
    """Accumulates the text of the data and runner files for one graph."""

    def __init__(self, graph: Graph, placement: Placement, lowered: Sequence[Any]) -> None:
        self.g = graph
        self.p = placement
        self.lowered = lowered
        self.data_h: list[str] = []
        self.data_c: list[str | tuple[str, str, Any, int]] = []
        self.funcs: list[str] = []
        self.ops: list[OpCode] = []

    # -- helpers ------------------------------------------------------------------------
    def _decl(self, text: str, header: str) -> None:
        self.data_c.append(text)
        self.data_h.append(header)

    def _struct(self, ctype: str, name: str, words: Sequence[int]) -> str:
        self._decl(f"const {ctype} {name} = {{{_words(words)}}};\n", f"extern const {ctype} {name};")
        return f"&{name}"

    def _array(self, ctype: str, name: str, values: np.ndarray, per_line: int = 24) -> str:
        n = max(1, int(np.asarray(values).size))
        self.data_c.append((ctype, name, values, per_line))   # formatted only when written
        self.data_h.append(f"extern const {ctype} {name}[{n}];")
        return name

    def _arena(self, tensor: int, *, const: bool) -> str:
        if tensor not in self.p.tensor_offsets:
            raise ModelError("the plan has no offset for this tensor", model=self.g.name,
                             tensor=self.g.tensors[tensor].name)
        off = self.p.tensor_offsets[tensor]
        return f"MCUSIM_{'IN' if const else 'OUT'}({off})"

    def _dims(self, name: str, shape: Sequence[int]) -> str:
        s = list(shape)
        if len(s) == 4:
            dims = s
        elif len(s) == 2:
            dims = [s[0], 1, 1, s[1]]
        else:
            dims = [1, 1, 1, int(np.prod(s))]
        return self._struct("mnn_dims", name, dims)

    def _describe(self, i: int, op: Operator) -> str:
        p = op.params
        x = self.g.tensors[op.inputs[0]]
        y = self.g.tensors[op.outputs[0]]
        parts = [f"{op.kind}", f"{tuple(x.shape)} -> {tuple(y.shape)}"]
        if op.kind in ("conv", "dwconv", "avgpool", "maxpool"):
            k = self.g.tensors[op.inputs[1]].shape[1:3] if op.kind in ("conv", "dwconv") \
                else p.filter
            parts.append(f"kernel {k[0]}x{k[1]}, stride {p.stride[0]}x{p.stride[1]}, "
                         f"padding t{p.padding[0]} l{p.padding[1]} b{p.padding[2]} "
                         f"r{p.padding[3]}")
        if p.activation != "none":
            parts.append(p.activation)
        return f"op {i}: {op.name} ({', '.join(parts)})"

    # -- one operator -------------------------------------------------------------------
    def add_op(self, i: int) -> None:
        g = self.g
        op = g.operators[i]
        where = {"model": g.source or g.name, "operator": f"{i} ({op.name}, {op.kind})"}
        if op.kernel.family == "packed":
            from mcusim.model.lower_packed import emit_packed

            emit_packed(self, i)
            return
        if op.kernel.family != "s8":
            raise ModelError(f"code generation supports the s8 kernel family only, not "
                             f"{op.kernel.family!r}", **where)
        if op.kind not in KERNELS:
            raise ModelError(f"no kernel for operator kind {op.kind!r}", **where)
        pre = f"op{i}"
        kernel = KERNELS[op.kind]
        params = self.lowered[i]
        x, y = op.inputs[0], op.outputs[0]
        xt, yt = g.tensors[x], g.tensors[y]
        scr = self.p.scratch.get(i)
        ctx = "0"
        if scr:
            name = f"{pre}_ctx"
            self._decl(f"const mnn_context {name} = {{mcusim_arena + {scr[0]}, {scr[1]}}};\n",
                       f"extern const mnn_context {name};")
            ctx = f"&{name}"
        if op.kind in ("conv", "dwconv", "fc"):
            w = g.tensors[op.inputs[1]]
            b = g.tensors[op.inputs[2]]
            if w.data is None or b.data is None:
                raise ModelError("weights and bias must be constant", **where)
            filt = self._array("int8_t", f"{pre}_filter", np.asarray(w.data, np.int8))
            bias = self._array("int32_t", f"{pre}_bias", np.asarray(b.data, np.int32), 8)
            mult = self._array("int32_t", f"{pre}_multiplier", params.multipliers, 8)
            shift = self._array("int32_t", f"{pre}_shift", params.shifts, 16)
            self._decl(f"const mnn_per_channel_quant {pre}_quant = {{{mult}, {shift}}};\n",
                       f"extern const mnn_per_channel_quant {pre}_quant;")
            quant = f"&{pre}_quant"
            words = _struct_words(params, op.kind)
            prm = self._struct("mnn_fc_params" if op.kind == "fc" else "mnn_conv_params",
                               f"{pre}_params", words)
            kernel = kernel_for(op.kind, words, w.shape)
            if op.kind == "fc":
                k = xt.num_elements
                ind = self._struct("mnn_dims", f"{pre}_input_dims", [1, 1, 1, k])
                fd = self._struct("mnn_dims", f"{pre}_filter_dims", [w.shape[0], 1, 1, k])
                od = self._struct("mnn_dims", f"{pre}_output_dims", [1, 1, 1, yt.num_elements])
            else:
                ind = self._dims(f"{pre}_input_dims", xt.shape)
                fd = self._dims(f"{pre}_filter_dims", w.shape)
                od = self._dims(f"{pre}_output_dims", yt.shape)
            call = (f"{kernel}({ctx}, {prm}, {quant}, {ind}, {self._arena(x, const=True)}, "
                    f"{fd}, {filt}, {bias}, {od}, {self._arena(y, const=False)})")
        elif op.kind in ("maxpool", "avgpool"):
            prm = self._struct("mnn_pool_params", f"{pre}_params", _struct_words(params, op.kind))
            ind = self._dims(f"{pre}_input_dims", xt.shape)
            od = self._dims(f"{pre}_output_dims", yt.shape)
            args = f"{prm}, {ind}, {self._arena(x, const=True)}, {od}, {self._arena(y, const=False)}"
            call = f"{kernel}({ctx}, {args})" if op.kind == "avgpool" else f"{kernel}({args})"
        elif op.kind == "add":
            prm = self._struct("mnn_add_params", f"{pre}_params", _struct_words(params, op.kind))
            call = (f"{kernel}({prm}, {self._arena(x, const=True)}, "
                    f"{self._arena(op.inputs[1], const=True)}, {self._arena(y, const=False)}, "
                    f"{yt.num_elements})")
        elif op.kind == "softmax":
            prm = self._struct("mnn_softmax_params", f"{pre}_params",
                               _struct_words(params, op.kind))
            row = int(xt.shape[-1])
            call = (f"{kernel}({prm}, {self._arena(x, const=True)}, {xt.num_elements // row}, "
                    f"{row}, {self._arena(y, const=False)})")
        else:  # reshape: the same bytes; copy only when the plan put them elsewhere
            call = ""
        self._emit(i, op, kernel, call)

    def _emit_body(self, i: int, op: Operator, kernel: str, body: str, note: str = "") -> None:
        """Add an operator function with a ready body (used by the ``packed`` branch)."""
        extra = f"; {note}" if note else ""
        head = (f"/* {self._describe(i, op)}{extra} */\n__attribute__((noinline)) mnn_status "
                f"{op_symbol(i)}(void)\n{{\n")
        self.funcs.append(head + body + "}\n")
        self.ops.append(OpCode(i, op.name, op.kind, op_symbol(i), kernel))

    def _emit(self, i: int, op: Operator, kernel: str, call: str) -> None:
        sym = op_symbol(i)
        head = f"/* {self._describe(i, op)} */\n__attribute__((noinline)) mnn_status {sym}(void)\n{{\n"
        if call:
            body = f"    return {call};\n"
        else:
            src = self.p.tensor_offsets[op.inputs[0]]
            dst = self.p.tensor_offsets[op.outputs[0]]
            n = self.g.tensors[op.outputs[0]].nbytes
            body = ("    /* reshape: the tensor keeps its bytes */\n" if src == dst else
                    f"    mcusim_copy(MCUSIM_OUT({dst}), MCUSIM_IN({src}), {n});\n")
            body += "    return MNN_OK;\n"
        self.funcs.append(head + body + "}\n")
        if not kernel:
            kernel = "(copy)" if "mcusim_copy(" in body else "(in place)"
        self.ops.append(OpCode(i, op.name, op.kind, sym, kernel))

    # -- files --------------------------------------------------------------------------
    def files(self) -> dict[str, str]:
        g, p = self.g, self.p
        packed = any(op.kernel.family == "packed" for op in g.operators)
        inc = "#include \"mnn_s8.h\"\n" + ("#include \"mnn_packed.h\"\n" if packed else "")
        banner = (f"/* Generated by mcusim (codegen {CODEGEN_VERSION}) for model {g.name!r}"
                  f"{f' from {g.source}' if g.source else ''}; plan {p.strategy or '?'}, "
                  f"arena {p.arena_bytes} bytes ({p.used_bytes} to the end of its highest "
                  f"buffer). Do not edit. */\n")
        data_h = (banner + "#ifndef MCUSIM_MODEL_DATA_H\n#define MCUSIM_MODEL_DATA_H\n\n"
                  + inc + "#include \"model.h\"\n\n"
                  + "\n".join(self.data_h) + "\n\n#endif\n")
        data_c = (banner + "/* Constants of the model: all const, so they live in Flash. */\n"
                  "#include \"model_data.h\"\n\n"
                  + "\n".join(d if isinstance(d, str) else _c_array(*d) for d in self.data_c))
        ins = ", ".join(f"{g.tensors[t].name} at {p.tensor_offsets.get(t)}" for t in g.inputs)
        outs = ", ".join(f"{g.tensors[t].name} at {p.tensor_offsets.get(t)}" for t in g.outputs)
        model_h = (banner + "#ifndef MCUSIM_MODEL_H\n#define MCUSIM_MODEL_H\n\n"
                   "#include <stdint.h>\n" + inc + "\n"
                   f"#define MCUSIM_ARENA_BYTES {p.used_bytes}\n"
                   f"#define MCUSIM_NUM_OPS {len(self.ops)}\n\n"
                   f"/* The activation arena. Inputs: {ins}. Outputs: {outs}. */\n"
                   f"extern uint8_t {ARENA_SYMBOL}[MCUSIM_ARENA_BYTES];\n\n"
                   "/* One inference: every operator in plan order; the first failing status. */\n"
                   f"mnn_status {INVOKE_SYMBOL}(void);\n\n"
                   + "".join(f"mnn_status {o.symbol}(void);\n" for o in self.ops)
                   + "\n#endif\n")
        invoke = "".join(f"    if ((s = {o.symbol}()) != MNN_OK) return s;  /* {o.name} */\n"
                         for o in self.ops)
        model_c = (banner + "#include \"model.h\"\n#include \"model_data.h\"\n\n"
                   f"uint8_t {ARENA_SYMBOL}[MCUSIM_ARENA_BYTES] "
                   f"__attribute__((aligned({ARENA_ALIGN})));\n\n"
                   "#define MCUSIM_IN(off) ((const int8_t *)(mcusim_arena + (off)))\n"
                   "#define MCUSIM_OUT(off) ((int8_t *)(mcusim_arena + (off)))\n\n"
                   + (_COPY_HELPER if any("mcusim_copy(" in f for f in self.funcs) else "")
                   + (_flip_helper() if any("mcusim_flip(" in f for f in self.funcs) else "")
                   + "\n".join(self.funcs)
                   + f"\nmnn_status {INVOKE_SYMBOL}(void)\n{{\n    mnn_status s;\n"
                   + invoke + "    return MNN_OK;\n}\n")
        return {"model.h": model_h, "model.c": model_c, "model_data.h": data_h,
                "model_data.c": data_c}


def _flip_helper() -> str:
    from mcusim.model.lower_packed import FLIP_HELPER

    return FLIP_HELPER


def _uses_packed(graph: Graph) -> bool:
    return any(op.kernel.family == "packed" for op in graph.operators)


def _fingerprint(graph: Graph, placement: Placement, lowered: Sequence[Any]) -> str:
    h = hashlib.sha256()
    if _uses_packed(graph):
        h.update((Path(__file__).parent / "lower_packed.py").read_bytes())

    def put(*items: object) -> None:
        for it in items:
            h.update(repr(it).encode())
            h.update(b"\0")

    put(CODEGEN_VERSION, Path(__file__).read_bytes(), graph.name, graph.source, graph.inputs, graph.outputs)
    for t in graph.tensors:
        put(t.name, t.shape, t.dtype, t.quant, t.bits)
        if t.data is not None:
            h.update(np.ascontiguousarray(t.data).tobytes())
    for op in graph.operators:
        put(op)
    put(placement.order, sorted(placement.tensor_offsets.items()),
        sorted(placement.scratch.items()), placement.arena_bytes, placement.used_bytes,
        placement.strategy)
    for i, prm in enumerate(lowered):
        if prm is None:
            put(None)
            continue
        op = graph.operators[i]
        put(_struct_words(prm, op.kind))
        for attr in ("multipliers", "shifts"):
            if hasattr(prm, attr):
                h.update(np.ascontiguousarray(getattr(prm, attr)).tobytes())
    return h.hexdigest()[:24]


def generate(graph: Graph, plan: Plan | Placement, *, lowered: Sequence[Any] | None = None,
             directory: str | Path | None = None) -> GeneratedModel:
    """Generate (or reuse from the cache) the C runner of ``graph`` under ``plan``.

    Parameters
    ----------
    graph
        A validated graph whose operators use the ``s8`` family.
    plan
        A :class:`mcusim.model.plan.Plan` or a :class:`Placement`.
    lowered
        Kernel parameters per operator (default: :func:`lower`).
    directory
        Also copy the generated files there (for reading or deploying).

    Returns
    -------
    GeneratedModel

    Raises
    ------
    ModelError
        An operator the generator cannot express (family, kind, missing plan offset).
    """
    graph.validate()
    placement = placement_of(plan)
    lowered = list(lower(graph) if lowered is None else lowered)
    if sorted(placement.order) != list(range(graph.num_operators)):
        raise ModelError("the plan's operator order is not a permutation of the operators",
                         model=graph.name, order=str(placement.order))
    key = _fingerprint(graph, placement, lowered)
    out = cache_dir() / "model" / key
    writer = _Writer(graph, placement, lowered)
    for i in placement.order:
        writer.add_op(i)
    cached = all((out / f).is_file() for f in ("model.c", "model.h", "model_data.c",
                                                 "model_data.h"))
    if not cached:
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        for fname, text in writer.files().items():
            (tmp / fname).write_text(text)
        try:
            tmp.rename(out)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    if directory is not None:
        dest = Path(directory)
        dest.mkdir(parents=True, exist_ok=True)
        for fname in ("model.c", "model.h", "model_data.c", "model_data.h"):
            shutil.copyfile(out / fname, dest / fname)
    return GeneratedModel(graph.name, out, (out / "model.c", out / "model_data.c"), key,
                          cached, placement, tuple(writer.ops))


def data_region_for(board: Board, static_bytes: int) -> str:
    """The RAM region for ``.data``/``.bss``/stack: the layout's, or the largest RAM region
    when ``static_bytes`` plus the layout's stack and heap do not fit the layout's."""
    layout = board.layout
    need = static_bytes + layout.stack_bytes + layout.heap_bytes + 1024
    default = board.region(layout.data)
    if need <= default.size:
        return default.name
    rams = [r for r in board.regions if r.kind == "ram" and not r.alias_of]
    return max(rams, key=lambda r: r.size).name


def build_model(gen: GeneratedModel, board: Board | str, *,
                data_region: str | None = None) -> BuildResult:
    """Link the generated runner with the ``s8`` kernels for ``board`` (cached).

    Raises
    ------
    ImageTooLargeError
        The image does not fit a region (names the region and the overflow).
    """
    board = get_board(board)
    region = data_region or data_region_for(board, gen.arena_bytes)
    families = ["s8"] + (["packed"] if any(o.kernel.endswith("_lb") for o in gen.ops) else [])
    sources = [src for fam in families for src in family_sources(fam)]
    return build_firmware([*gen.sources, *sources], board,
                          extra_cflags=STACK_FLAGS, data_region=region)
