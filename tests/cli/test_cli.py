"""Tests of the command line: listings, per-layer tables, and one-line errors with exit code 2."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nasbox.cli import build_parser, main
from nasbox.cli._help import EXAMPLES
from nasbox.spaces import list_spaces
from nasbox.zoo import get_zoo


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in err


def test_spaces_lists_every_registered_space(capsys):
    code, out, _ = run(capsys, "spaces", "--json")
    assert code == 0
    rows = json.loads(out)
    assert {r["name"] for r in rows} == {cls.name for cls in list_spaces()} >= {
        "seed_cnn", "resnet", "mobilenet", "efficientnet"}
    seed = next(r for r in rows if r["name"] == "seed_cnn")
    assert any("N < 5" in rule for rule in seed["rules"]) and seed["size"] > 1


def test_show_resnet18_reports_the_published_parameter_count(capsys):
    code, out, _ = run(capsys, "show", "resnet18")
    assert code == 0
    assert "11,173,962" in out
    code, out, _ = run(capsys, "show", "resnet18", "--json")
    data = json.loads(out)
    assert data["params"] == 11_173_962
    assert data["flops"] == 2 * data["macs"]
    assert sum(layer["params"] for layer in data["layers"]) == data["params"]


def test_show_space_sample_and_arch_file_agree(capsys, tmp_path):
    code, out, _ = run(capsys, "show", "seed_cnn", "--input", "1,28,28", "--seed", "3", "--json")
    assert code == 0
    data = json.loads(out)
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(data["architecture"]))
    code, out2, _ = run(capsys, "show", str(path), "--json")
    assert code == 0
    again = json.loads(out2)
    assert again["arch_id"] == data["arch_id"] and again["macs"] == data["macs"]
    assert data["architecture"]["input_shape"] == [1, 28, 28]
    last = data["layers"][-1]
    assert last["name"] == "head.classifier" and last["out_shape"] == [10, 1, 1]


def test_show_table_has_layer_shape_params_macs_and_totals(capsys):
    code, out, _ = run(capsys, "show", "vgg11", "--input", "3x32x32")
    assert code == 0
    total = sum(p.numel() for p in __import__("nasbox").build_model(get_zoo("vgg11")).parameters())
    assert f"{total:,}" in out
    assert "32 x 32 x 64" in out  # W x H x D of the first conv


def test_zoo_lists_every_network(capsys):
    code, out, _ = run(capsys, "zoo", "--json")
    rows = json.loads(out)
    assert code == 0 and {r["name"] for r in rows} >= {"alexnet", "vgg16", "resnet18", "mobilenet_v2"}


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["show", "no_such_space"], ["unknown space", "seed_cnn"]),
        (["show", "seed_cnn", "--space-arg", "m_max"], ["malformed --space-arg"]),
        (["show", "seed_cnn", "--space-arg", "n_max=5"], ["N < 5"]),
        (["show", "seed_cnn", "--space-arg", "m_max=six"], ["m_max"]),
        (["show", "seed_cnn", "--space-arg", "colour=red"], ["no bound 'colour'"]),
        (["show", "missing.json"], ["does not exist"]),
        (["show", "seed_cnn", "--input", "3,32"], ["C,H,W"]),
        (["search", "--budget", "0"], ["budget"]),
        (["search", "--budget", "-3"], ["budget"]),
        (["search", "--objectives", "accuracy,speed"], ["unknown objective", "speed"]),
        (["search", "--sampler", "bayes"], ["--sampler", "one of tpe, nsga2"]),
        (["search", "--epochs", "1", "--iterations", "5"], ["not allowed with"]),
        (["search", "--dataset", "cifar10", "--data-dir", "/nonexistent/dir"], ["/nonexistent/dir"]),
        (["search", "--dataset", "imagenet"], ["imagenet"]),
        (["search", "--device", "tpu"], ["tpu"]),
        (["frobnicate"], ["invalid choice"]),
        # every numeric option is checked where it is parsed
        (["search", "--lr", "-1"], ["--lr", "> 0"]),
        (["search", "--lr", "nan"], ["--lr", "finite"]),
        (["search", "--heartbeat", "0"], ["--heartbeat", ">= 1"]),
        (["search", "--heartbeat", "1.5"], ["--heartbeat", "whole number"]),
        (["search", "--epochs", "0"], ["--epochs"]),
        (["search", "--iterations", "-5"], ["--iterations"]),
        (["search", "--batch-size", "0"], ["--batch-size"]),
        (["search", "--val-fraction", "1.5"], ["--val-fraction", "between 0 and 1"]),
        (["search", "--subset", "3"], ["--subset", ">= 10"]),
        (["search", "--seed", "-1"], ["--seed"]),
        (["search", "--max-params", "0"], ["--max-params"]),
        (["search", "--max-macs", "2.5"], ["--max-macs", "whole number"]),
        (["search", "--max-latency-ms", "-1"], ["--max-latency-ms"]),
        (["search", "--prescreen", "-2"], ["--prescreen"]),
        (["search", "--workers", "0"], ["--workers"]),
        (["search", "--budget", "ten"], ["--budget", "number"]),
        (["search", "--report-every", "-1"], ["--report-every"]),
        (["search", "--report-every-s", "0"], ["--report-every-s"]),
        (["show", "seed_cnn", "--classes", "0"], ["--classes"]),
        (["show", "seed_cnn", "--seed", "-3"], ["--seed"]),
        (["zoo", "--classes", "-1"], ["--classes"]),
        (["zoo", "--dataset", "synthetic", "--lr", "0"], ["--lr"]),
        (["zoo", "--dataset", "synthetic", "--batch-size", "-1"], ["--batch-size"]),
        (["train", "--zoo", "resnet18", "--epochs", "0"], ["--epochs"]),
        (["train", "--zoo", "resnet18", "--lr", "-0.1"], ["--lr"]),
        (["train", "--zoo", "resnet18", "--weight-decay", "-1"], ["--weight-decay"]),
        (["train", "--zoo", "resnet18", "--stop-after", "0"], ["--stop-after"]),
        (["train", "--study", "s", "--trial", "-1"], ["--trial"]),
        (["export", "--zoo", "resnet18", "--atol", "0"], ["--atol"]),
        (["export", "--zoo", "resnet18", "--threads", "0"], ["--threads"]),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(capsys, tmp_path, monkeypatch, argv, needles):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "reports").exists()


def test_malformed_arch_json(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run(capsys, "show", str(bad))
    assert_one_line_error(code, err, "malformed architecture file")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"input_shape": [3, 32, 32], "num_classes": 10, "stages": [{"blocks": [
        {"type": "conv", "out_channels": 8, "kernel": 4}]}]}))
    code, _, err = run(capsys, "show", str(wrong))
    assert_one_line_error(code, err, "kernel")


def test_vanishing_map_in_arch_json_names_the_layer(capsys, tmp_path):
    stages = [{"blocks": [{"type": "conv", "out_channels": 8}], "pool": {"kind": "max", "kernel": 2, "stride": 2}}] * 6
    path = tmp_path / "deep.json"
    path.write_text(json.dumps({"input_shape": [1, 28, 28], "num_classes": 10, "stages": stages}))
    code, _, err = run(capsys, "show", str(path))
    assert_one_line_error(code, err, "stage5.pool")


def _search_args(reports: Path) -> list[str]:
    return ["search", "--dataset", "synthetic", "--iterations", "2", "--batch-size", "32", "--budget", "2",
            "--reports-dir", str(reports), "--device", "cpu", "--space-arg", "channels=4", "--space-arg", "kernels=3",
            "--space-arg", "n_max=1", "--space-arg", "l_max=0", "--space-arg", "m_max=4"]


def test_search_cli_end_to_end_and_bad_input_leaves_the_study_untouched(capsys, tmp_path):
    reports = tmp_path / "reports"
    code, out, err = run(capsys, *_search_args(reports))
    assert code == 0, err
    assert "Pareto-optimal" in out and "trials.csv" in out and "[2/2]" in out
    folder = reports / "seed_cnn-synthetic"
    journal, trials = folder / "journal.log", folder / "trials.csv"
    before = (journal.read_bytes(), trials.read_bytes())
    # same study, other objectives: refused, nothing rewritten
    code, _, err = run(capsys, *_search_args(reports), "--objectives", "accuracy,params")
    assert_one_line_error(code, err, "objectives")
    code, _, err = run(capsys, *_search_args(reports), "--budget", "0")
    assert_one_line_error(code, err, "budget")
    assert (journal.read_bytes(), trials.read_bytes()) == before
    # rerunning the same command resumes: nothing more to do
    code, out, _ = run(capsys, *_search_args(reports))
    assert code == 0 and "2 already finished" in out
    assert journal.read_bytes().count(b'"state":1') == before[0].count(b'"state":1')


def test_unwritable_reports_folder(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = run(capsys, *_search_args(blocker))
    assert_one_line_error(code, err, "reports-dir")


def test_corrupt_cifar_batch(capsys, tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                 "batches.meta"):
        (folder / name).write_bytes(b"\x80\x04garbage")
    code, _, err = run(capsys, "search", "--dataset", "cifar10", "--data-dir", str(tmp_path),
                       "--reports-dir", str(tmp_path / "r"))
    assert_one_line_error(code, err, "CIFAR")
    assert not (tmp_path / "r").exists()


def test_console_script_exit_code():
    proc = subprocess.run([sys.executable, "-m", "nasbox", "show", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1


def test_python_dash_m_nasbox_and_version_from_the_package_metadata():
    version = importlib.metadata.version("nasbox")
    proc = subprocess.run([sys.executable, "-m", "nasbox", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"nasbox {version}"
    import nasbox

    assert nasbox.__version__ == version


def test_the_package_is_typed(tmp_path):
    """py.typed is in the wheel (not only in the source tree an editable install reads)."""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = tmp_path.glob("nasbox-*.whl")
    assert "nasbox/py.typed" in zipfile.ZipFile(wheel).namelist()
    assert importlib.resources.files("nasbox").joinpath("py.typed").is_file()


@pytest.mark.parametrize("command", ["search", "zoo", "train", "export", "report", "show", "spaces"])
def test_help_states_defaults_and_gives_examples(capsys, command):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert "examples:" in out and f"nasbox {command}" in out.split("examples:")[1]
    if command == "search":
        flat = " ".join(out.split("options:", 1)[1].split())  # argparse wraps the help at the terminal's width
        for option, default in (("--budget", "50)"), ("--batch-size", "32, or 256 on a GPU"),
                                ("--lr", "0.1 at batch 32"), ("--seed", "0)"), ("--report-every", "10)")):
            assert f"{option} " in flat and f"(default: {default}" in flat.split(f"{option} ", 1)[1][:260], option


def test_every_example_in_the_help_parses():
    """An example that no longer parses (a renamed option) fails here, not in a user's terminal."""
    parser = build_parser()
    lines = [line.split("#")[0].strip() for text in EXAMPLES.values() for line in text.splitlines()[1:]]
    commands = [line for line in lines if line.startswith("nasbox ") and "<command>" not in line]
    assert len(commands) >= 15
    for line in commands:
        argv = shlex.split(line.replace("<arch_id>", "0123abcd"))[1:]
        args = parser.parse_args(argv)
        assert args.command == argv[0], line


def test_extra_workers_run_the_same_search_but_leave_confirming_to_worker_0(tmp_path, monkeypatch):
    import argparse
    import subprocess

    from nasbox.cli.search import _start_workers

    started = []

    class FakeProcess:
        pid = 4242

        def __init__(self, cmd, **kwargs):
            started.append(cmd)

    monkeypatch.setattr(subprocess, "Popen", FakeProcess)
    argv = ["search", "--budget", "9", "--workers", "3", "--confirm", "2", "--device=cpu", "--study", "s"]
    args = argparse.Namespace(device="cpu", workers=3, reports_dir=str(tmp_path))
    out = _start_workers(type("C", (), {"print": staticmethod(lambda *a, **k: None)})(), args, argv)
    assert len(out) == 3 and len(started) == 2
    for cmd in started:
        rest = cmd[cmd.index("search"):]
        assert rest[:3] == ["search", "--budget", "9"] and "--study" in rest
        assert rest.count("--confirm") == 1 and rest[rest.index("--confirm") + 1] == "0"
        assert rest.count("--workers") == 1 and rest[rest.index("--workers") + 1] == "1"
        assert "--device=cpu" not in rest and rest[rest.index("--device") + 1] == "cpu"


def test_a_folder_where_a_file_is_expected_is_one_line(capsys, tmp_path):
    folder = tmp_path / "space.py"
    folder.mkdir()
    code, _, err = run(capsys, "search", "--space", f"{folder}:MySpace", "--reports-dir", str(tmp_path / "r"))
    assert_one_line_error(code, err, "is a folder", "space.py")
    code, _, err = run(capsys, "show", "seed_cnn", "--space-config", str(tmp_path))
    assert_one_line_error(code, err, "is a folder", "[space] table")
    assert not (tmp_path / "r").exists()


def test_debug_is_understood_after_the_command_too(capsys, tmp_path):
    code, out, _ = run(capsys, "spaces", "--json", "--debug")
    assert code == 0 and json.loads(out)
    with pytest.raises(Exception, match="unknown space"):  # --debug shows the error itself, not one line
        main(["search", "--space", "nosuch", "--reports-dir", str(tmp_path), "--debug"])


def test_an_unknown_argument_points_at_its_commands_help(capsys):
    code, _, err = run(capsys, "search", "--budjet", "3")
    assert_one_line_error(code, err, "unrecognized arguments: --budjet 3", "see 'nasbox search --help'")
    code, _, err = run(capsys, "--frobnicate")
    assert code == 2 and "error: " in err and "Traceback" not in err


def test_output_cut_short_by_its_reader_ends_quietly():
    """The reader is gone before the first write (``| true`` exits at once; nasbox takes a moment to start), so
    the write meets a closed pipe every time."""
    for command in ("spaces --json", "zoo --json"):
        proc = subprocess.run(f"set -o pipefail; {shlex.quote(sys.executable)} -m nasbox {command} | true",
                              shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=300)
        assert proc.returncode == 141, (command, proc.returncode, proc.stderr)  # 128 + SIGPIPE, as Unix tools end
        assert proc.stderr == "", proc.stderr


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["search", "--help"], ["spaces", "--json"]])
def test_help_version_and_spaces_load_no_heavy_library(argv):
    """What prints help, the version or the spaces imports no torch, pandas, optuna or matplotlib (each command's
    module loads when it runs): ``nasbox --help`` answers in a fraction of a second."""
    code = ("import sys, contextlib, io\nfrom nasbox.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('torch', 'pandas', 'optuna', 'matplotlib', 'plotly') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", (argv, out.stdout)
