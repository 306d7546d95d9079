"""Neural-network kernel families run under emulation: ``s8`` (CMSIS-NN-style int8),
``packed`` (LiteEngine-style low-bit) and ``trec`` (computation-reuse convolution).

Each family lives in its own module and registers itself in :mod:`mcusim.kernels.registry`.
"""
