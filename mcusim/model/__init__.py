"""Whole models: the graph, import/export of ``.tflite``, built-in models, memory plans,
generated firmware, one inference on the emulated board and the fit report."""
