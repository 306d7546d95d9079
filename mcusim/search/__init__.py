"""Searches over models: bit-width search (:mod:`mcusim.search.quant`)."""
