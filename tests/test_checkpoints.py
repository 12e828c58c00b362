"""Checkpoints: bit-exact round trip, refusal of damaged or foreign files, safe names."""

import json

import pytest
import torch

from explorer.models.networks import build_model
from explorer.store.checkpoint import CONFIG, WEIGHTS, load_checkpoint, read_config, save_checkpoint, tensor_path
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
    assert loaded.config["steps"] == 7 and loaded.config["versions"]["torch"] == torch.__version__
    assert not list(folder.glob(".*")), "no temporary files are left behind"


def test_truncated_weights_are_refused(saved):
    folder, _ = saved
    path = tensor_path(folder, read_config(folder), WEIGHTS)
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
    torch.save({"evil": 1}, tensor_path(folder, read_config(folder), WEIGHTS))  # a pickle in its place
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
