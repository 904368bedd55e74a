"""The setup of a study and the metric definitions, as (label, text) pairs.

Everything comes from the storage (the study's ``setup``, ``config`` and ``run`` user
attributes and its trials), so a report rebuilt on another machine states the same setup.
"""

from __future__ import annotations

from typing import Any

from nasbox.report.collect import ReportData
from nasbox.search.config import SearchConfig
from nasbox.search.options import option_rows
from nasbox.study.storage import mask_url

__all__ = ["METRIC_DEFINITIONS", "RECIPE", "fidelity_text", "options_text", "setup_facts", "space_bounds"]

#: the training recipe of :mod:`nasbox.train` (the same for every candidate and zoo network)
RECIPE = ("SGD, momentum 0.9 (Nesterov), linear warm-up then cosine decay, weight decay 5e-4 on weights, "
          "label smoothing 0.1, Kaiming init, BatchNorm; augmentation: random crop with padding "
          "(and horizontal flip where it keeps labels); channels_last; bf16 autocast where supported")

METRIC_DEFINITIONS: tuple[tuple[str, str], ...] = (
    ("accuracy", "top-1 accuracy on the validation split (seeded, stratified, carved from the training set) "
                 "after the brief training; the test split is never used in a search."),
    ("MACs", "multiply-accumulates of one forward pass at batch 1, from the genotype with fvcore's convention "
             "(checked against fvcore's traced count; thop's count is kept beside it in trials.csv as "
             "macs_thop): convolution W2 x H2 x K x F x F x D1 / groups (bias not counted), linear in x out, "
             "BatchNorm 2 MACs per output element (scale and shift, as fvcore counts it), global average "
             "pool 1 per input element; activations, max/avg pooling and residual additions are not counted."),
    ("FLOPs", "floating-point operations = 2 x MACs (one multiply and one add per MAC)."),
    ("params", "trainable parameters (sum of numel of parameters with requires_grad)."),
    ("latency", "median milliseconds of one batch-1 forward pass of a fresh copy of the model in eval mode "
                "under torch.inference_mode(), on the device the trial ran on; warm-up in windows of 10 calls "
                "until two consecutive window medians agree within 5% (at most 10 s), then 20 to 60 timed "
                "calls (about 1 s); 1 intra-op CPU thread on CPU; on GPU each call replays the forward pass captured "
                "in a CUDA graph (eagerly when it cannot be captured or its replay differs), synchronised around every call."),
    ("latency IQR", "the spread of the timed calls: interquartile range (75th minus 25th percentile), in ms."),
    ("hypervolume", "share of the normalised objective space dominated by the feasible, trained candidates, "
                    "bounded by the reference point (see above); between 0 and 1, higher is better."),
)


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value) if value else "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return "; ".join(f"{k}={_fmt(v)}" for k, v in value.items()) or "-"
    return "-" if value is None else str(value)


def space_bounds(data: ReportData) -> list[tuple[str, str]]:
    """The space's bounds as (name, value) pairs."""
    bounds = data.setup.get("space_bounds") or {}
    return [(str(k), _fmt(v)) for k, v in bounds.items()]


def fidelity_text(data: ReportData) -> str:
    """The budget per candidate, in iterations and epochs, and the batch size."""
    f = data.fidelity
    batch = f.get("batch_size")
    if f.get("trained_iterations") is not None and f.get("trained_epochs"):
        iters, epochs = f["trained_iterations"], f["trained_epochs"]
        per_epoch = round(iters / epochs)
        given = "epochs" if f.get("epochs") is not None else "iterations"
        return (f"{iters:,} iterations = {epochs:.2f} epochs ({per_epoch:,} iterations per epoch at batch {batch}; "
                f"given in {given}), peak learning rate {_fmt(f.get('lr'))}")
    if f.get("epochs") is not None:
        return f"{_fmt(f['epochs'])} epochs at batch {batch} (iterations: once a candidate trained)"
    return f"{_fmt(f.get('iterations'))} iterations at batch {batch} (epochs: once a candidate trained)"


def _splits(data: ReportData) -> str:
    splits = data.run.get("splits") or {}
    if not splits:
        return "not recorded by the search"
    return ", ".join(f"{splits[k]:,} {k}" for k in ("train", "val", "test") if k in splits)


def _dates(data: ReportData) -> str:
    starts = [t.start for t in data.trials if t.start]
    ends = [t.complete for t in data.trials if t.complete]
    if not starts:
        return "-"
    return f"first trial started {min(starts)}, last finished {max(ends) if ends else '-'}"


def setup_facts(data: ReportData) -> list[tuple[str, str]]:
    """The setup section: (label, text) pairs in reading order."""
    c, s = data.config, data.setup
    counts = data.counts()
    objectives = "; ".join(f"{'maximise' if d == 'maximize' else 'minimise'} {o}"
                           for o, d in zip(data.objectives, data.directions, strict=True))
    constraints = [f"{k.replace('_', '-')} {_fmt(c[k])}" for k in ("max_params", "max_macs", "max_latency_ms")
                   if c.get(k) is not None]
    shape = s.get("input_shape") or []
    options = dict(c.get("dataset_options") or {})
    dataset = f"{s.get('dataset') or c.get('dataset') or '-'}"
    extra = [f"subset {c['subset']:,}" if c.get("subset") else None, f"validation fraction {_fmt(c.get('val_fraction'))}",
             f"options {_fmt(options)}" if options else None]
    confirmations = sum(1 for t in data.trials if t.confirms is not None and t.status != "lost")
    versions = data.run.get("versions") or {}
    storage = mask_url(c["storage"]) if c.get("storage") else "journal file (journal.log beside this report)"
    return [
        ("study", data.study_name),
        ("storage (at search time)", storage),
        ("objectives", objectives or "-"),
        ("constraints", ", ".join(constraints) or "none"),
        ("space", f"{s.get('space') or c.get('space') or '-'}"
                  + (f" (arguments: {_fmt(c.get('space_args'))})" if c.get("space_args") else "")),
        ("input", f"{'x'.join(str(v) for v in shape)}, {s.get('num_classes', '-')} classes" if shape else "-"),
        ("dataset", f"{dataset} ({', '.join(e for e in extra if e)})"),
        ("split sizes", _splits(data)),
        ("fidelity per candidate", fidelity_text(data)),
        ("training recipe", RECIPE),
        ("sampler", f"{c.get('sampler', '-')}, seed {c.get('seed', '-')}"),
        ("budget", f"{c.get('budget', '-')} trials; {data.counted} counted so far "
                   f"({', '.join(f'{n} {k}' for k, n in counts.items() if n)})"
                   + (f"; {confirmations} confirmations beside the budget" if confirmations else "")),
        ("device", ", ".join(data.devices) + (f" ({data.run['device_name']})" if data.run.get("device_name") else "")
                   if data.devices else "-"),
        ("latency threads", str(c.get("latency_threads", 1))),
        ("library versions", _fmt(versions) if versions else "not recorded by the search"),
        ("dates", _dates(data)),
        ("options", options_text(data.config)),
    ]


def options_text(config: dict[str, Any], cls: type = SearchConfig) -> str:
    """Every search option with the value the study recorded ("default": filled in by the search; "-": not
    recorded, an option newer than the study), as ``--flag value`` pairs."""
    shown = dict(config)
    if isinstance(shown.get("storage"), str):
        shown["storage"] = mask_url(shown["storage"])
    return "; ".join(f"{name} {value}" for name, value, _ in option_rows(shown, cls))
