"""The device-wide measuring slot: a latency is never timed while another process runs training steps."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest
import torch

from nasbox.data import load_dataset
from nasbox.measure.slot import DeviceSlot, device_slot_name
from nasbox.model.build import build_model
from nasbox.spaces import get_space
from nasbox.train.brief import train_model
from nasbox.train.recipe import TrainConfig


def _trainer(directory, log, steps: int, step_s: float) -> None:
    """A process that trains: ``steps`` steps, a pause point after each, logging each step's interval."""
    slot = DeviceSlot("cpu", directory, name="test")
    with slot.training():
        for _ in range(steps):
            t0 = time.monotonic()
            time.sleep(step_s)
            log.put(("step", t0, time.monotonic()))
            slot.pause_point()


def test_no_measurement_overlaps_another_process_training_steps(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    log = ctx.Queue()
    trainers = [ctx.Process(target=_trainer, args=(tmp_path, log, 40, 0.01)) for _ in range(2)]
    for p in trainers:
        p.start()
    time.sleep(1.0)  # the trainers are under way (spawn and import take a moment)
    slot = DeviceSlot("cpu", tmp_path, name="test")
    measured = []
    for _ in range(3):
        with slot.measuring():
            t0 = time.monotonic()
            time.sleep(0.05)
            measured.append((t0, time.monotonic()))
        time.sleep(0.03)
    for p in trainers:
        p.join(30)
        assert p.exitcode == 0
    steps = []
    while not log.empty():
        steps.append(log.get()[1:])
    assert len(steps) == 80, "every step ran"
    overlaps = [(m, s) for m in measured for s in steps if s[0] < m[1] and m[0] < s[1]]
    assert not overlaps
    # the measurements happened while the trainers were still running (not simply after them)
    assert any(s[0] > measured[0][1] for s in steps)


def test_a_trainer_pauses_only_when_a_measurer_waits(tmp_path):
    trainer = DeviceSlot("cpu", tmp_path, name="t")
    measurer = DeviceSlot("cpu", tmp_path, name="t")  # another open file: another process to flock
    with trainer.training():
        assert not trainer.pause_point()
        done = threading.Event()

        def measure():
            with measurer.measuring():
                done.set()

        thread = threading.Thread(target=measure)
        thread.start()
        deadline = time.monotonic() + 5
        while not trainer.waiting() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert trainer.waiting() and not done.is_set(), "the measurer waits for the trainer's pause point"
        assert trainer.pause_point()
        thread.join(5)
        assert done.is_set()
    with measurer.measuring():  # nobody trains: at once
        pass


def test_brief_training_calls_the_pause_point_at_its_host_syncs():
    data = load_dataset("synthetic", synthetic_shape=(3, 8, 8), synthetic_size=120, seed=0)
    arch = get_space("seed_cnn", input_shape=(3, 8, 8), num_classes=10).example()
    calls = []
    train_model(build_model(arch, seed=0), data.train, None, TrainConfig(iterations=7, batch_size=16), data.spec,
                device=torch.device("cpu"), pause=lambda: calls.append(1))
    assert len(calls) == 7  # every step on a CPU


def test_processes_name_a_cpu_by_its_type():
    assert device_slot_name("cpu") == "cpu"
    if not torch.cuda.is_available():
        pytest.skip("no GPU: its UUID names it")
    assert device_slot_name("cuda:0").startswith("gpu-")
