"""`bench`: run the benchmarks and print their tables."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def cmd_bench(args: argparse.Namespace) -> str:
    """Run every script in benchmarks/ (or the one named) and let each print its table."""
    scripts = sorted(p for p in BENCHMARKS.glob("*.py") if p.name not in ("__init__.py", "common.py"))
    if args.only:
        scripts = [p for p in scripts if p.stem == args.only]
        if not scripts:
            raise ValueError(f"no benchmark named {args.only!r} in {BENCHMARKS}")
    if not scripts:
        raise ValueError(f"no benchmark scripts found in {BENCHMARKS}")
    failed = []
    for script in scripts:
        print(f"== {script.stem}", flush=True)
        if subprocess.run([sys.executable, "-m", f"benchmarks.{script.stem}"], cwd=BENCHMARKS.parent).returncode != 0:
            failed.append(script.stem)
    if failed:
        raise ValueError(f"benchmarks failed: {', '.join(failed)}")
    return f"ran {len(scripts)} benchmark(s); results in {BENCHMARKS / 'results'}"


def add_bench(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("bench", help="run the benchmarks in benchmarks/ and print their tables")
    p.add_argument("--only", help="run one benchmark, by script name (e.g. forward)")
    p.set_defaults(run=cmd_bench)
