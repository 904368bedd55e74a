"""``bench/proxies.py --table``: the zero-cost proxies of a table's own cells, in ``bench/supernet_nb201.py``'s seeded
order, ranked against the table's accuracy without printing or keeping it."""

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

from nasbox.report.fidelity import kendall_tau
from nasbox.spaces import get_space
from nasbox.supernet.prior import synflow_of

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_supernet_nb201", ROOT / "bench" / "supernet_nb201.py")
_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench)
read_table = _bench.read_table

BLOCKED = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"  # no path from input to output: no score at all


def test_the_proxies_of_a_tables_cells_rank_them_in_the_benchmarks_order_without_its_accuracies(tmp_path):
    space = get_space("nb201", input_shape=(3, 32, 32), num_classes=10, args={"channels": 4, "cells": 1})
    rng = random.Random(1)
    cells = sorted({space.arch_string(space.sample_random(rng)[1]) for _ in range(9)} | {BLOCKED})
    accuracy = {a: round(40 + 4 * a.count("conv") + rng.random(), 4) for a in cells}
    table = tmp_path / "table.csv"
    table.write_text("arch,accuracy\n" + "".join(f"{a},{accuracy[a]}\n" for a in cells))
    out = tmp_path / "proxies.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "proxies.py"), "--table", str(table), "--dataset",
                           "synthetic", "--space-arg", "channels=4", "--space-arg", "cells=1", "--candidates",
                           str(len(cells)), "--json", str(out)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    order = [a for a, _ in read_table(table, len(cells), 0)]
    assert [c["arch"] for c in figures["cells"]] == order != cells  # supernet_nb201's seeded order, not the table's
    assert not any(f"{accuracy[a]}" in done.stdout or "accuracy" in c for a, c in zip(order, figures["cells"], strict=True))
    blocked = next(c for c in figures["cells"] if c["arch"] == BLOCKED)
    assert blocked["synflow"] == -math.inf and synflow_of(space.parse_arch(BLOCKED), (3, 32, 32)) is None
    for c in figures["cells"][:3]:  # the score of the cell's network as build_model(seed=0) makes it
        flow = synflow_of(space.parse_arch(c["arch"]), (3, 32, 32))
        assert c["synflow"] == pytest.approx(flow if flow is not None else -math.inf)
    truth = [accuracy[a] for a in order]
    for name in ("synflow", "naswot", "jacob_cov"):
        ranked = [v if math.isfinite(v) else -1e300 for v in (c[name] for c in figures["cells"])]  # no score: lowest
        assert figures[name]["kendall_tau"] == pytest.approx(kendall_tau(ranked, truth))
        assert figures[name]["spearman"] == pytest.approx(pd.Series(ranked).corr(pd.Series(truth), method="spearman"))
