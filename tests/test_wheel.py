"""A non-editable install works from any directory: the wheel carries firmware and profiles.

The wheel is built from this checkout without build isolation and installed without
dependencies into a fresh virtual environment; that environment reaches the dependencies
(numpy, unicorn, ...) through a ``.pth`` file naming the running interpreter's
site-packages, so the test needs no network.  Every command runs from a temporary directory
with ``PYTHONPATH`` removed, so nothing can come from the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from mcusim.build import find_gcc

ROOT = Path(__file__).resolve().parent.parent
KERNEL = """\
float my_axpy(float a, const float *x, float *y, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) { y[i] += a * x[i]; s += y[i]; }
    return s;
}
"""


def _sh(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{cmd}\n{out.stdout}\n{out.stderr}"
    assert "Traceback" not in out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    find_gcc()
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"     # build from a copy, so no build/ or egg-info lands in the checkout
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "out", "*.egg-info", "__pycache__", ".pytest_cache",
        "notebooks", "tests", "benchmarks"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["MCUSIM_CACHE_DIR"] = str(tmp / "cache")
    _sh([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp / "dist"), str(src)], tmp, env)
    wheel = next((tmp / "dist").glob("mcusim-*.whl"))
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(_sh([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    tmp, env).strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_mcusim_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    _sh([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], tmp, env)
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    work = tmp / "work"
    work.mkdir()
    return work, env


def test_installed_package_is_not_the_checkout(installed):
    work, env = installed
    where = _sh(["python", "-c", "import mcusim; print(mcusim.__file__)"], work, env)
    assert "site-packages" in where and not where.startswith(str(ROOT))


def test_boards_build_run_profile_from_a_temporary_directory(installed):
    work, env = installed
    listing = _sh(["mcusim", "boards"], work, env)
    for name in ("stm32f469i", "stm32f746zg", "stm32f407-16mhz"):
        assert name in listing
    (work / "axpy.c").write_text(KERNEL)
    _sh(["mcusim", "build", "axpy.c", "--board", "stm32f746zg", "-o", "axpy.elf"], work, env)
    assert (work / "axpy.elf").stat().st_size > 0
    call = ["--call", "my_axpy", "2.0", "buf:float32:1,2,3", "buf:float32:10,20,30", "3"]
    out = json.loads(_sh(["mcusim", "run", "axpy.elf", "--board", "stm32f746zg", *call, "--json"],
                         work, env))
    assert out["stop_reason"] == "return"
    assert out["buffers"]["buf:float32:10,20,30"] == [12.0, 24.0, 36.0]
    # a user's own profile, copied out of the installed package and edited
    board_toml = Path(_sh(["python", "-c", "from mcusim.boards import BOARDS_DIR; "
                                           "print(BOARDS_DIR / 'stm32f469i.toml')"], work, env).strip())
    assert "site-packages" in str(board_toml)
    mine = work / "my_board.toml"
    mine.write_text(board_toml.read_text().replace('name = "stm32f469i"', 'name = "my-board"'))
    prof = json.loads(_sh(["mcusim", "profile", "axpy.c", "--board", str(mine), *call, "--json"],
                          work, env))
    assert prof["board"] == "my-board" and prof["cycles"] > prof["instructions"] > 0


def test_installed_wheel_loads_its_prebuilt_hooks_without_a_compiler(installed, tmp_path):
    work, env = installed
    (work / "axpy.c").write_text(KERNEL)
    _sh(["mcusim", "build", "axpy.c", "--board", "stm32f469i", "-o", "pre.elf"], work, env)
    # no compiler reachable and an empty cache: only the wheel's own library can serve
    bare = {**env, "CC": str(tmp_path / "no-such-cc"), "MCUSIM_CACHE_DIR": str(tmp_path / "c"),
            "PATH": str(Path(env["PATH"].split(os.pathsep)[0]))}
    assert shutil.which("gcc", path=bare["PATH"]) is None
    assert shutil.which("cc", path=bare["PATH"]) is None
    lib = _sh(["python", "-c", "from mcusim.native import hook_library, prebuilt_library; "
                               "print(hook_library()); assert prebuilt_library()"], work, bare)
    assert "site-packages" in lib and lib.strip().endswith("_native_hooks.so")
    prof = json.loads(_sh(["mcusim", "profile", "pre.elf", "--board", "stm32f469i", "--call",
                           "my_axpy", "2.0", "buf:float32:1,2,3", "buf:float32:10,20,30", "3",
                           "--json"], work, bare))
    assert prof["cycles"] > prof["instructions"] > 0
    assert not (tmp_path / "c" / "native").exists()       # nothing was compiled
