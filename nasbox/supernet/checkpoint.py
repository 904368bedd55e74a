"""A trained supernet's checkpoint: loading it (for the ``supernet`` evaluator and ``--init``), and starting a
new supernet from its weights (``nasbox supernet train --init``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from nasbox.errors import ConfigError
from nasbox.spaces import get_space, list_spaces
from nasbox.supernet.elastic import ElasticSpace
from nasbox.supernet.oneshot import CellSupernet, OneShotSpace
from nasbox.supernet.weights import SubnetMismatch, Supernet
from nasbox.train.checkpoint import CHECKPOINT_NAME, Checkpoint, CheckpointError, load_checkpoint

if TYPE_CHECKING:
    from nasbox.supernet.train import SupernetConfig

__all__ = ["ONE_SHOT_SAMPLING", "SUPERNET_SOURCE", "check_init", "init_folder", "load_supernet", "warm_start"]

SUPERNET_SOURCE = "supernet"
#: how the paths of a one-shot supernet's step are drawn
ONE_SHOT_SAMPLING = ("uniform", "fair")


def init_folder(init: str) -> str:
    """``init`` as an absolute path, the folder where it names a supernet's ``checkpoint.pt``: what a resumed run
    compares, however the path was written."""
    path = Path(init).expanduser().resolve()
    return str(path.parent if path.name == CHECKPOINT_NAME and path.is_file() else path)


def check_init(config: SupernetConfig, input_shape: tuple[int, ...], num_classes: int) -> None:
    """Refuse a ``config.init`` that is no supernet of ``config``'s space, bounds, kind and data shape, or a split
    one (its sub-supernets have no one-shot weights to start from).

    Raises:
        CheckpointError: one line that says what differs.
    """
    _, ck = load_supernet(config.init)
    kind = {True: "one-shot", False: "elastic"}
    theirs = {"space": ck.config.get("space"), "bounds": ck.config.get("space_bounds"),
              "input shape": tuple(ck.arch.input_shape), "classes": ck.arch.num_classes,
              "kind": kind[ck.config.get("sampling") in ONE_SHOT_SAMPLING], "affine BatchNorm": ck.config.get("affine_bn")}
    mine = {"space": config.space, "bounds": config.space_bounds, "input shape": tuple(input_shape),
            "classes": num_classes, "kind": kind[config.sampling in ONE_SHOT_SAMPLING], "affine BatchNorm": config.affine_bn}
    diff = [_differs(key, theirs[key], mine[key]) for key in mine if theirs[key] != mine[key]]
    if diff:
        raise CheckpointError(f"--init {config.init} is a supernet of another {'; '.join(diff)}")
    if ck.config.get("split"):
        raise CheckpointError(f"--init {config.init} is a few-shot supernet (split on {ck.config['split']}); start "
                              "from an unsplit one")


def _differs(key: str, theirs: object, mine: object) -> str:
    """What differs of one setting; of the space's bounds (JSON objects), only the bounds that differ."""
    if key == "bounds" and isinstance(theirs, str) and isinstance(mine, str):
        a, b = json.loads(theirs), json.loads(mine)
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        return f"bounds {', '.join(f'{k}={a.get(k)!r} (here {b.get(k)!r})' for k in keys)}"
    return f"{key} {theirs} (here {mine})"


def warm_start(supernet: Supernet | CellSupernet, init: str) -> None:
    """Load the weights of the trained supernet ``init`` (nothing if empty; :func:`check_init` checked it) into
    ``supernet``: to train it longer with a schedule of its own, or to split it into few-shot sub-supernets that
    fine-tune its weights (Zhao et al., 2021), as Once-for-All's phases each start from the last.

    Raises:
        CheckpointError: ``init`` is no supernet, or one whose network is not ``supernet``'s.
    """
    if not init:
        return
    source, _ = load_supernet(init)
    try:
        if isinstance(supernet, CellSupernet) and isinstance(source, CellSupernet):
            supernet.load_unsplit(source.net)
        elif isinstance(supernet, Supernet) and isinstance(source, Supernet) and source.net.arch == supernet.net.arch:
            supernet.net.load_state_dict(source.net.state_dict())
        else:
            raise SubnetMismatch(f"{source.net.arch.arch_id} is a supernet of another space, bounds or data shape")
    except SubnetMismatch as exc:
        raise CheckpointError(f"--init {init}: {exc}") from None


def load_supernet(path: str | Path) -> tuple[Supernet | CellSupernet, Checkpoint]:
    """A trained supernet and its checkpoint (``weights_only``, checked like every nasbox checkpoint).

    Raises:
        CheckpointError: not a supernet's checkpoint, or its space cannot be loaded any more.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    list_spaces()  # the built-in spaces' block kinds (a one-shot supernet's mixed cells) are known
    ck = load_checkpoint(path)
    if not (ck.source or "").startswith(SUPERNET_SOURCE) or "space_bounds" not in ck.config:
        raise CheckpointError(f"{path} is a candidate's checkpoint, not a supernet's (see 'nasbox supernet train')")
    try:
        space = get_space(ck.config["space"], input_shape=ck.arch.input_shape, num_classes=ck.arch.num_classes,
                          args=json.loads(ck.config["space_bounds"]))
        if ck.config.get("sampling") in ONE_SHOT_SAMPLING:
            shared = OneShotSpace(space, affine=ck.config["affine_bn"], split=ck.config.get("split"))
            supernet: Supernet | CellSupernet = CellSupernet(shared, net=ck.model)
            if shared.split and ck.epoch >= ck.config.get("split_epoch", 0):
                supernet.unmerge(copy=False)  # its weights were split before they were saved
        else:
            supernet = Supernet(ElasticSpace(space), net=ck.model)
    except (ConfigError, ValueError) as exc:
        raise CheckpointError(f"{path}: its space {ck.config['space']!r} cannot be rebuilt: {exc}") from None
    return supernet.eval(), ck
