"""Tests of nasbox.train.checkpoint: plain data loaded with weights_only; tampered or foreign files refused."""

from __future__ import annotations

import pytest
import torch

import nasbox.train.full
from nasbox.train.checkpoint import CheckpointError, genotype_json, load_checkpoint
from tests.train.support import _Evil, _plain, _plain_save, _rewrite


def test_a_checkpoint_is_plain_data_and_round_trips_with_weights_only(reference, candidate):
    result, weights, _, _ = reference
    raw = torch.load(result.checkpoint, map_location="cpu", weights_only=True)
    assert _plain(raw) and raw["genotype"] == genotype_json(candidate)
    assert raw["genotype_sha256"].startswith(candidate.arch_id)
    ck = load_checkpoint(result.checkpoint)
    assert ck.arch == candidate and ck.finished and ck.epoch == 2 and ck.command == result.command
    x = torch.randn(2, *candidate.input_shape)
    model = nasbox.build_model(candidate)
    model.load_state_dict(weights)
    with torch.inference_mode():
        assert torch.equal(ck.model(x), model.eval()(x))


def test_tampered_or_foreign_checkpoints_are_refused_never_executed(reference, candidate, tmp_path):
    result, _, _, _ = reference
    src = result.checkpoint
    edited = genotype_json(candidate).replace('"out_channels":8', '"out_channels":16', 1)
    assert edited != genotype_json(candidate)
    with pytest.raises(CheckpointError, match="tampered with"):
        load_checkpoint(_rewrite(src, tmp_path / "a.pt", genotype=edited))
    import hashlib

    forged = _rewrite(src, tmp_path / "b.pt", genotype=edited, genotype_sha256=hashlib.sha256(edited.encode()).hexdigest())
    with pytest.raises(CheckpointError, match="weights do not match the genotype"):
        load_checkpoint(forged)
    with pytest.raises(CheckpointError, match="bad field"):
        load_checkpoint(_rewrite(src, tmp_path / "c.pt", epoch="2"))
    marker = tmp_path / "pwned"
    torch.save({"format": "nasbox-checkpoint", "payload": _Evil(marker)}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="not a nasbox checkpoint"):
        load_checkpoint(_plain_save(tmp_path / "plain.pt"))
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "none.pt")
