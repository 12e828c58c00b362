"""Checkpoints: bit-exact round trip, refusal of damaged or foreign files, safe names."""

import json

import pytest
import torch

from explorer.models.networks import build_model
from explorer.store.checkpoint import (
    CONFIG,
    WEIGHTS,
    load_checkpoint,
    read_config,
    read_info,
    save_checkpoint,
    tensor_path,
)
from explorer.store.registry import find_checkpoints, resolve_model


def config():
    return {"model": "mlp", "hyper": {"dim": 2, "width": 16, "depth": 1, "time_dim": 16},
            "schedule": {"name": "linear", "T": 100, "zero_terminal_snr": False}, "dataset": "spiral",
            "prediction": "eps", "steps": 7, "seed": 3, "command": "test", "metrics": {"x": 1.0}}  # fmt: skip


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = build_model("mlp", config()["hyper"])
    folder = save_checkpoint(tmp_path / "tiny", model.state_dict(), config())
    return folder, model


def test_round_trip_is_bit_exact(saved):
    folder, model = saved
    loaded = load_checkpoint(folder)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value)
    assert loaded.info.steps == 7 and read_config(folder)["versions"]["torch"] == torch.__version__
    assert not list(folder.glob(".*")), "no temporary files are left behind"


def test_truncated_weights_are_refused(saved):
    folder, _ = saved
    path = tensor_path(folder, read_info(folder), WEIGHTS)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="truncated or modified"):
        load_checkpoint(folder)


def test_tampered_config_is_refused(saved):
    folder, _ = saved
    good = json.loads((folder / CONFIG).read_text())
    cases = [
        ({**good, "model": "gpt"}, "unknown model 'gpt'"),
        ({**good, "format": "other"}, "not a diffusion-explorer"),
        ({k: v for k, v in good.items() if k != "seed"}, "'seed' is missing"),
        ({**good, "hyper": {**good["hyper"], "width": 32}}, "does not fit model"),
    ]
    for bad, message in cases:
        (folder / CONFIG).write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=message):
            load_checkpoint(folder)
    (folder / CONFIG).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_checkpoint(folder)


def test_pickle_files_are_never_loaded(tmp_path, saved):
    folder, _ = saved
    torch.save({"evil": 1}, tensor_path(folder, read_info(folder), WEIGHTS))  # a pickle in its place
    with pytest.raises(ValueError, match="truncated or modified"):
        load_checkpoint(folder)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "a/b", "..", "", ".hidden", "x" * 80])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match="bad model name"):
        resolve_model(name, [])


def test_registry_finds_models(saved, tmp_path):
    folder, _ = saved
    assert find_checkpoints([tmp_path]) == {"tiny": folder}
    assert resolve_model("tiny", [tmp_path]) == folder
    with pytest.raises(ValueError, match=r"no model named 'huge'; available: \['tiny'\]"):
        resolve_model("huge", [tmp_path])


def test_every_shipped_config_parses_into_typed_fields():
    from explorer.config import SHIPPED_DIR
    from explorer.data.registry import DataKind

    kinds = {}
    for name, folder in find_checkpoints([SHIPPED_DIR]).items():
        info = read_info(folder)
        assert info.weights == read_config(folder)["files"][WEIGHTS] and info.steps > 0 and info.command
        kinds[name] = info.kind
    assert kinds["spiral-mlp"] == DataKind.POINTS == "points" and kinds["digits-unet"] == DataKind.IMAGE
    assert kinds["digits-absorbing"] == DataKind.CATEGORICAL
    assert read_info(SHIPPED_DIR / "digits-absorbing").discrete.K == 17
    assert read_info(SHIPPED_DIR / "patterns-cond").classes and not read_info(SHIPPED_DIR / "spiral-mlp").classes


@pytest.mark.parametrize(
    "change, message",
    [
        ({"schedule": {"name": "linear"}}, "malformed schedule"),
        ({"schedule": {"name": "wobbly", "T": 10}}, "unknown schedule"),
        ({"prediction": "noise"}, "unknown prediction"),
        ({"classes": "abc"}, "'classes' is not a list"),
        ({"discrete": {"transition": "uniform"}}, "malformed discrete"),
    ],
)
def test_malformed_fields_are_refused_by_name(saved, change, message):
    folder, _ = saved
    good = json.loads((folder / CONFIG).read_text())
    (folder / CONFIG).write_text(json.dumps({**good, **change}))
    with pytest.raises(ValueError, match=message):
        read_info(folder)


def test_temporaries_left_by_a_kill_are_swept_when_the_folder_is_opened(saved):
    import os
    import time

    folder, _ = saved
    stale = [folder / ".config.json.k3j2x9", folder / ".model.safetensors.staging", folder / "..train.staging.a1"]
    for path in stale:
        path.write_bytes(b"")  # a kill between mkstemp and the rename leaves such 0-byte files
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    fresh = folder / ".config.json.inflight"  # a write in progress right now
    fresh.write_bytes(b"")
    load_checkpoint(folder)
    assert not any(p.exists() for p in stale) and fresh.exists()
