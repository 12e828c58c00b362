"""The model registry (loaded once per weights hash) and the run store (computed once, read by key)."""

import threading
import time

import numpy as np
import pytest
import torch

from explorer.config import SHIPPED_DIR
from explorer.runs.store import RunMissing, RunStore, size_of
from explorer.store.registry import ModelRegistry, command_line_model, resolve_model
from explorer.training.config import TrainConfig
from explorer.training.trainer import Trainer

TINY = TrainConfig(dataset="two_moons", n_data=256, width=16, depth=1, T=20, steps=3, batch=32)


@pytest.fixture
def roots(tmp_path):
    return [SHIPPED_DIR, tmp_path]


def save_tiny(folder, seed: int) -> None:
    trainer = Trainer(TrainConfig(**{**TINY.__dict__, "seed": seed}), folder)
    while trainer.step < TINY.steps:
        trainer.train_step()
    trainer.save()


def test_a_model_is_loaded_once_per_weights_and_reloaded_when_they_change(roots, tmp_path):
    registry = ModelRegistry(lambda: roots)
    save_tiny(tmp_path / "tiny", seed=0)
    first = registry.handle("tiny")
    assert registry.handle("tiny") is first, "the same weights are not loaded twice"
    save_tiny(tmp_path / "tiny", seed=1)  # retrained under the same name
    second = registry.handle("tiny")
    assert second is not first and second.weights != first.weights
    assert second.weights == registry.weights("tiny")
    changed = [not torch.equal(a, b) for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True)]
    assert any(changed), "the new weights are served"
    assert registry.loaded() == [("tiny", second.weights)], "the old copy is dropped"
    registry.invalidate("tiny")
    assert registry.loaded() == []


def test_the_registry_is_bounded_and_keeps_the_most_recently_used(roots):
    registry = ModelRegistry(lambda: roots, max_loaded=2)
    for name in ["spiral-mlp", "two_moons-mlp", "spiral-flow", "two_moons-mlp"]:
        registry.handle(name)
    assert [name for name, _ in registry.loaded()] == ["spiral-flow", "two_moons-mlp"]


def test_a_handle_says_what_its_checkpoint_holds(roots):
    registry = ModelRegistry(lambda: roots)
    spiral, digits, absorbing = (registry.handle(n) for n in ("spiral-mlp", "digits-unet", "digits-absorbing"))
    assert (spiral.kind, spiral.bound, spiral.schedule.T, spiral.process) == ("points", 1.5, 1000, None)
    assert (digits.kind, digits.bound, digits.prediction) == ("image", 1.0, digits.info.prediction)
    assert (
        absorbing.kind == "categorical" and absorbing.schedule is None and absorbing.process.mask == 17
    )  # 17 levels, then [MASK]
    assert registry.handle("patterns-cond").classes == ("spiral", "moons", "circle", "eight Gaussians")


def test_names_are_names_and_only_the_command_line_takes_paths(roots, tmp_path):
    save_tiny(tmp_path / "elsewhere" / "mine", seed=0)
    path = str(tmp_path / "elsewhere" / "mine")
    with pytest.raises(ValueError, match="bad model name"):
        resolve_model(path, roots)
    assert resolve_model(path, roots, allow_path=True) == (tmp_path / "elsewhere" / "mine").resolve()
    with pytest.raises(ValueError, match="no checkpoint at"):
        resolve_model(str(tmp_path), roots, allow_path=True)
    name, registry = command_line_model(path)
    assert name == "mine" and registry.handle(name).folder == (tmp_path / "elsewhere" / "mine").resolve()


def test_the_run_store_computes_once_and_reads_without_computing():
    store, calls = RunStore(), []

    def make():
        calls.append(1)
        time.sleep(0.05)
        return {"x": np.zeros(10)}

    key = ("reverse", ("settings",), "hash")
    threads = [threading.Thread(target=store.compute, args=(key, make)) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 1, "four requests for one missing run compute it once"
    assert store.get(key) is store.compute(key, make) and len(calls) == 1
    assert store.get(("reverse", ("other",), "hash")) is None and len(calls) == 1
    assert store.get(None) is None and store.get(["unhashable"]) is None
    with pytest.raises(RunMissing):  # the UI words it as "press Sample first" (test_app_generate)
        store.require(("compare", (), "hash"))


def test_the_run_store_is_bounded_by_count_and_by_bytes():
    store = RunStore(max_runs=3, max_bytes=10_000)
    for i in range(5):
        store.put(("k", i, ""), np.zeros(100))  # 800 bytes each
    assert len(store) == 3 and store.get(("k", 0, "")) is None and store.get(("k", 4, "")) is not None
    store.put(("big", 0, ""), np.zeros(1000))  # 8,000 bytes: the oldest go until the total fits
    assert store.get(("big", 0, "")) is not None and len(store) == 3 and store.get(("k", 2, "")) is None
    assert size_of({"a": [torch.zeros(4, dtype=torch.float64), np.zeros(3, dtype=np.float32)]}) == 32 + 12
