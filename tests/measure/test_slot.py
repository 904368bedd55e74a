"""The device-wide measuring slot: a latency is never timed while another process runs training steps."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import subprocess
import sys
import threading
import time

import pytest
import torch

from nasbox.data import load_dataset
from nasbox.device import slot_name as device_slot_name
from nasbox.measure.slot import DeviceSlot
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


def test_an_unwritable_cache_turns_the_slot_and_the_ledger_off_instead_of_failing(tmp_path):
    from nasbox.measure.memory import MemoryLedger

    blocker = tmp_path / "file"
    blocker.write_text("a file where the slots folder should be")
    slot = DeviceSlot("cpu", blocker / "slots", name="x")
    with slot.training():
        assert not slot.pause_point()
    with slot.measuring():
        pass
    assert not slot.enabled
    with MemoryLedger("cpu", budget=10, directory=blocker / "slots", name="x").reserve(100) as waited:
        assert waited == 0.0


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


# --------------------------------------------------------------------------- memory ledger


def test_a_reservation_waits_while_the_others_leave_too_little(tmp_path):
    from nasbox.measure.memory import CONTEXT_BYTES, MemoryLedger

    budget = 2 * CONTEXT_BYTES + 150
    first = MemoryLedger("cpu", budget=budget, directory=tmp_path, name="gpu", poll_s=0.01)
    second = MemoryLedger("cpu", budget=budget, directory=tmp_path, name="gpu", poll_s=0.01)
    second.key = str(os.getppid())  # another live process's reservation
    with first.reserve(100) as waited:
        assert waited < 0.1 and first.reservations() == {first.key: 100 + CONTEXT_BYTES}
        with pytest.raises(TimeoutError, match="stayed taken"):
            with second.reserve(100, timeout_s=0.1):
                pass
        with second.reserve(40):  # fits beside it
            assert sum(first.reservations().values()) == 140 + 2 * CONTEXT_BYTES
    got = []

    def later():
        with second.reserve(100) as waited:
            got.append(waited)

    with first.reserve(100):
        thread = threading.Thread(target=later)
        thread.start()
        time.sleep(0.2)
        assert not got, "it waits while the first holds the memory"
    thread.join(5)
    assert got and got[0] >= 0.15
    assert first.reservations() == {}


def test_a_reservation_waits_for_the_devices_free_memory_too(tmp_path):
    """Memory the ledger does not know of (another program, a worker's cached blocks) holds a reservation back."""
    from nasbox.measure.memory import CONTEXT_BYTES, MemoryLedger

    free = {"bytes": 50}
    ledger = dict(budget=10 * CONTEXT_BYTES, directory=tmp_path, name="gpu", poll_s=0.01, free=lambda: free["bytes"])
    first, second = MemoryLedger("cpu", **ledger), MemoryLedger("cpu", **ledger)
    second.key = str(os.getppid())  # another live process
    with first.reserve(100) as waited:  # alone: it runs whatever the device says (out of memory stays its failure)
        assert waited < 0.1
        with pytest.raises(TimeoutError):  # the budget has room; the device has only 50 bytes free
            with second.reserve(100, timeout_s=0.1):
                pass
        got = []

        def later():
            with second.reserve(100) as w:
                got.append(w)

        thread = threading.Thread(target=later)
        thread.start()
        time.sleep(0.15)
        assert not got
        free["bytes"] = 100  # the other program let go
        thread.join(5)
        assert got and got[0] >= 0.1


def test_a_candidate_larger_than_the_budget_runs_alone_and_dead_reservations_are_dropped(tmp_path):
    from nasbox.measure.memory import MemoryLedger

    ledger = MemoryLedger("cpu", budget=10, directory=tmp_path, name="gpu", poll_s=0.01)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ledger.path.parent.mkdir(parents=True, exist_ok=True)
    ledger.path.write_text(json.dumps({str(dead.pid): 10**12}))
    with ledger.reserve(10**9, timeout_s=1) as waited:  # the dead process's reservation does not block it
        assert waited < 1 and list(ledger.reservations()) == [ledger.key]
    assert MemoryLedger("cpu").budget is None  # a CPU has no ledger: reserving returns at once


def test_the_training_memory_estimate_counts_weights_and_saved_activations():
    from nasbox.measure.memory import training_bytes
    from nasbox.model.analysis import analyze

    arch = get_space("resnet", input_shape=(3, 32, 32), num_classes=10).example()
    info = analyze(arch)
    activations = sum(math.prod(layer.out_shape) for layer in info.layers)
    assert training_bytes(info, 64, bf16=False) == 12 * info.params + 3 * activations * 64 * 4
    assert training_bytes(info, 128, bf16=True) - training_bytes(info, 64, bf16=True) == 3 * activations * 64 * 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("space_name", ["seed_cnn", "resnet", "mobilenet"])
def test_cuda_training_memory_stays_under_the_estimate(space_name):
    """The ledger's estimate against a GPU's real peak while brief training runs (bf16, batch 256)."""
    import random

    from nasbox.measure.memory import training_bytes
    from nasbox.model.analysis import analyze

    data = load_dataset("synthetic", synthetic_shape=(3, 32, 32), synthetic_size=600).to("cuda")
    space = get_space(space_name, input_shape=(3, 32, 32), num_classes=10)
    rng = random.Random(0)
    for _ in range(3):
        arch = space.sample_random(rng)[1]
        model = build_model(arch, seed=0)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        train_model(model, data.train, None, TrainConfig(iterations=3, batch_size=256, augment=False), data.spec,
                    device=torch.device("cuda"))
        peak = torch.cuda.max_memory_allocated() - base
        estimate = training_bytes(analyze(arch), 256, bf16=True)
        print(f"{space_name} {arch.encode()[:60]}: peak {peak / 2**20:.1f} MiB, estimate {estimate / 2**20:.1f} MiB, "
              f"ratio {peak / estimate:.2f}")
        assert peak <= estimate  # a reservation covers what training takes (the CUDA context is counted apart)
