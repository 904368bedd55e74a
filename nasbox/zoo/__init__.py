"""The classic networks (AlexNet ... EfficientNet-B0) as genotypes, their scores as plain data, their costs.

- :mod:`~nasbox.zoo.genotypes`: each classic network written in nasbox's genotype language (no torch);
- :mod:`~nasbox.zoo.scores`: a network's score and the cache ``nasbox zoo`` keeps (plain data, no torch);
- :mod:`~nasbox.zoo.costs`: their analytic MACs and parameters at a study's input (no torch);
- :mod:`~nasbox.zoo.latency`: their batch-1 latency, measured once per device and input;
- :mod:`~nasbox.zoo.score`: scoring them with a study's brief training (``nasbox zoo --study``).

The report reads the first three only: it imports no training code (an import-linter contract).
"""

from __future__ import annotations

from nasbox.zoo.genotypes import ZOO_NAMES, get_zoo, list_zoo

__all__ = ["ZOO_NAMES", "get_zoo", "list_zoo"]
