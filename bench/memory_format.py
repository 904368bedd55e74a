"""Memory format and precision on a CPU: float32 training in channels_last against NCHW, and bf16 autocast against
float32.

nasbox trains in bf16 autocast with channels_last on CUDA and, for networks without depthwise convolutions,
where a CPU has native bf16 (AVX-512 BF16, AMX), and in float32 with channels_last otherwise. This measures
what channels_last does for float32 training on a CPU, the ground of that choice: each network trains with
nasbox's own loop (``train_model``: the recipe, the on-device data path, augmentation) for the same steps
in both formats, alternately (NCHW, channels_last, NCHW, channels_last, ...), and the best of the repeats of
each is kept; the last case is a step of the ``nb201`` one-shot supernet (5 fair paths, summed), the unit
``nasbox supernet train`` repeats. Prints images per second in each format and their ratio.

``--compare precision`` measures the other choice the same way, on a CPU with native bf16 (AVX-512 BF16 or AMX):
bf16 autocast against float32, both in channels_last (the ratio: bf16's rate over float32's).

    python bench/memory_format.py [--compare format|precision] [--threads 1] [--steps 12] [--repeats 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
import warnings
from pathlib import Path

import torch

from nasbox.data import load_dataset
from nasbox.device import device_name
from nasbox.model.build import build_model
from nasbox.spaces import parse_space_args
from nasbox.spaces.registry import get_space
from nasbox.train.brief import train_model
from nasbox.train.recipe import TrainConfig, use_bf16

sys.path.insert(0, str(Path(__file__).resolve().parent))
from supernet import CPU_SPACES  # noqa: E402 - bench/supernet.py's narrowed spaces

warnings.filterwarnings("ignore")

# (label, space, its arguments, input shape, batch size): a random network (seeded) of the main job's default space
# on its data, and of each built-in space at CIFAR's shape.
CASES = [
    ("seed_cnn, 1x28x28 (the default search's data)", "seed_cnn", {}, (1, 28, 28), 32),
    ("seed_cnn, 3x32x32", "seed_cnn", {}, (3, 32, 32), 32),
    ("resnet", "resnet", {}, (3, 32, 32), 64),
    ("mobilenet (depthwise)", "mobilenet", {}, (3, 32, 32), 64),
    ("efficientnet (depthwise, SE)", "efficientnet", {}, (3, 32, 32), 64),
    ("mobilenet, narrowed (bench/supernet.py's CPU space)", "mobilenet",
     parse_space_args(CPU_SPACES["mobilenet"]), (3, 32, 32), 32),
    ("nb201, cells=1 (a random cell)", "nb201", {"cells": 1}, (3, 32, 32), 64),
]
#: each comparison's baseline and alternative: (name, (amp, channels_last))
SETTINGS = {"format": (("NCHW", ("off", "off")), ("channels_last", ("off", "on"))),
            "precision": (("float32", ("off", "on")), ("bf16", ("bf16", "on")))}


def network_rate(space_name: str, args: dict, shape: tuple[int, int, int], batch: int, steps: int,
                 setting: tuple[str, str]) -> float:
    space = get_space(space_name, input_shape=shape, num_classes=10, args=args)
    _, arch = space.sample_random(random.Random(1))
    data = load_dataset("synthetic", synthetic_shape=shape, synthetic_size=batch * (steps + 2))
    model = build_model(arch, seed=0)
    config = TrainConfig(iterations=steps, batch_size=batch, amp=setting[0], channels_last=setting[1])
    result = train_model(model, data.train, None, config, data.spec, device=torch.device("cpu"))
    return result.images_per_second


def supernet_rate(steps: int, setting: tuple[str, str], batch: int = 64) -> float:
    from nasbox.supernet.oneshot import CellSupernet, OneShotSpace

    space = get_space("nb201", input_shape=(3, 32, 32), num_classes=10, args={"cells": 1})
    one = OneShotSpace(space)
    net = CellSupernet(one, seed=0)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    if setting[1] == "on":
        net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    rng = random.Random(0)
    images, t0 = 0, 0.0
    for step in range(steps + 1):
        if step == 1:  # the first step pays for allocation
            t0, images = time.perf_counter(), 0
        for arch in one.fair(rng):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=setting[0] == "bf16"):
                loss = torch.nn.functional.cross_entropy(net(x, arch), y)
            loss.backward()
            images += batch
        opt.step()
        opt.zero_grad()
    return images / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--compare", choices=tuple(SETTINGS), default="format",
                   help="format: channels_last against NCHW in float32; precision: bf16 autocast against float32")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    cpu = device_name("cpu")
    (base_name, base), (alt_name, alt) = SETTINGS[a.compare]
    print(f"{cpu}, {a.threads} thread(s); native bf16: {use_bf16(torch.device('cpu'))}; measured: {alt_name} against "
          f"{base_name}; torch {torch.__version__}, Python {platform.python_version()}")
    if a.compare == "precision" and not use_bf16(torch.device("cpu")):
        print("  (this CPU has no native bf16: its bf16 is emulated, and nasbox never uses it here unless asked)")
    rows = []
    cases = [(c[0], lambda setting, c=c: network_rate(*c[1:], a.steps, setting)) for c in CASES]
    cases.append(("nb201 one-shot supernet, a fair step (5 paths)", lambda setting: supernet_rate(a.steps, setting)))
    for label, rate in cases:
        best = {base: 0.0, alt: 0.0}
        for _ in range(a.repeats):
            for setting in (base, alt):
                best[setting] = max(best[setting], rate(setting))
        ratio = best[alt] / best[base]
        rows.append({"case": label, f"{base_name.lower()}_images_per_s": best[base],
                     f"{alt_name.lower()}_images_per_s": best[alt], "ratio": ratio})
        print(f"  {label:52s} {base_name} {best[base]:8.1f} img/s   {alt_name} {best[alt]:8.1f} img/s   {ratio:.2f}x",
              flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"device": cpu, "compare": a.compare, "threads": a.threads, "steps": a.steps,
                                            "repeats": a.repeats, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
