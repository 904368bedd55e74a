"""``bench/supernet_nb201.py`` end to end on synthetic data and a table made here: it trains, scores every cell
through the evaluator, and writes Kendall's tau without copying the table's accuracies."""

from __future__ import annotations

import importlib.util
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nasbox.model.analysis import analyze
from nasbox.report.fidelity import kendall_tau
from nasbox.spaces import get_space
from nasbox.supernet.prior import ParamsPrior, synflow_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_nb201_benchmark_ranks_a_table_of_its_own(tmp_path):
    space = get_space("nb201", input_shape=(3, 16, 16), num_classes=4, args={"channels": 4, "cells": 1})
    rng = random.Random(0)
    cells = {space.arch_string(space.sample_random(rng)[1]) for _ in range(8)}
    rows = [(arch, 50 + 5 * arch.count("nor_conv_3x3") + rng.random()) for arch in sorted(cells)]
    table = tmp_path / "table.csv"
    table.write_text("arch,accuracy\n" + "".join(f"{a},{acc:.4f}\n" for a, acc in rows))
    out = tmp_path / "figures.json"
    command = [sys.executable, str(ROOT / "bench" / "supernet_nb201.py"), "--table", str(table), "--dataset",
               "synthetic", "--space-arg", "channels=4", "--space-arg", "cells=1", "--epochs", "1", "--batch-size",
               "16", "--calibration-images", "32", "--cells", "0", "--device", "cpu", "--out", str(tmp_path / "net"),
               "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Kendall tau of the supernet's estimates against the table" in done.stdout
    figures = json.loads(out.read_text())
    assert len(figures["cells"]) == len(rows) and not any("table" in c for c in figures["cells"])
    assert figures["supernet"]["epochs"] == 1 and figures["supernet"]["cpu_s"] > 0
    estimates = {c["arch"]: c["estimate"] for c in figures["cells"]}
    accuracy = [acc for _, acc in rows]
    assert figures["tau_estimate_all"] == pytest.approx(kendall_tau([estimates[a] for a, _ in rows], accuracy))
    bound = get_space("nb201", input_shape=(3, 32, 32), num_classes=10, args={"channels": 4, "cells": 1})
    params = [analyze(bound.parse_arch(a)).params for a, _ in rows]
    assert figures["tau_params_all"] == pytest.approx(kendall_tau(params, accuracy))
    # as a search scores by default: the supernet's own estimate joined with the cell's parameter count and synflow
    kept = list((tmp_path / "net").glob("prior-*.json"))  # the prior the search would read beside the supernet
    assert len(kept) == 1
    prior = ParamsPrior.from_json(kept[0].read_text())
    assert figures["prior"]["subnets"] == prior.subnets == 64 and prior.uses_synflow
    joined = {c["arch"]: c["joined"] for c in figures["cells"]}
    assert figures["tau_joined_all"] == pytest.approx(kendall_tau([joined[a] for a, _ in rows], accuracy))
    for c in figures["cells"]:
        assert c["synflow"] == synflow_of(bound.parse_arch(c["arch"]), (3, 32, 32))
        assert c["joined"] == pytest.approx(prior.apply(c["estimate"], c["params"], c["synflow"]))
    assert "as a search ranks them: tau" in done.stdout and "prior: median estimate" in done.stdout
    # the same supernet scored again in two shards, side by side: together they are the whole run
    parts = []
    for k in (0, 1):
        parts.append(tmp_path / f"shard{k}.json")
        shard = [*command[:command.index("--json")], "--score-only", "--shard", f"{k}/2", "--json", str(parts[-1])]
        part = subprocess.run(shard, capture_output=True, text=True, timeout=600, cwd=ROOT)
        assert part.returncode == 0, part.stderr[-2000:]
        assert len(json.loads(parts[-1].read_text())["cells"]) == (len(rows) + 1 - k) // 2
    joined = bench_module().figures_of([json.loads(path.read_text()) for path in reversed(parts)],
                                       dict(rows))
    assert [c["arch"] for c in joined["cells"]] == [c["arch"] for c in figures["cells"]]
    for key in ("tau_estimate_all", "tau_joined_all", "tau_params_all", "cells_all"):
        assert joined[key] == pytest.approx(figures[key]), key


def bench_module():
    spec = importlib.util.spec_from_file_location("supernet_nb201", ROOT / "bench" / "supernet_nb201.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_the_shards_of_a_run_join_into_it_in_its_order():
    """``--figures-of`` given the ``--shard`` parts of one scoring: the cells in the unsharded order (an interleaving
    that put them elsewhere would pair estimates with other cells' accuracies), the CPU summed, the wall the longest;
    a missing, repeated or foreign part is refused."""
    bench = bench_module()
    archs = [f"a{i}" for i in range(7)]
    cells = [{"arch": a, "estimate": float(i), "params": 100 + i, "connected": True, "seconds": 0.1 * i}
             for i, a in enumerate(archs)]
    argv = ["--out", "/x"]
    parts = [{"argv": argv, "shard": [k, 3, 7], "cells": cells[k::3],
              "scoring": {"cpu_s": 10.0 + k, "wall_s": 5.0 + k, "per_cell_s": 0.0}} for k in range(3)]
    whole, = bench.joined_shards([parts[2], parts[0], parts[1]])
    assert [c["arch"] for c in whole["cells"]] == archs
    assert whole["scoring"] == {"cpu_s": 33.0, "wall_s": 7.0, "per_cell_s": pytest.approx(0.3)}
    assert bench.figures_of(parts, {a: float(i) for i, a in enumerate(archs)})["tau_estimate_all"] == 1.0
    with pytest.raises(SystemExit, match="each once"):
        bench.joined_shards(parts[:2])
    with pytest.raises(SystemExit, match="each once"):
        bench.joined_shards([parts[0], parts[1], parts[1]])
    with pytest.raises(SystemExit, match="different supernets"):
        bench.joined_shards([parts[0], parts[1], {**parts[2], "argv": ["--out", "/y"]}])
    with pytest.raises(SystemExit, match="some did not"):
        bench.joined_shards([parts[0], {k: v for k, v in parts[1].items() if k != "shard"}])
    # shards still scoring (their JSON written every 50 cells): the cells up to the first one a shard lacks
    partial = [{**parts[0], "cells": cells[0:7:3], "partial": True}, {**parts[1], "cells": cells[1:2]}, parts[2]]
    whole, = bench.joined_shards(partial)
    assert [c["arch"] for c in whole["cells"]] == archs[:4] and whole["partial"]
    assert bench.figures_of(parts, {a: -float(i) for i, a in enumerate(archs)}, first_cells=3)["cells_all"] == 3
    with pytest.raises(SystemExit, match="fewer than 8 cells"):
        bench.figures_of(parts, {a: 0.0 for a in archs}, first_cells=8)


def test_a_larger_sample_of_the_table_begins_with_the_smaller_one(tmp_path):
    """``--cells N`` of a run over more cells (``--first N`` of its figures) are the cells of a run of ``--cells N``:
    the whole table in its seeded order holds the 300 that the benchmark's rows scored as its first 300."""
    bench = bench_module()
    table = tmp_path / "table.csv"
    table.write_text("arch,accuracy\n" + "".join(f"a{i},{i}\n" for i in range(1000)))
    whole = bench.read_table(table, 1000, 0)
    assert sorted(whole) == sorted(bench.read_table(table, 0, 0)) and whole != bench.read_table(table, 0, 0)
    assert whole[:300] == bench.read_table(table, 300, 0) and whole[:17] == bench.read_table(table, 17, 0)
    assert bench.read_table(table, 5000, 0) == whole and bench.read_table(table, 300, 1) != whole[:300]
    # and the 300 are those the committed runs scored, when a sample of 300 was drawn directly
    assert bench.read_table(table, 300, 0) == random.Random(0).sample(bench.read_table(table, 0, 0), 300)


def test_figures_of_a_run_name_where_the_estimates_err(tmp_path):
    """``--figures-of`` recomputes a run's figures from its JSON: the tau among the table's best 100 cells, and
    the op whose count the estimates reward beyond the table (here skip connections, by construction)."""
    space = get_space("nb201", input_shape=(3, 32, 32), num_classes=10, args={"channels": 4, "cells": 1})
    rng = random.Random(1)
    archs = sorted({space.arch_string(space.sample_random(rng)[1]) for _ in range(400)})[:240]
    table = {a: 80 + 2 * a.count("nor_conv_3x3") - a.count("skip_connect") + rng.random() for a in archs}
    cells = [{"arch": a, "estimate": table[a] + 3 * a.count("skip_connect") + 2 * rng.random(),
              "params": analyze(space.parse_arch(a)).params, "connected": i % 8 != 0, "seconds": 0.1}
             for i, a in enumerate(archs)]
    for c in cells[::8]:  # disconnected cells (as the runs mark them), estimated wrongly the other way: left out
        c["estimate"] = table[c["arch"]] - 20 * c["arch"].count("skip_connect")
    (tmp_path / "table.csv").write_text("arch,accuracy\n" + "".join(f"{a},{table[a]!r}\n" for a in archs))
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"scoring": {"per_cell_s": 0.1, "cpu_s": 24.0, "wall_s": 24.0}, "cells": cells}))
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "supernet_nb201.py"), "--table",
                           str(tmp_path / "table.csv"), "--figures-of", str(run)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    best = sorted(archs, key=lambda a: -table[a])[:100]
    top = kendall_tau([next(c["estimate"] for c in cells if c["arch"] == a) for a in best], [table[a] for a in best])
    assert f"among the 100 cells the table ranks highest: tau {top:+.3f}" in done.stdout, done.stdout
    errors = dict(part.rsplit(" ", 1) for part in done.stdout.split("rank error: ")[1].splitlines()[0].split(", "))
    assert float(errors["skip_connect"]) > 0.3 and max(errors, key=lambda op: float(errors[op])) == "skip_connect"
    assert float(errors["nor_conv_3x3"]) < 0
    connected = pd.DataFrame([c for c in cells if c["connected"]])  # pandas' ranks and Spearman, independently
    residual = connected["estimate"].rank() - connected["arch"].map(table).rank()
    for op in ("skip_connect", "avg_pool_3x3"):
        count = connected["arch"].map(lambda a, op=op: a.count(op))
        assert float(errors[op]) == pytest.approx(count.corr(residual, method="spearman"), abs=0.006)


def test_figures_of_a_run_without_a_prior_and_the_tables_synflow_give_the_params_and_synflow_join(tmp_path):
    """``--figures-of RUN --synflow-of PROXIES.json``: of a run scored without the prior, what the params+synflow prior
    makes of its estimates (its reference the scored cells), against the closed form; a cell without flow (-inf in
    the proxies' JSON) is joined with the parameter count alone; a proxies file that lacks a cell is refused."""
    space = get_space("nb201", input_shape=(3, 32, 32), num_classes=10, args={"channels": 4, "cells": 1})
    rng = random.Random(3)
    archs = sorted({space.arch_string(space.sample_random(rng)[1]) for _ in range(60)})[:40]
    table = {a: float(i) for i, a in enumerate(archs)}
    cells = [{"arch": a, "estimate": rng.random(), "params": 1000 + 10 * i + rng.randrange(300), "connected": True,
              "seconds": 0.1} for i, a in enumerate(archs)]
    flows = {a: float(i) + 3 * rng.random() for i, a in enumerate(archs)}
    flows[archs[5]] = -math.inf
    (tmp_path / "table.csv").write_text("arch,accuracy\n" + "".join(f"{a},{table[a]!r}\n" for a in archs))
    run = {"scoring": {"per_cell_s": 0.1, "cpu_s": 4.0, "wall_s": 4.0}, "cells": cells}
    (tmp_path / "run.json").write_text(json.dumps(run))
    (tmp_path / "proxies.json").write_text(json.dumps({"cells": [{"arch": a, "synflow": v} for a, v in flows.items()]}))
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "supernet_nb201.py"), "--table",
                           str(tmp_path / "table.csv"), "--figures-of", str(tmp_path / "run.json"),
                           "--synflow-of", str(tmp_path / "proxies.json")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    given = [None if a == archs[5] else flows[a] for a in archs]
    prior = ParamsPrior.of([c["estimate"] for c in cells], [c["params"] for c in cells], given)
    joined = [prior.apply(c["estimate"], c["params"], f) for c, f in zip(cells, given, strict=True)]
    assert joined[5] == pytest.approx(prior._replace(synflow_median=None, synflow_iqr=None).apply(
        cells[5]["estimate"], cells[5]["params"]))
    tau = kendall_tau(joined, list(table.values()))
    assert tau > kendall_tau([c["estimate"] for c in cells], list(table.values())) + 0.2  # the flow carries the table
    assert f"joined with the parameter count's and synflow's prior, its reference these cells: tau {tau:+.3f}" in done.stdout
    flow_tau = kendall_tau([-math.inf if f is None else f for f in given], list(table.values()))
    assert f"baseline, synflow: tau {flow_tau:+.3f}" in done.stdout, done.stdout
    bench = bench_module()
    with pytest.raises(SystemExit, match="--synflow-of lacks"):
        bench.figures_of([run], table, synflows={a: flows[a] for a in archs[1:]})
    joined_run = {**run, "cells": [{**c, "joined": c["estimate"]} for c in cells]}
    with pytest.raises(SystemExit, match="--synflow-of is for runs scored without a prior"):
        bench.figures_of([joined_run], table, synflows=flows)
    # --skip N: the cells after the first N, those a run of --cells N did not score
    later = bench.figures_of([run], table, skip_cells=30)
    assert later["cells_all"] == 10
    assert later["tau_estimate_all"] == pytest.approx(
        kendall_tau([c["estimate"] for c in cells[30:]], [table[c["arch"]] for c in cells[30:]]))
    with pytest.raises(SystemExit, match="no more than 40 cells"):
        bench.figures_of([run], table, skip_cells=40)


def test_figures_of_several_runs_are_those_of_the_mean_of_their_estimates(tmp_path):
    """``--figures-of A B``: the figures of the cell-by-cell mean of two runs' estimates (what ``supernet:A,B`` scores),
    here two runs whose opposite errors cancel in the mean; runs of other cells are refused."""
    space = get_space("nb201", input_shape=(3, 32, 32), num_classes=10, args={"channels": 4, "cells": 1})
    rng = random.Random(2)
    archs = sorted({space.arch_string(space.sample_random(rng)[1]) for _ in range(60)})[:40]
    table = {a: float(i) for i, a in enumerate(archs)}
    noise = [rng.uniform(-15, 15) for _ in archs]
    (tmp_path / "table.csv").write_text("arch,accuracy\n" + "".join(f"{a},{table[a]!r}\n" for a in archs))
    paths = []
    for sign in (1, -1):
        cells = [{"arch": a, "estimate": table[a] + sign * e, "params": 100 + (7 * i) % 13, "connected": True, "seconds": 0.1}
                 for i, (a, e) in enumerate(zip(archs, noise, strict=True))]
        paths.append(tmp_path / f"run{sign}.json")
        paths[-1].write_text(json.dumps({"supernet": {"cpu_s": 60.0}, "cells": cells,
                                         "scoring": {"per_cell_s": 0.1, "cpu_s": 4.0, "wall_s": 4.0}}))

    both = subprocess.run([sys.executable, str(ROOT / "bench" / "supernet_nb201.py"), "--table",
                           str(tmp_path / "table.csv"), "--figures-of", *map(str, paths)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    # each run alone ranks well short of the table (the first test checks that one run's figures are its own)
    assert kendall_tau([table[a] + e for a, e in zip(archs, noise, strict=True)], list(table.values())) < 0.9
    assert both.returncode == 0, both.stderr[-2000:]
    assert "the mean of 2 runs' estimates; their training 2.0 CPU min in all" in both.stdout
    assert "against the table: +1.000 over 40 cells" in both.stdout, both.stdout  # the errors cancel exactly
    # what it refuses, through the script's own function (no second interpreter)
    bench = bench_module()
    runs = [json.loads(path.read_text()) for path in paths]
    assert bench.figures_of(runs, table)["tau_estimate_all"] == 1.0
    with pytest.raises(SystemExit, match="each supernet counts once"):
        bench.figures_of([runs[0], runs[0]], table)
    with pytest.raises(SystemExit, match="scored different cells"):
        bench.figures_of([runs[0], {**runs[1], "cells": runs[1]["cells"][1:]}], table)
    with pytest.raises(SystemExit, match="scored otherwise than a search scores"):
        bench.figures_of([runs[0], {**runs[1], "argv": ["--score-only", "--recalibrate-on", "64"]}], table)
