"""Classifier-free guidance: precision and diversity against the guidance scale w.

For each shipped class-conditional model, each class and w in {0, 1, 2, 4, 8}: samples from one
seeded x_T with DDIM-50 (eta = 0, trailing, x0 clipped to the data range). Precision: the share
the reference classifier assigns to the asked class (patterns: the class of the nearest of 2,000
fresh points per class; digits: the digits CNN). Diversity: for the patterns, coverage (the share
of the class's reference points with a sample within 0.05); for the digits, k-NN recall (k = 3) in
the digits evaluator's features of that class's training digits by the samples.
Run: python -m benchmarks.guidance   (writes results/guidance.json)
"""

from __future__ import annotations

from benchmarks.common import report
from explorer.config import model_roots
from explorer.runs.guidance import SWEEP_SCALES, SweepSettings, run_sweep
from explorer.store.registry import find_checkpoints

MODELS = {"patterns-cond": (4, 1000), "digits-cond": (10, 64)}  # classes, samples per class


def main() -> None:
    available = find_checkpoints(model_roots())
    rows = []
    for name, (classes, n) in MODELS.items():
        if name not in available:
            print(f"skipping {name}: not in the registry")
            continue
        for label in range(classes):
            sweep = run_sweep(SweepSettings(name, label, n, seed=0))
            row = {"model": name, "class": sweep.classes[label] if sweep.classes else label}
            for w in SWEEP_SCALES:
                row[f"w={w:g} precision"] = round(sweep.precision[w], 3)
                row[f"w={w:g} diversity"] = round(sweep.diversity[w], 3)
            rows.append(row)
            print(row, flush=True)
    if rows:
        report("guidance", rows, list(rows[0]))


if __name__ == "__main__":
    main()
