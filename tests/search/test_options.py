"""Tests of nasbox.search.options: each search option declared once, and every place derived from it."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import tomllib

import pytest

import nasbox
from nasbox.api import search_function
from nasbox.cli import build_parser
from nasbox.errors import ConfigError
from nasbox.report.setup_info import options_text
from nasbox.search.config import SearchConfig
from nasbox.search.options import add_arguments, at_least, flag_of, from_mapping, from_namespace, option, options, to_toml


def _help(parser: argparse.ArgumentParser) -> str:
    return parser.format_help()


def search_help() -> str:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["search"].format_help()


def test_every_option_appears_in_each_place_derived_from_it():
    text = search_help()
    sig = inspect.signature(nasbox.search)
    config = dataclasses.asdict(SearchConfig())
    table = options_text(config)
    declared = options(SearchConfig)
    assert len(declared) == len(dataclasses.fields(SearchConfig)) >= 36  # every field is a declared option
    for f, o in declared:
        flag = flag_of(f, o)
        if flag is not None:
            assert flag in text, flag
        assert f.name in sig.parameters and sig.parameters[f.name].default == (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default), f.name
        assert f"{flag or f.name} " in table, f.name
        assert f.name in (nasbox.search.__doc__ or ""), f.name
    assert "progress" in sig.parameters and list(sig.parameters)[0] == "space"


def test_each_check_is_the_same_on_the_command_line_and_in_python():
    bad = {"budget": 0, "subset": 5, "val_fraction": 1.5, "lr": -1.0, "epochs": 0.0, "iterations": 0, "batch_size": 0,
           "seed": -1, "max_params": 0, "max_macs": 0, "max_latency_ms": 0.0, "heartbeat_s": 0, "storage_retry_s": 0.0,
           "prescreen": -1, "confirm": -1, "report_every": -1, "report_every_s": 0.0, "sampler": "bayes",
           "latency": "guess", "objectives": ("accuracy", "speed")}
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser, SearchConfig)
    for name, value in bad.items():
        with pytest.raises(ConfigError) as python_error:
            SearchConfig(**{name: value}).check()
        f, o = next((f, o) for f, o in options(SearchConfig) if f.name == name)
        flag = flag_of(f, o)
        assert python_error.value.args[0].startswith(f"{flag} must be "), python_error.value
        text = ",".join(value) if isinstance(value, tuple) else str(value)
        if o.kind == "csv":  # checked when the config is made from the parsed text
            with pytest.raises(ConfigError):
                from_namespace(SearchConfig, parser.parse_args([flag, text])).check()
            continue
        with pytest.raises(argparse.ArgumentError) as cli_error:
            parser.parse_args([flag, text])
        rule = python_error.value.args[0].split(" must be ", 1)[1].rsplit(", got ", 1)[0]
        assert rule in str(cli_error.value), (name, str(cli_error.value))


def test_epochs_and_iterations_exclude_each_other_everywhere():
    with pytest.raises(ConfigError, match="give either --epochs or --iterations, not both"):
        SearchConfig(epochs=1.0, iterations=10).check()
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser, SearchConfig)
    with pytest.raises(argparse.ArgumentError, match="not allowed with"):
        parser.parse_args(["--epochs", "1", "--iterations", "10"])


def test_an_option_added_in_one_place_shows_up_in_help_signature_and_setup_table():
    @dataclasses.dataclass
    class Extended(SearchConfig):
        warmup_share: float = option(0.05, "share of the training spent warming up the learning rate",
                                     check=lambda v: None if 0 <= v < 1 else "a share in [0, 1)", group="training")
        probe_every: int = option(7, "probe the candidate every N steps", check=at_least(1))

    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser, Extended)
    text = _help(parser)
    assert "--warmup-share" in text and "warming up" in text and "--probe-every" in text
    args = parser.parse_args(["--warmup-share", "0.1", "--probe-every", "5e0"])
    config = from_namespace(Extended, args)
    assert (config.warmup_share, config.probe_every) == (0.1, 5)
    with pytest.raises(argparse.ArgumentError, match="a share in"):
        parser.parse_args(["--warmup-share", "2"])
    sig = inspect.signature(search_function(Extended))
    assert sig.parameters["warmup_share"].default == 0.05 and sig.parameters["probe_every"].default == 7
    table = options_text(dataclasses.asdict(config), Extended)
    assert "--warmup-share 0.1" in table and "--probe-every 5" in table
    assert "--warmup-share -" in options_text(dataclasses.asdict(SearchConfig()), Extended)  # an older study
    assert "warmup_share = 0.1" in to_toml(config)


def test_a_toml_of_a_config_reads_back_to_the_same_config(tmp_path):
    config = SearchConfig(dataset="synthetic", budget=7, objectives=("accuracy", "params"), space_args={"m_max": "5"},
                          iterations=20, augment=True, classics=False)
    text = to_toml(config, header="made by a test")
    flat = {k: v for table in tomllib.loads(text).values() for k, v in table.items()}
    again = SearchConfig(**from_mapping(SearchConfig, flat))
    assert again == config
    with pytest.raises(ConfigError, match="no search option 'budgett'"):
        from_mapping(SearchConfig, {"budgett": 3})


def test_the_search_function_takes_the_options_as_the_command_line_does(tmp_path):
    with pytest.raises(TypeError, match="budgett"):
        nasbox.search("seed_cnn", budgett=3)
    with pytest.raises(ConfigError, match="--budget must be a whole number >= 1"):
        nasbox.search("seed_cnn", budget=0, reports_dir=str(tmp_path))
    assert not list(tmp_path.iterdir())  # nothing written for bad input


TINY = ["--space-arg", "channels=4,8", "--space-arg", "kernels=3", "--space-arg", "n_max=1", "--space-arg", "l_max=0"]


def test_a_study_folder_holds_the_search_toml_that_reproduces_it_and_flags_override_a_file(capsys, tmp_path):
    from nasbox.cli import main
    from nasbox.study.storage import open_study

    first = ["search", "--dataset", "synthetic", "--iterations", "3", "--budget", "2", "--reports-dir",
             str(tmp_path), "--no-classics", "--sampler", "random", "--objectives", "accuracy,params", *TINY]
    assert main(first) == 0
    toml = tmp_path / "seed_cnn-synthetic" / "search.toml"
    text = toml.read_text()
    assert "iterations = 3" in text and "batch_size = 32" in text and 'sampler = "random"' in text
    assert "channels = [4, 8]" in text  # the space's bounds, all of them
    capsys.readouterr()
    # the file alone resumes the same study (same setup), a flag overrides it
    assert main(["search", "--config", str(toml), "--budget", "3"]) == 0
    out = capsys.readouterr().out
    assert "budget 3 trials, 2 already finished" in out
    study = open_study("seed_cnn-synthetic", reports_dir=tmp_path)
    assert len([t for t in study.trials if t.state.is_finished()]) == 3
    # a file's value for an option the command line leaves alone is kept: another fidelity is refused
    toml.write_text(text.replace("iterations = 3", "iterations = 5"))
    code = main(["search", "--config", str(toml), "--budget", "4"])
    assert code == 2 and "iterations" in capsys.readouterr().err


@pytest.mark.parametrize("content, needle", [(None, "is a folder"), ("[search]\nbudgett = 3\n", "no search option"),
                                              ("budget = [", "not a readable TOML"),
                                              ("[search]\nbudget = 0\n", "--budget must be")])
def test_a_bad_config_file_is_one_line(capsys, tmp_path, content, needle):
    from nasbox.cli import main

    path = tmp_path / "bad.toml"
    if content is None:
        path.mkdir()
    else:
        path.write_text(content)
    code = main(["search", "--config", str(path), "--reports-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and needle in err and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists()


def test_the_readmes_search_toml_is_a_valid_search(tmp_path):
    """The README's example file reads as options, and its space takes its bounds."""
    import re
    from pathlib import Path

    from nasbox.search.options import read_toml
    from nasbox.spaces import get_space

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (block,) = re.findall(r"```toml\n(.*?)```", readme, flags=re.S)
    path = tmp_path / "search.toml"
    path.write_text(block)
    config = SearchConfig(**read_toml(path, SearchConfig))
    config.check()
    assert (config.space, config.dataset, config.budget, config.epochs) == ("mobilenet", "cifar10", 200, 1)
    space = get_space(config.space, input_shape=(3, 32, 32), num_classes=10, args=config.space_args)
    assert space.width_mults == (0.5, 0.75, 1.0)


def test_the_search_toml_never_holds_the_storages_password():
    from nasbox.search.session import search_toml
    from nasbox.study.storage import without_password

    url = "postgresql://nasbox:s3cret-pw@db.example:5432/nasbox"
    assert without_password(url) == "postgresql://nasbox@db.example:5432/nasbox"
    assert without_password("sqlite:///x.db") == "sqlite:///x.db"
    text = search_toml(SearchConfig(storage=url), {"space": "seed_cnn", "dataset": "synthetic"})
    assert "s3cret-pw" not in text and 'storage = "postgresql://nasbox@db.example:5432/nasbox"' in text
    assert "PGPASSWORD" in text  # the file says where the password comes from
    assert tomllib.loads(text)  # still a valid file
