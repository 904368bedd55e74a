"""Latency repeatability: one architecture measured in 3 separate processes.

Prints each process's median batch-1 latency and max/min across processes.
Target: max/min <= 1.10.

    python bench/latency_repeat.py [--arch resnet18|<encoding>] [--processes 3] [--device auto] [--eager]

On CUDA the timing replays a captured CUDA graph (the default of ``measure_latency``);
``--eager`` times eager calls instead, for the comparison.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, sys, warnings
warnings.filterwarnings("ignore")
from nasbox.model.arch import Architecture
from nasbox.model.build import build_model
from nasbox.measure.latency import measure_latency
from nasbox.device import resolve_device
from nasbox.zoo import ZOO_NAMES, get_zoo
spec, device, eager = sys.argv[1], resolve_device(sys.argv[2]), sys.argv[3] == "eager"
arch = get_zoo(spec) if spec in ZOO_NAMES else Architecture.decode(spec)
lat = measure_latency(build_model(arch, seed=0), arch.input_shape, device=device, cuda_graph=False if eager else None)
print(json.dumps(lat.to_dict()))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", action="append", help="zoo name or encoding (repeatable)")
    p.add_argument("--processes", type=int, default=3)
    p.add_argument("--device", default="auto")
    p.add_argument("--eager", action="store_true", help="on CUDA: time eager calls, not a replayed CUDA graph")
    p.add_argument("--json")
    args = p.parse_args()
    archs = args.arch or ["resnet18", "i1x28x28n10 | cn_c16+max2 | cn_c32+max2 | cn_c64+max2 | cn_c64+max2 | gap"]
    out = []
    for spec in archs:
        runs = []
        for _ in range(args.processes):
            proc = subprocess.run([sys.executable, "-c", CHILD, spec, args.device, "eager" if args.eager else "auto"],
                                  capture_output=True, text=True, check=True)
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        medians = [r["median_ms"] for r in runs]
        ratio = max(medians) / min(medians)
        out.append({"arch": spec, "medians_ms": medians, "iqr_ms": [r["iqr_ms"] for r in runs], "max_over_min": ratio,
                    "device": runs[0]["device"], "threads": runs[0]["threads"],
                    "cuda_graph": [r.get("cuda_graph", False) for r in runs]})
        how = " (CUDA graph)" if all(r.get("cuda_graph") for r in runs) else ""
        print(f"{spec[:60]:60s} medians {', '.join(f'{m:.3f}' for m in medians)} ms{how}  max/min {ratio:.3f} "
              f"(target <= 1.10)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
