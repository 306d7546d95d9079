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
