"""Tests of nasbox.files: atomic replacement, and updates by concurrent writers that lose nothing.

The concurrent tests run their writers as separate processes, each updating the same file
many times with a fresh reader, so that without the lock one writer's read-merge-replace
would regularly drop the other's entries.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nasbox.files import atomic_write, update_file


def test_atomic_write_text_bytes_and_writer(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    assert atomic_write(path, "héllo") == path and path.read_text(encoding="utf-8") == "héllo"
    atomic_write(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    atomic_write(path, lambda p: p.write_text("by the writer"))
    assert path.read_text() == "by the writer"
    assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044  # readable by others, as a plain write would be
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.txt"]  # no temporary file left


def test_a_failing_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "keep.json"
    path.write_text('{"old": true}')

    def broken(p: Path) -> None:
        p.write_text('{"half')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_text() == '{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]


def test_update_file_merges_under_the_lock(tmp_path):
    path = tmp_path / "t.json"
    update_file(path, lambda old: json.dumps({**json.loads(old or "{}"), "a": 1}))
    update_file(path, lambda old: json.dumps({**json.loads(old or "{}"), "b": 2}))
    assert json.loads(path.read_text()) == {"a": 1, "b": 2}


WRITERS = 2
ENTRIES = 150


def run_writers(script: str, path: Path) -> None:
    """Start WRITERS processes of ``script`` (given ``path`` and its writer index) at once."""
    code = textwrap.dedent(script)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), str(i), str(ENTRIES)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(WRITERS)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]


def test_two_writers_of_one_json_file_keep_every_entry(tmp_path):
    path = tmp_path / "shared.json"
    run_writers("""
        import json, sys
        from nasbox.files import update_file
        path, me, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
        for i in range(n):
            update_file(path, lambda old: json.dumps({**json.loads(old or "{}"), f"w{me}-{i}": i}))
    """, path)
    assert len(json.loads(path.read_text())) == WRITERS * ENTRIES


def test_two_workers_filling_one_latency_table_keep_every_entry(tmp_path):
    from nasbox.measure.latency_table import LatencyTable

    path = tmp_path / "latency" / "cpu.json"
    run_writers("""
        import sys
        from pathlib import Path
        from nasbox.measure.latency_table import LatencyTable
        path, me, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
        for i in range(n):  # a fresh table each time: what a worker knows is only what it read
            table = LatencyTable(path, "cpu test", measure=lambda module, shape: 1.0)
            table.entries[f"unit w{me}-{i}"] = 1.0 + i
            table.calibration.append((float(i), float(me), 2.0))
            table.save()
    """, path)
    table = LatencyTable(path, "cpu test", measure=lambda module, shape: 1.0)
    assert len(table.entries) == WRITERS * ENTRIES
    assert all(table.entries[f"unit w{w}-{i}"] == 1.0 + i for w in range(WRITERS) for i in range(ENTRIES))
    assert len(table.calibration) == WRITERS * ENTRIES


def test_two_zoo_scorers_sharing_one_cache_keep_every_network(tmp_path):
    from nasbox.zoo.scores import ZooSettings, cache_path

    settings = ZooSettings(dataset="synthetic", device="cpu", iterations=2)
    run_writers("""
        import sys
        from pathlib import Path
        from nasbox.zoo.scores import ZooSettings, add_to_cache as _add_to_cache, cache_path
        settings = ZooSettings(dataset="synthetic", device="cpu", iterations=2)
        reports, me, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
        for i in range(n):
            _add_to_cache(cache_path(reports, settings), settings, {f"net-w{me}-{i}": {"i": i}})
    """, tmp_path)
    models = json.loads(cache_path(tmp_path, settings).read_text())["models"]
    assert len(models) == WRITERS * ENTRIES


# ---- a full disk: one DiskFullError naming the file, the old file intact, no temporary file left


def _no_temporaries(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_fails_each_kind_of_write_in_one_line_and_keeps_the_old_file(small_disk):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    from nasbox.errors import DiskFullError

    disk = small_disk(512)
    target = disk.path / "table.csv"
    atomic_write(target, "old contents\n")
    disk.fill(leave=8 * 1024)
    fig = plt.figure(figsize=(8, 8))
    plt.imshow(np.random.default_rng(0).random((400, 400)))
    writers = {
        "text": "x" * 64 * 1024,
        "bytes": b"\1" * 64 * 1024,
        "matplotlib": lambda p: fig.savefig(p, format="png"),  # raises OSError(ENOSPC) itself
        "torch.save": lambda p: torch.save({"w": torch.zeros(64 * 1024)}, p),  # hides the errno: judged by free space
    }
    for name, content in writers.items():
        with pytest.raises(DiskFullError) as caught:
            atomic_write(target, content)
        text = str(caught.value)
        assert text.startswith(f"no space left on the disk of {target}") and "\n" not in text, name
        assert target.read_text() == "old contents\n", name
        assert _no_temporaries(disk.path), name
    plt.close(fig)


def test_a_full_disk_leaves_an_updated_file_as_it_was(small_disk):
    from nasbox.errors import DiskFullError

    disk = small_disk(256)
    target = disk.path / "cache.json"
    update_file(target, lambda old: json.dumps({"a": 1}))
    disk.fill(leave=4 * 1024)
    with pytest.raises(DiskFullError):
        update_file(target, lambda old: json.dumps({**json.loads(old), "b": "x" * 64 * 1024}))
    assert json.loads(target.read_text()) == {"a": 1} and _no_temporaries(disk.path)


def test_a_checkpoint_on_a_full_disk_is_one_line_and_the_last_one_stays(small_disk):
    import torch

    from nasbox.errors import DiskFullError
    from nasbox.model.arch import Architecture, Head, Pool, Stage
    from nasbox.model.blocks import ConvBlock
    from nasbox.model.build import build_model
    from nasbox.train.checkpoint import load_checkpoint, save_checkpoint

    arch = Architecture((1, 16, 16), 10, stages=(Stage((ConvBlock(4),), Pool("max")),), head=Head("gap"))
    model = build_model(arch)
    disk = small_disk(1024)
    path = disk.path / "checkpoint.pt"
    common = dict(config={}, data={}, finished=False, history=[], test_accuracy=None, command=None, source=None,
                  model=model.state_dict(), optimizer={}, scheduler={}, rng={})
    save_checkpoint(path, arch, epoch=1, **common)
    disk.fill(leave=2 * 1024)
    with pytest.raises(DiskFullError):
        save_checkpoint(path, arch, epoch=2, **{**common, "model": {"big": torch.zeros(256 * 1024)}})
    assert load_checkpoint(path).epoch == 1 and _no_temporaries(disk.path)
