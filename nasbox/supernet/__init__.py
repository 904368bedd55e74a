"""A weight-sharing supernet: train once, then score many subnets with inherited weights.

:mod:`~nasbox.supernet.elastic` says which choices of a space share weights, :mod:`~nasbox.supernet.weights`
holds them and hands each subnet its slices; :mod:`~nasbox.supernet.oneshot` is the one-shot supernet of a cell
space (every edge holds every op, a subnet is a path); :mod:`~nasbox.supernet.train` trains either (the sandwich
rule and in-place distillation, or uniform or fair paths; ``nasbox supernet train``) and
:mod:`~nasbox.supernet.checkpoint` loads a trained one (or starts another from it, ``--init``); the ``supernet`` evaluator
(:mod:`nasbox.evaluate.supernet`) scores a search's candidates with them.
"""

from nasbox.supernet.checkpoint import load_supernet
from nasbox.supernet.elastic import ELASTIC_KINDS, ElasticSpace
from nasbox.supernet.oneshot import CellSupernet, OneShotSpace
from nasbox.supernet.weights import SubnetMismatch, Supernet, recalibrate

__all__ = ["ELASTIC_KINDS", "CellSupernet", "ElasticSpace", "OneShotSpace", "SubnetMismatch", "Supernet", "load_supernet",
           "recalibrate"]
