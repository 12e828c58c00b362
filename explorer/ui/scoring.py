"""Image quality where a tab shows image samples: FD at n = 297 beside its floor, precision and recall.

A tab's run holds at most 64 images, too few for a Fréchet distance (it is biased upwards at small n
and reported at one fixed n, evaluation.sample_report.FD_N). A Score button draws that many with the
tab's settings (chunk 0 is the run on screen) and these functions say what came out; every figure
sits beside what 297 real held-out digits score, so a number can be read without a reference table.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from explorer.evaluation.sample_report import FD_N
from explorer.runs.evaluate import EvaluationRun

SCORE_LABEL = f"Score {FD_N} samples (FD, precision, recall)"


SCORE_HINT = (f"FD, precision and recall rank image samples only at n = {FD_N} (FD is biased at small n): "
              f"**{SCORE_LABEL}** draws them with these settings, the run shown being the first of them.")  # fmt: skip


def score_markdown(run: EvaluationRun) -> str:
    """One evaluation as a line: FD with its interval beside the real digits' floor, precision and
    recall beside theirs, the share of near-copies of training digits, and what it cost."""
    m = run.metrics
    low, high = m["fd_interval"]
    return (
        f"**FD {m['fd']:.2f}** [{low:.2f}, {high:.2f}] to real digits, lower is better (297 real held-out "
        f"digits: {m['fd_floor']:.2f}) · precision {m['precision']:.2f} (real {m['precision_floor']:.2f}) · "
        f"recall {m['recall']:.2f} (real {m['recall_floor']:.2f}) · near-copies of training digits "
        f"{m['memorised_share']:.1%} · {run.n} samples of {run.sampler} ({run.nfe} model calls each), "
        f"{run.seconds:.0f} s"
    )


SCORE_HEADERS = ["sampler", "NFE", "FD ↓", "95% interval", "precision ↑", "recall ↑", "copies", "s"]


def score_table(runs: list[EvaluationRun]) -> dict[str, Any]:
    """One row per evaluated configuration (a gr.Dataframe value)."""
    rows = [[r.sampler, r.nfe, round(r.metrics["fd"], 2),
             f"[{r.metrics['fd_interval'][0]:.2f}, {r.metrics['fd_interval'][1]:.2f}]",
             round(r.metrics["precision"], 3), round(r.metrics["recall"], 3),
             f"{r.metrics['memorised_share']:.1%}", round(r.seconds)] for r in runs]  # fmt: skip
    return {"headers": SCORE_HEADERS, "data": rows}


def floor_line(runs: list[EvaluationRun]) -> str:
    """What real digits score on the same measures (the floors every row is read against)."""
    m = runs[0].metrics
    return (f"297 real held-out digits score FD {m['fd_floor']:.2f}, precision {m['precision_floor']:.2f}, "
            f"recall {m['recall_floor']:.2f}: a sampler near those is as good as this evaluator can tell.")  # fmt: skip


def score_controls(prefix: str, visible: bool) -> tuple[Any, Any]:
    """The Score button and the line it fills, shown for image models only."""
    button = gr.Button(SCORE_LABEL, elem_id=f"{prefix}-score", visible=visible, size="sm")
    text = gr.Markdown(SCORE_HINT if visible else "", elem_id=f"{prefix}-score-info")
    return button, text
