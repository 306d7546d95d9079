"""Latency lookup tables: configuration tables, sampling spaces, sweeps and their cache.

See :mod:`mcusim.lut.table` (columns, validation, CSV/Parquet), :mod:`mcusim.lut.spaces`
(built-in spaces), :mod:`mcusim.lut.sweep` (the sweep and its executors),
:mod:`mcusim.lut.cache` (the disk cache) and :mod:`mcusim.lut.runners` (one configuration
on a machine).
"""
