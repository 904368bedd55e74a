"""From estimate to truth, end to end: a search on CIFAR-10, then its final rung beside three classic networks.

Runs the two commands a user runs and times each stage:

1. ``nasbox search`` with the default budget (50) on CIFAR-10 (``--subset`` images on a CPU);
2. ``nasbox final --top 5 --classics resnet18,mobilenet_v2,efficientnet_b0 --epochs E``: the five candidates and
   the three networks trained with one recipe, each tested once on the official 10,000-image test split.

It prints the final table (test accuracy, MACs, latency) and the headline: the cheapest finalised candidate within
1 point of ResNet-18's test accuracy, with its share of ResNet-18's MACs and latency (the target: within 1 point at
no more than a tenth of its MACs), and writes the figures as JSON.

    python bench/end_to_end.py --data-dir /tmp/cifar [--subset 5000] [--final-epochs 10] [--device cpu]
        [--reports-dir /tmp/e2e] [--json bench/runs/end-to-end-cpu.json]

``--data-dir`` holds ``cifar-10-batches-py/`` (``python ../shared/data/prepare_cifar10.py DIR`` writes it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nasbox.device import device_name, resolve_device  # noqa: E402
from nasbox.study.storage import open_study  # noqa: E402

CLASSICS = ("resnet18", "mobilenet_v2", "efficientnet_b0")


def _run(argv: list[str]) -> float:
    """Run ``nasbox ARGV`` (its output shown), return its wall seconds; stop on failure."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nasbox.cli", *argv], check=True)
    return time.perf_counter() - t0


def headline(records: list[dict], reference: str = "resnet18", within: float = 0.01) -> dict:
    """The cheapest (fewest MACs) finalised candidate within ``within`` of the reference's test accuracy."""
    ref = next((r for r in records if r["name"] == reference), None)
    if ref is None:
        return {"reference": reference, "found": None}
    close = [r for r in records if r["kind"] == "candidate" and r["test_accuracy"] >= ref["test_accuracy"] - within]
    best = max((r for r in records if r["kind"] == "candidate"), key=lambda r: r["test_accuracy"], default=None)
    if not close:
        return {"reference": reference, "reference_test": ref["test_accuracy"], "found": None,
                "best": best["name"] if best else None,
                "short_by": ref["test_accuracy"] - best["test_accuracy"] if best else None}
    pick = min(close, key=lambda r: r["macs"])
    latency = pick["latency_ms"] / ref["latency_ms"] if pick.get("latency_ms") and ref.get("latency_ms") else None
    return {"reference": reference, "reference_test": ref["test_accuracy"], "found": pick["name"],
            "found_test": pick["test_accuracy"], "macs_share": pick["macs"] / ref["macs"], "latency_share": latency,
            "target_met": pick["macs"] / ref["macs"] <= 0.1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--subset", type=int, default=5000, help="training images searched (0: the whole split)")
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--final-epochs", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--reports-dir", default="/tmp/nasbox-end-to-end")
    parser.add_argument("--study", default="end-to-end")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    common = ["--reports-dir", args.reports_dir, "--study", args.study]
    search = ["search", "--dataset", "cifar10", "--data-dir", args.data_dir, "--budget", str(args.budget),
              "--device", args.device, *common] + (["--subset", str(args.subset)] if args.subset else [])
    search_s = _run(search)
    final_s = _run(["final", "--top", "5", "--epochs", str(args.final_epochs), "--classics", ",".join(CLASSICS),
                    "--device", args.device, *common])
    study = open_study(args.study, reports_dir=args.reports_dir)
    records = sorted((v for k, v in study.user_attrs.items() if k.startswith(("final:trial:", "final:classic:"))),
                     key=lambda r: -r["test_accuracy"])
    figures = {"device": str(resolve_device(args.device)), "device_name": device_name(resolve_device(args.device)),
               "subset": args.subset, "budget": args.budget, "final_epochs": args.final_epochs,
               "search_s": search_s, "final_s": final_s, "networks": records, "headline": headline(records)}
    print(f"\nsearch {search_s / 60:.1f} min, final rung {final_s / 60:.1f} min on {figures['device_name']}")
    for r in records:
        lat = f"{r['latency_ms']:.3g} ms" if r.get("latency_ms") else "-"
        print(f"  {r['name']:<16} {r['kind']:<9} test {100 * r['test_accuracy']:5.1f}%  MACs {r['macs']:>13,}  "
              f"latency {lat:>9}  {r['seconds'] / 60:5.1f} min")
    h = figures["headline"]
    if h.get("found"):
        lat = f", {100 * h['latency_share']:.3g}% of its latency" if h.get("latency_share") else ""
        print(f"headline: {h['found']} within 1 point of ResNet-18 ({100 * h['found_test']:.1f}% vs "
              f"{100 * h['reference_test']:.1f}%) at {100 * h['macs_share']:.3g}% of its MACs{lat}; target (<= 10% "
              f"of its MACs) {'met' if h['target_met'] else 'not met'}")
    else:
        print(f"headline: no candidate within 1 point of ResNet-18; the best ({h.get('best')}) is "
              f"{100 * (h.get('short_by') or 0):.1f} points short")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
