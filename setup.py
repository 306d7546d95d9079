"""Packaging glue that pyproject.toml cannot express alone.

The firmware sources (``firmware/``) and the board/core profiles (``profiles/``) stay at the
repository's top level but ship inside the wheel as ``mcusim/_firmware`` and
``mcusim/_profiles`` (found at run time by :func:`mcusim._paths.data_dir`).  Everything else is
in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

DATA_PACKAGES = {"mcusim._firmware": "firmware", "mcusim._profiles": "profiles"}

setup(
    packages=find_packages(include=["mcusim", "mcusim.*"]) + sorted(DATA_PACKAGES),
    package_dir=DATA_PACKAGES,
)
