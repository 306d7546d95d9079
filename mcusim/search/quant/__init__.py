"""RLQuant-style bit-width search priced by the packed kernels (see docs/quant_search.md)."""
