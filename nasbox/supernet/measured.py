"""How well a supernet's estimates ranked candidates where nasbox's benchmarks measured it, by space.

A search scored with inherited weights (``--evaluator supernet:PATH``) shows these figures beside its fidelity,
so that its user knows how far the estimates can be trusted before confirming any (``--confirm K``). Each
figure is a measurement of ``bench/`` on the data and settings it names (``bench/RESULTS.md``), not a
property of every supernet of the space: a supernet trained otherwise, or on other data, may rank better or
worse.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["MEASURED", "MEASURED_JOINED", "Measured", "measured"]


class Measured(NamedTuple):
    """A measured rank correlation of a space's supernet estimates.

    Attributes:
        tau: Kendall's tau (tau-b) of the estimates against the reference, lowest and highest of the runs.
        against: what the estimates were ranked against.
        setting: the supernet and data measured.
        bench: the benchmark command (its section of ``bench/RESULTS.md``).
    """

    tau: tuple[float, float]
    against: str
    setting: str
    bench: str

    def text(self) -> str:
        """The whole figure, with what it was measured against and on (the report's)."""
        return f"Kendall's τ {self.range()} against {self.against}, for {self.setting} ({self.bench}, bench/RESULTS.md)"

    def short(self) -> str:
        """The figure in a few words (a search's start line; the report has the whole)."""
        return f"Kendall's τ {self.range()} in nasbox's benchmark (against what: the report, bench/RESULTS.md)"

    def range(self) -> str:
        low, high = self.tau
        return f"{low:+.2f}" if low == high else f"{low:+.2f} to {high:+.2f}"


#: the benchmarks' measurements, by space name
MEASURED: dict[str, Measured] = {
    "nb201": Measured((0.37, 0.58), "the trained CIFAR-10 accuracy of 300 NAS-Bench-201 cells, where a cell's "
                      "parameter count alone gives +0.57 (among the best 100 of them these supernets rank at -0.09 to "
                      "+0.34, below the parameter count's +0.41)",
                      "one-shot supernets of the one-cell-per-stage skeleton, fair paths, 10 (bf16 and float32; "
                      "batch 64, and two seeds at 32, the default: +0.46 and +0.51), 20 (three seeds) and 40 epochs of "
                      "an 18,000-image CIFAR-10 subset (+0.63 once, 20 epochs at twice the width)",
                      "python bench/supernet_nb201.py"),
    "mobilenet": Measured((0.46, 0.64), "the mean of two 8-epoch standalone trainings of 20 random subnets, each scored on "
                          "5,000 validation images, which agree to +0.62 (three of five supernets +0.63 to +0.64, the "
                          "mean of their five estimates +0.61, the parameter count alone +0.52; on 500 validation images: "
                          "+0.31 to +0.39 against a 4-epoch reference whose runs agreed to +0.69, +0.28 to +0.43 against "
                          "two that hardly ranked)",
                          "a narrowed mobilenet on 5,000 CIFAR-10 training images, 24-epoch sandwich-rule supernets "
                          "(progressive shrinking, three seeds: +0.46, +0.63, +0.64; every choice from the start, two: "
                          "+0.50, +0.64)", "python bench/supernet.py"),
    "resnet": Measured((0.37, 0.47), "the mean of two 4-epoch standalone trainings of 20 random subnets, which agree "
                       "to +0.50 (0.74-0.96 of it)",
                       "a narrowed resnet on a 5,000-image CIFAR-10 subset, an 8-epoch supernet with progressive "
                       "shrinking and a 24-epoch one (8 epochs without progressive shrinking: -0.11)",
                       "python bench/supernet.py"),
}


#: the same, for estimates joined with a prior (``--supernet-prior``), by prior and space, where measured
MEASURED_JOINED: dict[str, dict[str, Measured]] = {"params": {
    "nb201": Measured((0.64, 0.64), "the trained CIFAR-10 accuracy of the 1,000 NAS-Bench-201 cells of the dev sample "
                      "(+0.64 also over the 700 of them never used to judge the prior), where the supernet alone gives "
                      "+0.51 and a cell's parameter count alone +0.58",
                      "the default one-shot supernet (one cell per stage, fair paths, 10 epochs at batch 32 of an "
                      "18,000-image CIFAR-10 subset, float32), its estimates joined with the parameter count's prior",
                      "python bench/supernet_nb201.py"),
    "mobilenet": Measured((0.30, 0.43), "the mean of two standalone trainings of 40 random subnets scored on 500 "
                          "validation images, which hardly ranked (4 epochs: runs agreeing to +0.06; 8 epochs: +0.19), "
                          "where the supernets alone gave +0.28 to +0.43 and the parameter count alone +0.33 and +0.40",
                          "a narrowed mobilenet on a 5,000-image CIFAR-10 subset, 24- and 48-epoch supernets with "
                          "progressive shrinking, their estimates joined with the parameter count's prior",
                          "python bench/supernet.py"),
}, "params+synflow": {
    "nb201": Measured((0.73, 0.73), "the trained CIFAR-10 accuracy of the 1,000 NAS-Bench-201 cells of the dev sample "
                      "(+0.73 also over the 700 of them never used to judge a prior; +0.74 for a supernet trained 20 "
                      "epochs), where the supernet alone gives +0.51, joined with the parameter count alone +0.64, a "
                      "cell's parameter count alone +0.58 and its synflow score alone +0.56",
                      "the default one-shot supernet (one cell per stage, fair paths, 10 epochs at batch 32 of an "
                      "18,000-image CIFAR-10 subset, float32), its estimates joined with the parameter count's and "
                      "synflow's prior",
                      "python bench/supernet_nb201.py"),
    "mobilenet": Measured((0.46, 0.55), "the mean of two 8-epoch standalone trainings of 20 random subnets, each scored on "
                          "5,000 validation images, which agree to +0.62, where the same five supernets alone give +0.46 "
                          "to +0.64 (the join lowered four of them), the parameter count alone +0.52 and synflow alone "
                          "+0.21",
                          "a narrowed mobilenet on 5,000 CIFAR-10 training images, 24-epoch sandwich-rule supernets, "
                          "their estimates joined with the parameter count's and synflow's prior",
                          "python bench/supernet.py"),
}}


def measured(space: str, prior: str | None = None) -> Measured | None:
    """The benchmark's figure for supernets of ``space`` (``prior``: their estimates joined with that
    ``--supernet-prior``), or ``None`` where none was measured."""
    return (MEASURED_JOINED.get(prior, {}) if prior else MEASURED).get(space)
