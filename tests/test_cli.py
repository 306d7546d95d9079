"""The command line: help texts, boards, build, run (--json), clear errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mcusim.build import FIRMWARE_DIR
from mcusim.cli import build_parser, main


def mcusim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mcusim.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_every_subcommand_has_help_with_an_example(capsys):
    parser = build_parser()
    subs = parser._subparsers._group_actions[0].choices
    assert {"boards", "build", "run", "kernels", "demo"} <= set(subs)
    for name, sub in subs.items():
        text = sub.format_help()
        assert "example" in text, name
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings} has no help"


@pytest.mark.parametrize("argv", [
    ["profile", "fw.elf", "-b", "stm32f469i", "-b", "x.toml", "--call", "f", "buf:int8:1,2",
     "3", "--top", "4", "--json", "--budget", "none", "--timeout", "2.5"],
    ["run", "fw.elf", "--board", "stm32f746zg", "--check-reads", "--region", "dtcm"],
    ["build", "a.c", "b.S", "-b", "stm32f469i", "-o", "out.elf"],
    ["boards", "--json"],
    ["kernels", "bench", "--board", "stm32f469i", "--family", "s8", "--json"],
])
def test_a_parser_of_one_command_parses_as_the_full_parser(argv):
    full, one = build_parser().parse_args(argv), build_parser(argv[0]).parse_args(argv)
    assert vars(one) == vars(full)
    sub = build_parser(argv[0])._subparsers._group_actions[0].choices
    assert list(sub) == [argv[0]]


def test_version_needs_no_subcommand(capsys):
    assert build_parser("")._subparsers._group_actions[0].choices == {}
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.startswith("mcusim ")


def test_light_commands_start_no_blas_threads_and_restore_the_collector():
    import gc
    import os

    probe = ("import gc, os, sys, mcusim.cli\n"
             "code = mcusim.cli.main(sys.argv[1:])\n"
             "print(os.environ.get('OPENBLAS_NUM_THREADS'), gc.isenabled(), code)")

    def after(argv: list[str], **env: str) -> list[str]:
        base = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
        out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True,
                             text=True, check=True, env={**base, **env}).stdout
        return out.splitlines()[-1].split()

    assert after(["boards", "--json"]) == ["1", "True", "0"]
    assert after(["boards", "--json"], OPENBLAS_NUM_THREADS="2") == ["2", "True", "0"]
    assert main(["boards", "--json"]) == 0 and gc.isenabled()     # in process: restored


def test_boards_lists_builtins(capsys):
    assert main(["boards", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["board"] for r in rows} >= {"stm32f469i", "stm32f746zg", "stm32f407-16mhz"}


def test_build_prints_sections_and_regions(tmp_path, capsys):
    out = tmp_path / "dot.elf"
    assert main(["build", str(FIRMWARE_DIR / "basic" / "mcu_dot_s8.c"), "--board",
                 "stm32f746zg", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.exists() and ".text" in text and "dtcm" in text


@pytest.mark.parametrize("board", ["stm32f469i", "stm32f746zg"])
def test_run_call_json(tmp_path, capsys, board):
    elf = tmp_path / "basic.elf"
    sources = [str(p) for p in sorted((FIRMWARE_DIR / "basic").glob("*.c"))]
    assert main(["build", *sources, "-b", board, "-o", str(elf)]) == 0
    capsys.readouterr()
    assert main(["run", str(elf), "-b", board, "--call", "mcu_dot_s8", "buf:int8:1,-2,3",
                 "buf:int8:4,5,-6", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["return_value"] == 4 - 10 - 18
    assert out["stop_reason"] == "return" and out["instructions"] > 0
    assert main(["run", str(elf), "-b", board, "--call", "mcu_scale_f32", "buf:float32:1,2",
                 "2", "3.0", "0.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["buffers"]["buf:float32:1,2"] == [3.5, 6.5]
    assert main(["run", str(elf), "-b", board]) == 0
    assert "exit" in capsys.readouterr().out


def test_errors_are_one_line_without_traceback(tmp_path):
    junk = tmp_path / "junk.elf"
    junk.write_bytes(b"no elf here")
    proc = mcusim("run", str(junk), "--board", "stm32f469i")
    assert proc.returncode == 1
    assert "not an ELF" in proc.stderr and "Traceback" not in proc.stderr
    bad = tmp_path / "b.toml"
    bad.write_text("name = 'x'\ncore = 'cortex-m4'\n")
    proc = mcusim("run", str(junk), "--board", str(bad))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "b.toml" in proc.stderr and "clock_hz" in proc.stderr


def test_fault_from_cli_names_function_and_line(tmp_path):
    from tests.conftest import TESTS_DIR
    elf = tmp_path / "faults.elf"
    assert main(["build", str(TESTS_DIR / "firmware" / "faults.c"), "-b", "stm32f469i",
                 "-o", str(elf)]) == 0
    proc = mcusim("run", str(elf), "-b", "stm32f469i", "--call", "read_unmapped")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "read_unmapped" in proc.stderr and "faults.c:" in proc.stderr
    assert "0x60000000" in proc.stderr
    proc = mcusim("run", str(elf), "-b", "stm32f469i", "--call", "spin", "--budget", "10000")
    assert proc.returncode == 1 and "budget" in proc.stderr


def test_profile_several_boards_one_column_each(tmp_path, capsys):
    src = str(FIRMWARE_DIR / "basic" / "mcu_dot_s8.c")
    call = ["--call", "mcu_dot_s8", "buf:int8:1,2,3", "buf:int8:4,5,6", "3"]
    boards = ["-b", "stm32f469i", "-b", "stm32f746zg", "-b", "stm32f407-16mhz"]
    assert main(["profile", src, *boards, *call, "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["boards"] == ["stm32f469i", "stm32f746zg", "stm32f407-16mhz"]
    rows = {r["metric"]: r for r in obj["table"]}
    assert rows["core"]["stm32f746zg"] == "cortex-m7" and rows["core"]["stm32f469i"] == "cortex-m4"
    assert rows["return_value"] == {"metric": "return_value", **{b: 32 for b in obj["boards"]}}
    for b in obj["boards"]:
        assert rows["cycles"][b] == obj["by_board"][b]["cycles"] > 0
    assert main(["profile", src, *boards, *call, "--callgrind", str(tmp_path / "p.cg")]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["p.stm32f407-16mhz.cg", "p.stm32f469i.cg", "p.stm32f746zg.cg"]
    assert header == ["metric", "stm32f469i", "stm32f746zg", "stm32f407-16mhz"]


def test_run_several_boards_and_build_refuses_two(tmp_path, capsys):
    elf = tmp_path / "dot.elf"
    src = str(FIRMWARE_DIR / "basic" / "mcu_dot_s8.c")
    assert main(["build", src, "-b", "stm32f469i", "-o", str(elf)]) == 0
    capsys.readouterr()
    assert main(["run", str(elf), "-b", "stm32f469i", "-b", "stm32f407-16mhz", "--call",
                 "mcu_dot_s8", "buf:int8:1,2", "buf:int8:3,4", "2", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert set(obj["by_board"]) == {"stm32f469i", "stm32f407-16mhz"}
    assert {r["metric"]: r for r in obj["table"]}["return_value"]["stm32f407-16mhz"] == 11
    with pytest.raises(SystemExit):
        main(["build", src, "-b", "stm32f469i", "-b", "stm32f746zg", "-o", str(elf)])
    assert "more than once" in capsys.readouterr().err


def test_m7_elf_on_m4_board_is_a_clear_error(tmp_path, capsys):
    elf = tmp_path / "m7.elf"
    assert main(["build", str(FIRMWARE_DIR / "basic" / "mcu_dot_s8.c"), "-b", "stm32f746zg",
                 "-o", str(elf)]) == 0
    capsys.readouterr()
    assert main(["profile", str(elf), "-b", "stm32f469i", "--call", "mcu_dot_s8", "0", "0",
                 "0"]) == 1
    err = capsys.readouterr().err
    assert "built for the cortex-m7" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["run", "profile"])
def test_check_reads_names_pc_function_and_line(basic_elf, board, capsys, command):
    call = ["--call", "mcu_dot_s8", "buf:int8:1,2,3", "buf:int8:4,5,6", "4"]
    assert main([command, str(basic_elf), "-b", board.name, *call]) == 0   # silently reads fill
    capsys.readouterr()
    assert main([command, str(basic_elf), "-b", board.name, *call, "--check-reads"]) == 1
    err = capsys.readouterr().err
    assert "past the end of buffer 'buf:int8:1,2,3'" in err
    assert "pc=0x" in err and "function=mcu_dot_s8" in err and "line=mcu_dot_s8.c:" in err


# -- bad command lines end in one mcusim error line (issue 15, item 11) --------------------

@pytest.fixture(scope="module")
def dot_elf(tmp_path_factory):
    from mcusim.build import build_firmware

    return str(build_firmware(sorted((FIRMWARE_DIR / "basic").glob("*.c")), "stm32f469i").elf)


def _fails_cleanly(capsys, argv: list[str], *, code: int = 1) -> str:
    try:
        status = main(argv)
    except SystemExit as exc:   # argparse rejects a malformed option value
        status = exc.code
    err = capsys.readouterr().err
    assert status == code, err
    assert "Traceback" not in err and err.strip()
    return err


@pytest.mark.parametrize("arg", [
    "buf:int8:300", "buf:uint8:-1", "buf:int16:70000", "buf:float32:1e39",
    "buf:datetime64:1", "buf:object:1", "buf:V8:1", "buf:U4:1", "buf:complex64:1",
    "zeros:V8:4", "zeros:object:3", "zeros:int8:99999999999", "zeros:int8:-1",
    "zeros:int8:1.5", "buf::1", "buf:int8:@/nonexistent.npy", "buf:int8:@/dev/zero",
])
def test_bad_buffer_arguments(capsys, dot_elf, arg):
    err = _fails_cleanly(capsys, ["run", dot_elf, "-b", "stm32f469i", "--call", "mcu_dot_s8",
                                  arg, arg, "1"])
    assert "mcusim: error" in err


@pytest.mark.parametrize("option", [["--budget", "-1"], ["--budget", "0"], ["--budget", "x"],
                                    ["--timeout", "-1"], ["--timeout", "nan"]])
def test_bad_limits_are_rejected(capsys, dot_elf, option):
    _fails_cleanly(capsys, ["run", dot_elf, "-b", "stm32f469i", *option], code=2)


def test_timeout_option_stops_a_runaway_loop(capsys, tmp_path):
    from tests.conftest import TESTS_DIR

    elf = tmp_path / "faults.elf"
    assert main(["build", str(TESTS_DIR / "firmware" / "faults.c"), "-b", "stm32f469i",
                 "-o", str(elf)]) == 0
    err = _fails_cleanly(capsys, ["run", str(elf), "-b", "stm32f469i", "--call", "spin",
                                  "--budget", "none", "--timeout", "0.3"])
    assert "wall-clock" in err


@pytest.mark.parametrize("option, target", [
    ("--plot", "dir"), ("--plot", "missing/x.png"), ("--plot", "chart.xyz"),
    ("--callgrind", "dir"), ("--callgrind", "missing/x.cg"), ("--csv", "dir"),
])
def test_bad_output_paths_of_profile(capsys, tmp_path, dot_elf, option, target):
    (tmp_path / "dir").mkdir()
    err = _fails_cleanly(capsys, ["profile", dot_elf, "-b", "stm32f469i", "--call",
                                  "mcu_dot_s8", "buf:int8:1", "buf:int8:2", "1", option,
                                  str(tmp_path / target)])
    assert str(tmp_path / target) in err


def test_build_into_a_directory(capsys, tmp_path):
    _fails_cleanly(capsys, ["build", str(FIRMWARE_DIR / "basic" / "mcu_dot_s8.c"), "-b",
                            "stm32f469i", "-o", str(tmp_path)])


def test_kernels_bench_unknown_layer(capsys):
    err = _fails_cleanly(capsys, ["kernels", "bench", "-b", "stm32f469i", "--layer", "nope"])
    assert "nope" in err and "cifarnet" in err
