"""μNAS-style constrained architecture search priced by the simulator.

Modules: :mod:`.space` (search space and morphisms), :mod:`.graphs` (untrained graph of an
architecture), :mod:`.data` (data sets), :mod:`.train` (Keras training and TFLite int8
conversion; the ``search`` extra), :mod:`.pricing` (latency models, peak SRAM, Flash), :mod:`.simulate` (latency by emulating
every layer),
:mod:`.evaluate` (one candidate -> one row), :mod:`.fitness` (μNAS's fitness, Pareto
fronts), :mod:`.evolution` (aging evolution, random search), :mod:`.executors` (in process,
local processes, Dask), :mod:`.study` (trials, checkpoint, results), :mod:`.validate`
(front models run on the board), :mod:`.compare` (MACs vs simulated latency), :mod:`.run`
(the whole search, for the command line and the benchmark).
"""

from mcusim.search.nas.evaluate import Evaluator
from mcusim.search.nas.evolution import AgingEvolution, RandomSearch
from mcusim.search.nas.fitness import fitness, pareto_mask
from mcusim.search.nas.pricing import LatencyModel, MacsLatency, PredictorLatency
from mcusim.search.nas.simulate import SimulatedLatency
from mcusim.search.nas.space import Architecture, ConvBlock, ConvLayer, SearchSpace
from mcusim.search.nas.study import Bounds, Study

__all__ = [
    "AgingEvolution", "Architecture", "Bounds", "ConvBlock", "ConvLayer", "Evaluator",
    "LatencyModel", "MacsLatency", "PredictorLatency", "RandomSearch", "SearchSpace", "SimulatedLatency",
    "Study",
    "fitness", "pareto_mask",
]
