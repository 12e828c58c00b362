"""Faults: a training process killed at random instants, including mid-write, always leaves
a loadable checkpoint, which the registry lists after a restart and `--resume` continues."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from explorer.store.checkpoint import load_checkpoint, read_config
from explorer.store.registry import find_checkpoints

ROOT = Path(__file__).resolve().parents[1]
KILLS = 6


def start_training(out: Path, resume: bool) -> subprocess.Popen:
    # checkpoint every 2 steps so a good share of the time is spent writing one
    command = [sys.executable, "-m", "explorer", "train", "--dataset", "spiral", "--width", "256", "--depth", "4",
               "--steps", "200000", "--batch", "64", "--checkpoint-every", "2", "--eval-n", "0", "--device", "cpu",
               "--out", str(out)] + (["--resume"] if resume else [])  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_killing_training_mid_write_leaves_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "models" / "killed"
    rng = random.Random(0)
    steps_seen = []
    for i in range(KILLS):
        process = start_training(out, resume=i > 0)
        try:
            deadline = time.time() + 60
            start_step = steps_seen[-1] if steps_seen else 0
            while True:  # wait for a checkpoint newer than the one we resumed from
                assert process.poll() is None, process.stderr.read().decode()
                assert time.time() < deadline, "no checkpoint was written"
                try:
                    if read_config(out)["steps"] > start_step:
                        break
                except ValueError:
                    pass  # no checkpoint yet
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.3))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        loaded = load_checkpoint(out)  # verifies every hash
        steps_seen.append(loaded.info.steps)
        stored = sorted(p.name for p in out.glob("*.safetensors"))
        assert len(stored) <= 4, stored  # this save's two files, at most two of the previous one's
    assert steps_seen == sorted(steps_seen) and steps_seen[-1] > steps_seen[0], steps_seen
    assert find_checkpoints([tmp_path / "models"]) == {"killed": out}  # a restarted registry lists it
