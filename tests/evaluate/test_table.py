"""Tests of nasbox.evaluate.table: a search scored by a table the test writes (no training)."""

from __future__ import annotations

import itertools
import random

import pytest

import nasbox.evaluate.brief
import nasbox.search.costs
from nasbox.cli import main
from nasbox.errors import ConfigError
from nasbox.evaluate.table import read_table
from nasbox.model.analysis import constant_from
from nasbox.search import SearchConfig, run_search
from nasbox.spaces import get_space
from search_spaces.nb201 import EDGES
from tests.report.support import DATA, TINY

SPACE = {**TINY, "channels": "8", "activations": "relu"}  # 256 genotypes: a table can hold them all


def _table(path, n=3000, *, percent=False, skip=(), shape=tuple(DATA["synthetic_shape"])):
    """Rows for every genotype of a 256-genotype space (``n`` random draws cover them); accuracy a function of
    the genotype (more residual stages, more accurate)."""
    space = get_space("seed_cnn", input_shape=shape, num_classes=10, args=SPACE)
    rows = {}
    for seed in range(n):
        _, arch = space.sample_random(random.Random(seed))
        rows[arch.encode()] = 0.5 + 0.1 * arch.encode().count("rb_") + 0.001 * (len(rows) % 9)
    lines = ["arch,accuracy,latency_ms"]
    for i, (enc, acc) in enumerate(sorted(rows.items())):
        if i not in skip:
            lines.append(f'"{enc}",{acc * 100 if percent else acc},{1.0 + i}')
    path.write_text("\n".join(lines) + "\n")
    return {enc: acc for i, (enc, acc) in enumerate(sorted(rows.items())) if i not in skip}


def _search(tmp_path, table, **kw):
    config = dict(space="seed_cnn", space_args=dict(SPACE), dataset="synthetic", dataset_options=DATA, iterations=2,
                  batch_size=32, budget=6, reports_dir=str(tmp_path / "r"), device="cpu", sampler="random",
                  evaluator=f"table:{table}", study="t")
    config.update(kw)
    return run_search(SearchConfig(**config))


def test_a_search_scored_by_a_table_trains_nothing_and_records_the_tables_values(tmp_path, monkeypatch):
    table = tmp_path / "bench.csv"
    truth = _table(table, percent=True)  # percent in the file: read as a fraction
    assert len(truth) == 256

    def no_training(*args, **kwargs):
        raise AssertionError("a table lookup must not train")

    monkeypatch.setattr(nasbox.evaluate.brief, "train_model", no_training)
    result = _search(tmp_path, table)
    df = result.trials
    scored = df[df["status"].isin(["complete", "repeat"])]
    assert len(scored) >= 1
    for _, row in scored.iterrows():
        assert row["accuracy"] == pytest.approx(truth[row["encoding"]])
        assert row["evaluator"] == "table"


def test_an_nb201_table_is_keyed_by_nas_bench_201_arch_strings(tmp_path):
    """A table in NAS-Bench-201's own arch strings scores an nb201 search (disconnected cells too: the
    table is the truth where there is one)."""
    space = get_space("nb201", input_shape=tuple(DATA["synthetic_shape"]), num_classes=10,
                      args={"channels": "4", "cells": "1", "ops": "none,skip_connect,nor_conv_3x3"})
    rows = {}
    for ops in itertools.product(space.ops, repeat=len(EDGES)):  # all 729 cells
        text = space.arch_string(space.network(dict(zip(EDGES, ops, strict=True))))
        rows[text] = 0.1 + 0.1 * text.count("conv")
    assert len(rows) == 729 and all(key.startswith("|") and "~0|" in key for key in rows)
    table = tmp_path / "nb201.csv"
    table.write_text("arch,accuracy\n" + "".join(f"{k},{v * 100}\n" for k, v in rows.items()))
    df = _search(tmp_path, table, space="nb201", space_args={"channels": "4", "cells": "1",
                                                             "ops": "none,skip_connect,nor_conv_3x3"},
                 objectives=("accuracy", "macs", "params"), budget=12).trials
    done = df[df["status"] == "complete"]
    assert len(done) == len(df[df["status"] != "repeat"]) >= 8 and done["disconnected"].isna().all()
    cut = 0
    for _, row in done.iterrows():
        arch = space.parse_arch(row["encoding"])
        assert row["accuracy"] == pytest.approx(rows[space.arch_string(arch)])
        cut += constant_from(arch) is not None
    assert cut >= 1  # a disconnected cell was looked up too, not scored at chance


def test_a_table_that_spells_its_keys_otherwise_still_matches(tmp_path):
    """Keys that parse to the same genotype (spaces around NAS-Bench-201's separators here, DARTS'
    range(2, 6) for [2, 3, 4, 5]) are found: the table's keys are read in the space's terms once."""
    args = {"channels": "4", "cells": "1", "ops": "skip_connect,nor_conv_3x3"}
    space = get_space("nb201", input_shape=tuple(DATA["synthetic_shape"]), num_classes=10, args=args)
    lines = ["arch,accuracy"]
    for ops in itertools.product(space.ops, repeat=len(EDGES)):
        text = space.arch_string(space.network(dict(zip(EDGES, ops, strict=True))))
        lines.append(f'" {text.replace("+", " + ")} ",{0.5 + 0.05 * text.count("conv")}')
    table = tmp_path / "spaced.csv"
    table.write_text("\n".join(lines) + "\n")
    df = _search(tmp_path, table, space="nb201", space_args=args, objectives=("accuracy", "macs"), budget=5).trials
    done = df[df["status"] == "complete"]
    assert len(done) >= 3 and (df["status"] != "failed").all()
    for _, row in done.iterrows():
        assert row["accuracy"] == pytest.approx(0.5 + 0.05 * space.arch_string(space.parse_arch(row["encoding"])).count("conv"))


def test_a_genotype_missing_from_the_table_is_a_failed_trial_naming_the_table(tmp_path):
    table = tmp_path / "partial.csv"
    _table(table, skip=set(range(0, 400, 2)))  # every other genotype left out
    df = _search(tmp_path, table, budget=8).trials
    failed = df[df["status"] == "failed"]
    assert len(failed) >= 1 and failed["fail_reason"].str.contains("not in the table partial.csv").all()
    assert (df["status"] != "running").all()


@pytest.mark.parametrize(("text", "needle"), [
    ("arch,acc\nx,0.5\n", "no accuracy column"),
    ("name,accuracy\nx,0.5\n", "no arch column"),
    ("arch,accuracy\nx,high\n", "line 2: accuracy is not a number"),
    ("arch,accuracy\nx,0.5\nx,0.6\n", "'x' twice"),
    ("arch,accuracy\nx,-3\n", "[0, 1] or [0, 100]"),
])
def test_a_bad_table_is_one_clear_error(tmp_path, text, needle):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as err:
        read_table(path)
    assert needle in str(err.value)


def test_the_command_line_refuses_a_missing_table_in_one_line(tmp_path, capsys):
    code = main(["search", "--dataset", "synthetic", "--evaluator", f"table:{tmp_path / 'none.csv'}",
                 "--reports-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: table ") and "does not exist" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_a_tables_latency_replaces_timing_and_without_one_the_candidate_is_timed(tmp_path, monkeypatch):
    table = tmp_path / "bench.csv"
    _table(table)

    def no_timing(*args, **kwargs):
        raise AssertionError("the table gives the latency: nothing may be timed")

    with monkeypatch.context() as mp:
        mp.setattr(nasbox.search.costs, "measure_latency", no_timing)
        df = _search(tmp_path, table, study="with-latency").trials
    done = df[df["status"] == "complete"]
    assert len(done) >= 1 and len(done) == len(df[df["status"] != "repeat"])  # a timing would have failed one
    rows = read_table(table)
    assert all(r["latency_ms"] == rows[r["encoding"]]["latency_ms"] for _, r in done.iterrows())
    without = tmp_path / "accuracy-only.csv"
    without.write_text("\n".join(line.rsplit(",", 1)[0] for line in table.read_text().splitlines()) + "\n")
    df = _search(tmp_path, without, study="timed").trials
    done = df[df["status"] == "complete"]
    assert len(done) >= 1 and (done["latency_ms"] > 0).all()  # timed: the table has no latency


def test_the_command_line_prints_its_front_when_nothing_was_timed(tmp_path, capsys):
    """A table without latency and no latency objective: no candidate is timed, and the final table
    shows '-' for the latency (it once crashed formatting the missing value)."""
    table = tmp_path / "bench.csv"
    _table(table, shape=(3, 32, 32))  # the command line's synthetic images
    plain = tmp_path / "accuracy-only.csv"
    plain.write_text("\n".join(line.rsplit(",", 1)[0] for line in table.read_text().splitlines()) + "\n")
    args = ["search", "--space", "seed_cnn", "--dataset", "synthetic", "--evaluator", f"table:{plain}",
            "--objectives", "accuracy,macs", "--budget", "4", "--sampler", "random", "--no-classics",
            "--reports-dir", str(tmp_path / "r"), "--study", "cli"]
    for key, value in SPACE.items():
        args += ["--space-arg", f"{key}={value}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    front = [line for line in out.splitlines() if line.startswith("│") and "i3x32x32" in line]
    assert front and all(line.split("│")[6].strip() == "-" for line in front)
