"""Packaging glue that pyproject.toml cannot express alone.

* The firmware sources (``firmware/``) and the board/core profiles (``profiles/``) stay at
  the repository's top level but ship inside the wheel as ``mcusim/_firmware`` and
  ``mcusim/_profiles`` (found at run time by :func:`mcusim._paths.data_dir`).
* The native hooks (``mcusim/_native_hooks.c``) are compiled into the wheel as a plain
  shared library, ``mcusim/_native_hooks.so``, with the key of the source and layout it was
  built from (``_native_hooks.key``), so an installed wheel needs no host compiler;
  :mod:`mcusim.native` falls back to building it in the cache when it is absent or stale
  (editable checkouts).  The wheel is therefore tagged for this platform.

Everything else is in ``pyproject.toml``.
"""

import importlib.util
import os
import shutil
from pathlib import Path

from setuptools import Distribution, find_packages, setup
from setuptools.command.build_py import build_py

DATA_PACKAGES = {"mcusim._firmware": "firmware", "mcusim._profiles": "profiles"}
HERE = Path(__file__).resolve().parent


def _native_build():
    """``mcusim/_native_build.py``, loaded by path (mcusim's dependencies need not exist)."""
    spec = importlib.util.spec_from_file_location("_mcusim_native_build",
                                                  HERE / "mcusim" / "_native_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithHooks(build_py):
    """``build_py`` that also compiles the native hooks into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return                      # a checkout builds them in the cache on first use
        nb = _native_build()
        cc = next((p for p in (shutil.which(n) for n in (os.environ.get("CC") or "cc", "gcc",
                                                           "clang")) if p), None)
        if cc is None:
            raise SystemExit("building mcusim's wheel needs a host C compiler for the native "
                             "hooks (set $CC)")
        out = Path(self.build_lib) / "mcusim"
        out.mkdir(parents=True, exist_ok=True)
        result = nb.compile_hooks(cc, out / nb.PREBUILT)
        if result.returncode != 0:
            raise SystemExit(f"compiling mcusim's native hooks failed:\n{result.stderr}")
        (out / nb.PREBUILT_KEY).write_text(nb.source_key() + "\n")


class BinaryDistribution(Distribution):
    """The wheel carries a compiled library: tag it for the platform, not ``any``."""

    def has_ext_modules(self) -> bool:
        return True


setup(
    packages=find_packages(include=["mcusim", "mcusim.*"]) + sorted(DATA_PACKAGES),
    package_dir=DATA_PACKAGES,
    cmdclass={"build_py": BuildPyWithHooks},
    distclass=BinaryDistribution,
)
