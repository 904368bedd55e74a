"""A weight-sharing supernet: train once, then score many subnets with inherited weights.

:mod:`~nasbox.supernet.elastic` says which choices of a space share weights, :mod:`~nasbox.supernet.weights`
holds them and hands each subnet its slices, :mod:`~nasbox.supernet.train` trains them with the sandwich rule
and in-place distillation (``nasbox supernet train``); the ``supernet`` evaluator
(:mod:`nasbox.evaluate.supernet`) scores a search's candidates with them.
"""

from nasbox.supernet.elastic import ELASTIC_KINDS, ElasticSpace
from nasbox.supernet.weights import SubnetMismatch, Supernet, recalibrate

__all__ = ["ELASTIC_KINDS", "ElasticSpace", "SubnetMismatch", "Supernet", "recalibrate"]
