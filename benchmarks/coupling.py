"""Straighter flows: the shipped rectified-flow models of the spiral trained with independent noise
(spiral-flow), on its ODE's pairs (spiral-reflow, one reflow) and with minibatch optimal-transport
pairs (spiral-otflow, `train --coupling ot --ot-chunk 1024 --ot-pairs 262144`): mean distance to
the spiral of 4,000 Euler samples (seed 0, uniformly spaced steps from t = T, x0_hat clipped
to the data range) at 1, 2, 5 and 10 steps, and the straightness of 256 Euler-200 paths (Liu
et al.'s S and the chord deviation).
Run: python -m benchmarks.coupling   (writes results/coupling.json)
"""

from __future__ import annotations

import torch

from benchmarks.common import report
from explorer.evaluation.metrics import chord_deviation, mean_spiral_distance, path_straightness
from explorer.runs.common import trajectory
from explorer.runs.compare import clip_bound
from explorer.runs.flow import FLOW_PATHS, path_times
from explorer.sampling.inversion import ode_paths
from explorer.sampling.registry import SamplerSettings
from explorer.store.registry import load_model

MODELS = {"spiral-flow": "independent", "spiral-reflow": "one reflow", "spiral-otflow": "minibatch OT"}
POINTS, SEED, STEPS = 4000, 0, (1, 2, 5, 10)


def main() -> None:
    rows = []
    for name, coupling in MODELS.items():
        loaded, schedule = load_model(name)
        row = {"model": name, "coupling": coupling}
        for S in STEPS:
            settings = SamplerSettings("euler", S, spacing="trailing", clip_x0=clip_bound(name))
            _, xs, _, _ = trajectory(loaded, schedule, POINTS, SEED, settings, {0})
            row[f"{S} step{'s' if S > 1 else ''}"] = round(mean_spiral_distance(xs[-1]), 4)
        x_T = torch.randn(FLOW_PATHS["points"], 2, generator=torch.Generator().manual_seed(SEED))
        paths = ode_paths(loaded.model, schedule, x_T, loaded.prediction)
        row["straightness S"] = round(path_straightness(paths, path_times(schedule)), 4)
        row["chord deviation"] = round(chord_deviation(paths), 4)
        rows.append(row)
        print(row, flush=True)
    report("coupling", rows, list(rows[0]))


if __name__ == "__main__":
    main()
