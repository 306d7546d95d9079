"""``mcusim model``: whole models on the emulated board (list, inspect, plan, run, fit).

Examples
--------
``mcusim model list``
``mcusim model fit cifarnet --board stm32f469i --board stm32f746zg``
``mcusim model fit model.tflite -b stm32f746zg --json --csv layers.csv --plot memory.png``
``mcusim model run kws.tflite -b stm32f469i --input x.npy --output y.npy``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcusim.commands._common import add_board, format_table, print_json
from mcusim.errors import ModelError

if TYPE_CHECKING:   # numpy is imported where inputs and outputs are read, not at start-up
    import numpy as np

__all__ = ["load", "register", "run"]

EXIT_DOES_NOT_FIT = 3

EXAMPLES = """\
examples:
  mcusim model list
  mcusim model inspect cifarnet
  mcusim model plan cifarnet --board stm32f469i --planner greedy --plot memory.png
  mcusim model fit cifarnet --board stm32f469i --board stm32f746zg
  mcusim model fit ../shared/models/kws_ref_model.tflite -b stm32f746zg --json
  mcusim model fit model.tflite -b stm32f469i --csv layers.csv --plot memory.png
  mcusim model run model.tflite -b stm32f469i --input x.npy --output y.npy

MODEL is a built-in name (see 'mcusim model list') or the path of an int8 .tflite file.
'fit' exits with status 3 when the model does not fit (on any of the boards), 1 on an error."""


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``model`` subcommand (and its actions) to ``sub``."""
    p = sub.add_parser(
        "model", help="whole models: inspect, plan, run one inference, fit report",
        description="Whole int8 models on the emulated board: the graph, its memory plan, a "
                    "generated C runner built for the board and one inference with every "
                    "byte and cycle measured (Flash, SRAM per region, arena, stack, cycles "
                    "per operator), and the FITS / DOES NOT FIT verdict.\n\n" + EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    lst = actions.add_parser("list", help="built-in models",
                             description="List the built-in models.\n\n" + EXAMPLES,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=run)
    helps = {
        "inspect": "operators, shapes, MACs, weights of a model (no board needed)",
        "plan": "the memory plan of a model (arena, offsets) for a board",
        "run": "one inference on the board: outputs, cycles, memory",
        "fit": "the fit report: per-operator table, Flash/SRAM totals, verdict",
    }
    for name, text in helps.items():
        a = actions.add_parser(name, help=text, description=text + ".\n\n" + EXAMPLES,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        a.add_argument("model", metavar="MODEL", help="built-in name or .tflite path")
        if name != "inspect":
            add_board(a, required=False, multiple=True)
            a.add_argument("--planner", metavar="NAME", default=None,
                           help="memory planner strategy (default: the planner's default)")
        a.add_argument("--json", action="store_true", help="print one JSON object")
        a.add_argument("--csv", metavar="FILE", help="write the per-operator table as CSV")
        if name in ("plan", "fit", "run"):
            a.add_argument("--plot", metavar="FILE.png",
                           help="save the memory plot (live bytes per operator)")
        if name in ("run", "fit"):
            a.add_argument("--invoke", action="store_true",
                           help="also time one mcusim_model_invoke() (a second inference) and "
                                "report the runner overhead over the operators' sum")
        if name == "run":
            a.add_argument("--input", metavar="X.npy",
                           help="int8 input (default: deterministic random)")
            a.add_argument("--output", metavar="Y.npy", help="save the (first) output")
        a.set_defaults(func=run)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    return p


# ----------------------------------------------------------------------------- helpers
def load(spec: str) -> Any:
    """A graph from a built-in name or a ``.tflite`` path (:func:`mcusim.model.load_model`)."""
    from mcusim.model import load_model

    return load_model(spec)


def _builtin_names() -> list[str]:
    from mcusim.model.zoo import list_models

    return list(list_models())


def _boards(args: argparse.Namespace) -> list[str]:
    from mcusim.kernels.bench import DEFAULT_BOARDS

    return list(args.board or DEFAULT_BOARDS)


def _load_input(path: str | None, graph: Any) -> Any:
    if path is None:
        return None
    import numpy as np

    from mcusim._files import check_regular

    check_regular(path, 1 << 30, ModelError, "input .npy file")
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ModelError(f"cannot read the input: {exc}", file=path) from None
    t = graph.tensors[graph.inputs[0]]
    if x.dtype != np.int8:
        raise ModelError(f"the input must be int8, not {x.dtype}", file=path, tensor=t.name)
    if x.size != t.num_elements:
        raise ModelError(f"the input has {x.size} elements, the model's {t.name} "
                         f"{t.shape} needs {t.num_elements}", file=path)
    return x.reshape(t.shape)


# ----------------------------------------------------------------------------- actions
def run(args: argparse.Namespace) -> int:
    """Execute ``mcusim model ACTION``; returns the exit status."""
    action = args.action
    if action == "list":
        names = _builtin_names()
        if args.json:
            print_json({"models": names})
        else:
            print("\n".join(names) if names else "(no built-in models in this build)")
        return 0
    graph = load(args.model)
    if action == "inspect":
        return _inspect(args, graph)
    if action == "plan":
        return _plan(args, graph)
    return _fit(args, graph)


def _inspect(args: argparse.Namespace, graph: Any) -> int:
    from mcusim.model.report import layer_table

    table = layer_table(graph).drop(columns=["cycles", "ms", "kernel"])
    if args.csv:
        table.to_csv(args.csv, index=False)
    if args.json:
        print_json({"model": graph.name, "source": graph.source,
                    "macs": graph.total_macs(), "weight_bytes": graph.weight_bytes(),
                    "layers": table.to_dict("records")})
        return 0
    print(f"model {graph.name} ({graph.source}): {graph.num_operators} operators, "
          f"{graph.total_macs():,} MACs, {graph.weight_bytes():,} B of weights")
    print(format_table(table.to_dict("records"), list(table.columns)))
    return 0


def _plan(args: argparse.Namespace, graph: Any) -> int:
    from mcusim.model.codegen import placement_of
    from mcusim.model.run import make_plan

    out: list[dict[str, Any]] = []
    plans: list[Any] = []
    for board in _boards(args):
        plan = make_plan(graph, board, args.planner)
        pl = placement_of(plan)
        rows = [{"tensor": graph.tensors[t].name, "offset": off,
                 "bytes": graph.tensors[t].nbytes} for t, off in pl.tensor_offsets.items()]
        rows += [{"tensor": f"scratch of {graph.operators[i].name}", "offset": o, "bytes": s}
                 for i, (o, s) in pl.scratch.items()]
        out.append({"board": board, "planner": pl.strategy, "arena_bytes": pl.arena_bytes,
                    "order": list(pl.order), "buffers": rows})
        plans.append(plan)
        if args.plot:
            _plot_plan(plan, graph, args.plot, board, len(_boards(args)) > 1)
    if args.csv:
        import pandas as pd

        pd.DataFrame([{"board": o["board"], **r} for o in out for r in o["buffers"]]) \
            .to_csv(args.csv, index=False)
    if args.json:
        print_json(out[0] if len(out) == 1 else out)
        return 0
    for o, plan in zip(out, plans):
        print(f"{graph.name} on {o['board']}: planner {o['planner']}, arena "
              f"{o['arena_bytes']:,} B")
        timeline = getattr(plan, "timeline", None)
        if callable(timeline):
            print(timeline())
        else:
            print(format_table(sorted(o["buffers"], key=lambda r: r["offset"]),
                               ["tensor", "offset", "bytes"]))
    return 0


def _plot_plan(plan: Any, graph: Any, path: str, board: str, several: bool) -> None:
    from mcusim.model.report import FitReport, layer_table
    from mcusim.boards import get_board
    from mcusim.model.codegen import placement_of

    target = Path(path)
    if several:
        target = target.with_name(f"{target.stem}_{get_board(board).name}{target.suffix}")
    rep = FitReport(graph.name, get_board(board), placement_of(plan).strategy, True, "",
                    placement_of(plan).arena_bytes, layer_table(graph), plan=plan, graph=graph)
    rep.plot(target)


def _fit(args: argparse.Namespace, graph: Any) -> int:
    from mcusim.model.report import fit, multi_board_text

    x = _load_input(getattr(args, "input", None), graph)
    boards = _boards(args)
    reports = [fit(graph, b, planner=args.planner, x=x, invoke=args.invoke) for b in boards]
    if args.csv:
        import pandas as pd

        frames = [r.frame().assign(board=r.board.name) for r in reports]
        pd.concat(frames, ignore_index=True).to_csv(args.csv, index=False)
    if args.plot:
        for r in reports:
            target = Path(args.plot)
            if len(reports) > 1:
                target = target.with_name(f"{target.stem}_{r.board.name}{target.suffix}")
            r.plot(target)
    if args.action == "run":
        first = reports[0]
        if first.run is None:
            print(first.text(), file=sys.stderr)
            return EXIT_DOES_NOT_FIT
        if args.output:
            import numpy as np

            np.save(args.output, first.run.outputs[0])
    if args.json:
        objs = [r.to_dict() for r in reports]
        if args.action == "run":
            for obj, r in zip(objs, reports):
                obj["outputs"] = [o.tolist() for o in r.run.outputs] if r.run else None
        print_json(objs[0] if len(objs) == 1 else objs)
    else:
        for r in reports:
            print(r.text())
            print()
        if len(reports) > 1:
            print(multi_board_text(reports))
    if args.action == "fit" and not all(r.fits for r in reports):
        return EXIT_DOES_NOT_FIT
    return 0
