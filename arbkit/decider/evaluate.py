"""The decider's comparison: with its model, without it, and the tuned rule.

A thin entry point to the one comparison engine (:func:`arbkit.backtest.compare.run_comparison`):
every policy is replayed by the same :class:`~arbkit.backtest.Simulator` over the one
replay (:class:`arbkit.execution.Replay`), on the same test histories and draws, with the
foresight upper bound of each seed. The deciders and the rule's threshold are fitted on
an independent training history. Run ``python -m arbkit.decider.evaluate`` to write
``reports/decider/comparison.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from arbkit.backtest.compare import ComparisonConfig, format_comparison, run_comparison
from arbkit.io import write_atomic

__all__ = ["DECIDER_POLICIES", "main"]

DECIDER_POLICIES = ("foresight", "decider_with_model", "decider_without_model", "rule", "random")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the decider comparison and write ``comparison.md`` and ``comparison.json``.

    Usage: ``python -m arbkit.decider.evaluate [--blocks N] [--seeds 0 1 2 3 4] [--out DIR]``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=21_600, help="blocks per history")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", default="reports/decider", help="output directory")
    args = parser.parse_args(argv)
    config = ComparisonConfig(
        policies=DECIDER_POLICIES,
        seeds=tuple(args.seeds),
        n_blocks=args.blocks,
        train_blocks=args.blocks,
    )
    result = run_comparison(config, progress=print)
    text = format_comparison(result, title="Decider comparison", base="rule")
    out = Path(args.out)
    write_atomic(out / "comparison.md", text.encode())
    payload = {
        "config": config.model_dump(mode="json"),
        "per_seed": result.table().to_dicts(),
        "aggregate": result.aggregate().to_dicts(),
        "bounds": result.bounds,
        "info": result.info,
    }
    write_atomic(out / "comparison.json", json.dumps(payload, indent=2, default=str).encode())
    print(text)


if __name__ == "__main__":
    main()
