"""The README's Python section runs as written, on small data: its code blocks are executed in turn, with only
the dataset and the budgets made small (each replacement must apply, so an edited README that no longer matches
fails here rather than going untested)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

import nasbox.measure
import nasbox.search.costs

README = Path(__file__).resolve().parent.parent / "README.md"

#: what makes a block small: (text in the README, what runs instead)
SMALL = [
    ('dataset="mnist5k", budget=20,',
     'dataset="synthetic", dataset_options={"synthetic_size": 200}, budget=2, iterations=2, classics=False,'),
    ('"reports/supernets/mobilenet-mnist5k"', '"reports/supernets/mobilenet-synthetic"'),
]


def python_blocks() -> list[str]:
    """The ```python blocks of the README's "Python" section, in order."""
    text = README.read_text()
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def small(code: str) -> str:
    for old, new in SMALL:
        code = code.replace(old, new)
    return code


def test_the_replacements_match_the_readme():
    code = "\n".join(python_blocks())
    for old, _ in SMALL:
        assert code.count(old) == 1, old


def _run(code: str, tmp_path: Path, monkeypatch) -> dict:
    monkeypatch.chdir(tmp_path)  # the README's paths (reports/...) are relative to where it runs
    fast = functools.partial(nasbox.measure.measure_latency, min_runs=5, max_runs=20, budget_s=0.05, max_warmup_s=0.3)
    monkeypatch.setattr(nasbox.search.costs, "measure_latency", fast)
    scope: dict = {"__name__": "__readme__"}
    exec(compile(small(code), str(README), "exec"), scope)  # noqa: S102 - the README's own code
    return scope


def test_the_python_section_runs_as_written(tmp_path, monkeypatch, capsys):
    blocks = [b for b in python_blocks() if "supernet" not in b]
    assert len(blocks) == 2
    first = _run(blocks[0], tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert "['seed_cnn', 'resnet', 'mobilenet', 'efficientnet', 'nb201', 'darts']" in out and "Analysis(params=" in out
    result = first["result"]  # the loaded study: the one the search wrote
    assert type(result).__name__ == "SearchResult" and result.study_name == "python-demo" and len(result.trials) == 2
    assert first["arch"].arch_id == result.trials.set_index("number").loc[int(first["knee"]["number"]), "arch_id"]
    assert (tmp_path / "reports" / "python-demo" / "index.html").is_file()
    _run(blocks[1], tmp_path, monkeypatch)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == str(["alexnet", "zfnet", "googlenet", "resnet18", "se_resnet18", "mobilenet_v2",
                            "efficientnet_b0"])
    assert lines[1] == "3504872" and lines[2].startswith("3504872 ")


@pytest.mark.slow  # trains a small supernet first (about half a minute)
def test_the_supernet_block_runs_on_a_supernet_trained_for_it(tmp_path, monkeypatch):
    from nasbox.cli import main
    from tests.supernet.test_weights import SMALL as SPACES

    block = next(b for b in python_blocks() if "supernet" in b)
    args = [a for k, v in SPACES["mobilenet"].items() for a in ("--space-arg", f"{k}={v}")]
    assert main(["supernet", "train", "--space", "mobilenet", *args, "--dataset", "synthetic", "--epochs", "1",
                 "--batch-size", "32", "--subset", "200", "--calibration-images", "64",
                 "--reports-dir", str(tmp_path / "reports")]) == 0
    scope = _run(block, tmp_path, monkeypatch)
    standalone, subnet = scope["standalone"], scope["subnet"]
    assert sum(p.numel() for p in standalone.parameters()) == nasbox.analyze(subnet).params
