"""Backtest comparison: the decider with its model, without it, and a plain edge-threshold rule.

For each seed (:func:`compare_policies`):

1. Simulate a market history, scan it, and label every candidate with the execution
   model (:func:`arbkit.decider.training.build_route_dataset`).
2. Split the blocks: the first ``train_fraction`` train, the rest evaluate. The model
   is fitted on the training rows whose labels are known before the split; both
   deciders replay the same training outcomes into their route records
   (:meth:`AdvancedAIDecider.warm_start`); the edge threshold is the one with the
   highest training net profit.
3. Replay the evaluation blocks in order. At each block every policy sees the block's
   candidates and the regime at that block, and may pick one trade (the decider sizes
   it). Trades go through ``ExecutionModel.execute_batch`` with common random numbers
   (the same two uniforms for the same candidate under every policy). A policy learns
   an outcome ``label_delay_blocks`` after its decision block, never earlier; the
   deciders also retrain their model after ``retrain_after_n_samples`` outcomes.
4. Because our trades do not move the replayed pools, a policy may not trade a pool
   again for ``pool_cooldown_blocks`` blocks, nor re-trade an edge (route and run of
   consecutive blocks) it already traded.

The figure compared is the net profit after gas (``net_profit_quote`` of the outcomes,
in quote), mean ± std over the seeds.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from arbkit.decider.candidates import CandidateBatch
from arbkit.decider.config import AdvancedAIConfig
from arbkit.decider.decider import AdvancedAIDecider, AIDecision
from arbkit.decider.predictor import RouteSuccessPredictor
from arbkit.decider.training import TradePolicy, build_route_dataset, trades_from_candidates
from arbkit.execution import ExecutionConfig, ExecutionModel
from arbkit.features import FeatureConfig, MarketRegime
from arbkit.io import write_atomic
from arbkit.market.sim import simulate_market
from arbkit.opportunities import ScanConfig

__all__ = [
    "ComparisonConfig",
    "ComparisonResult",
    "PolicyResult",
    "compare_policies",
    "format_comparison",
    "run_comparison",
]

POLICIES = ("decider_with_model", "decider_without_model", "edge_threshold")


def _comparison_decider() -> AdvancedAIConfig:
    # The balanced profile, except min_profit_eth: its 0.15 ETH is far above any
    # simulated opportunity (the largest nets a few hundred quote), so it would refuse
    # every trade of every policy.
    return AdvancedAIConfig(min_profit_eth=0.0)


class ComparisonConfig(BaseModel):
    """Options of :func:`run_comparison`.

    Parameters
    ----------
    seeds
        One simulated history per seed.
    n_blocks
        Blocks per history.
    train_fraction
        Share of the blocks used for training (the rest is evaluated).
    portfolio_value_eth
        Portfolio value given to the decider.
    decider
        Decider options (both deciders; ``enable_ml_scoring`` is set per policy).
    policy
        Tip, latency and minimum profit of every trade.
    edge_thresholds_bps
        Thresholds tried for the edge-threshold rule on the training blocks.
    pool_cooldown_blocks
        Blocks a traded pool is locked for.
    extra_model_thresholds
        Confidence thresholds of extra "decider with model" runs, reported as
        ``decider_with_model@<threshold>`` (to show what the threshold costs or saves).
    scan, execution, features
        Options of the scanner, execution model and features.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    n_blocks: int = Field(20_000, ge=100)
    train_fraction: float = Field(0.5, gt=0, lt=1)
    portfolio_value_eth: float = Field(100.0, gt=0)
    decider: AdvancedAIConfig = Field(default_factory=_comparison_decider)
    policy: TradePolicy = Field(default_factory=TradePolicy)
    edge_thresholds_bps: tuple[float, ...] = (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0)
    pool_cooldown_blocks: int = Field(2, ge=0)
    extra_model_thresholds: tuple[float, ...] = ()
    scan: ScanConfig = Field(default_factory=ScanConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    features: FeatureConfig = Field(default_factory=FeatureConfig)

    @model_validator(mode="after")
    def _check_route_ema(self) -> Self:
        # the model is trained on the features' route EMA and served the decider's
        for name in ("route_ema_alpha", "route_prior_success"):
            if getattr(self.features, name) != getattr(self.decider, name):
                raise ValueError(
                    f"features.{name} ({getattr(self.features, name)}) must equal "
                    f"decider.{name} ({getattr(self.decider, name)})"
                )
        return self


@dataclass(frozen=True, eq=False)
class PolicyResult:
    """What one policy did on the evaluation blocks of one seed.

    Attributes
    ----------
    name
        Policy name.
    trades
        One row per trade: ``block``, ``route_key``, ``kind``, ``size_fraction``,
        ``binding_cap`` (the decider's limit that set the size; empty for the rule),
        ``success``, ``reason``, ``net_profit_quote``, ``gas_paid_quote``.
    """

    name: str
    trades: pl.DataFrame

    @property
    def net_profit_quote(self) -> float:
        """Total net profit after gas, in quote."""
        return float(np.sum(self.trades["net_profit_quote"].to_numpy()))

    def summary(self) -> dict[str, float]:
        """Return trades, successes, net profit, gas and the cost of failed trades."""
        t = self.trades
        if t.height == 0:
            return {
                "n_trades": 0.0,
                "success_rate": float("nan"),
                "net_profit_quote": 0.0,
                "gas_paid_quote": 0.0,
                "failed_cost_quote": 0.0,
            }
        failed = t.filter(~pl.col("success"))
        return {
            "n_trades": float(t.height),
            "success_rate": float(np.mean(t["success"].to_numpy())),
            "net_profit_quote": float(np.sum(t["net_profit_quote"].to_numpy())),
            "gas_paid_quote": float(np.sum(t["gas_paid_quote"].to_numpy())),
            "failed_cost_quote": float(-np.sum(failed["net_profit_quote"].to_numpy())),
        }


@dataclass(frozen=True, eq=False)
class ComparisonResult:
    """Results of :func:`run_comparison`.

    Attributes
    ----------
    per_seed
        ``{seed: {policy: PolicyResult}}``.
    info
        Per seed: candidates, training rows, the chosen edge threshold, base rate.
    """

    per_seed: dict[int, dict[str, PolicyResult]]
    info: dict[int, dict[str, float]]

    def table(self) -> pl.DataFrame:
        """Return one row per (seed, policy) with :meth:`PolicyResult.summary`."""
        rows = [
            {"seed": seed, "policy": name, **res.summary()}
            for seed, results in self.per_seed.items()
            for name, res in results.items()
        ]
        return pl.DataFrame(rows)

    def aggregate(self) -> pl.DataFrame:
        """Return mean and std (ddof 1) over the seeds per policy."""
        return (
            self.table()
            .group_by("policy", maintain_order=True)
            .agg(
                pl.col("net_profit_quote").mean().alias("net_mean"),
                pl.col("net_profit_quote").std().alias("net_std"),
                pl.col("n_trades").mean().alias("trades_mean"),
                pl.col("success_rate").mean().alias("success_rate_mean"),
                pl.col("failed_cost_quote").mean().alias("failed_cost_mean"),
            )
        )

    def gap_decomposition(self, other: str = POLICIES[2]) -> pl.DataFrame:
        """Split, per seed, the model decider's net minus ``other``'s by what differs.

        Returns
        -------
        polars.DataFrame
            Per seed: ``only_other`` (net of trades only ``other`` made, i.e. trades the
            decider skipped; subtracted), ``only_decider`` (trades only the decider made),
            ``same_trade_size`` (same block and route, different size: the decider's
            caps), ``different_pick`` (both traded the block, different routes), and
            ``total`` (their sum, the paired difference).
        """
        rows = []
        for seed, results in self.per_seed.items():
            a = results[POLICIES[0]].trades.select("block", "route_key", "net_profit_quote")
            b = results[other].trades.select("block", "route_key", "net_profit_quote")
            j = a.join(b, on="block", how="full", suffix="_o", coalesce=True)
            net_a = pl.col("net_profit_quote").fill_null(0.0)
            net_b = pl.col("net_profit_quote_o").fill_null(0.0)
            j = j.with_columns((net_a - net_b).alias("d"))

            def part(mask: pl.Expr, frame: pl.DataFrame = j) -> float:
                return float(np.sum(frame.filter(mask)["d"].to_numpy()))

            rows.append(
                {
                    "seed": seed,
                    "only_other": part(pl.col("route_key").is_null()),
                    "only_decider": part(pl.col("route_key_o").is_null()),
                    "same_trade_size": part(pl.col("route_key") == pl.col("route_key_o")),
                    "different_pick": part(pl.col("route_key") != pl.col("route_key_o")),
                    "total": float(np.sum(j["d"].to_numpy())),
                }
            )
        return pl.DataFrame(rows)

    def paired_differences(self) -> pl.DataFrame:
        """Return per seed the net profit of the model decider minus each other policy."""
        t = self.table().pivot(on="policy", index="seed", values="net_profit_quote")
        return t.select(
            "seed",
            (pl.col(POLICIES[0]) - pl.col(POLICIES[1])).alias("model_minus_no_model"),
            (pl.col(POLICIES[0]) - pl.col(POLICIES[2])).alias("model_minus_threshold"),
        )


_Choice = tuple[int, int, Any]  # (row in the block's candidates, amount_in, learning token)


class _Policy(ABC):
    name: str

    @abstractmethod
    def choose(self, rows: pl.DataFrame, regime_row: dict[str, Any]) -> _Choice | None:
        """Return the block's pick (row, amount, learning token) or None."""

    def learn(self, token: Any, success: bool, net_quote: float) -> None:
        return None


class _DeciderPolicy(_Policy):
    def __init__(self, name: str, decider: AdvancedAIDecider, portfolio_value_eth: float):
        self.name = name
        self.decider = decider
        self.portfolio = portfolio_value_eth

    def choose(self, rows: pl.DataFrame, regime_row: dict[str, Any]) -> _Choice | None:
        self.decider.update_regime(MarketRegime.from_row(regime_row))
        batch = CandidateBatch.from_table(rows)
        decision = self.decider.pick_best(batch, self.portfolio)
        if decision is None:
            return None
        amount = decision.amount_in if decision.amount_in is not None else 0
        return decision.index, amount, decision

    def learn(self, token: Any, success: bool, net_quote: float) -> None:
        if isinstance(token, AIDecision):
            self.decider.record_outcome(token, success, realized_net_quote=net_quote)


class _ThresholdPolicy(_Policy):
    def __init__(self, threshold_bps: float):
        self.name = POLICIES[2]
        self.threshold = threshold_bps

    def choose(self, rows: pl.DataFrame, regime_row: dict[str, Any]) -> _Choice | None:
        edge = rows["edge_bps"].to_numpy()
        net = rows["net_profit_quote"].to_numpy()
        ok = (edge >= self.threshold) & (net > 0)
        if not ok.any():
            return None
        i = int(np.argmax(np.where(ok, net, -np.inf)))
        return i, int(rows["amount_in"][i]), None


def _pick_threshold(table: pl.DataFrame, thresholds: Sequence[float]) -> float:
    best, best_net = thresholds[0], -np.inf
    for th in thresholds:
        # the rule's pick per block: the candidate with the highest expected net profit
        picks = (
            table.filter(pl.col("edge_bps") >= th)
            .sort("expected_net_quote", descending=True)
            .group_by("block", maintain_order=True)
            .first()
        )
        net = float(picks["realized_net_quote"].sum()) if picks.height else 0.0
        if net > best_net:
            best, best_net = th, net
    return float(best)


def _replay(
    policy: _Policy,
    candidates: pl.DataFrame,
    draws: np.ndarray[Any, np.dtype[np.float64]],
    regime_by_block: dict[int, dict[str, Any]],
    model: ExecutionModel,
    config: ComparisonConfig,
) -> PolicyResult:
    delay = config.features.label_delay_blocks
    cooldown = config.pool_cooldown_blocks
    keys = candidates["route_key"].to_list()
    ages = candidates["age_blocks"].to_list()
    routes: list[list[str]] = candidates["route"].to_list()
    blocks = candidates["block"].to_numpy()
    starts = np.flatnonzero(np.r_[True, blocks[1:] != blocks[:-1]])
    ends = np.r_[starts[1:], blocks.size]
    locked: dict[str, int] = {}
    traded_runs: set[tuple[str, int]] = set()
    pending: deque[tuple[int, int, Any, pl.DataFrame]] = deque()
    chunk: list[tuple[int, int, Any]] = []  # (global row, amount_in, token)
    chunk_start = -1
    records: list[pl.DataFrame] = []
    meta: list[dict[str, Any]] = []

    def flush() -> None:
        if not chunk:
            return
        rows = [r for r, _, _ in chunk]
        trades = trades_from_candidates(
            candidates[rows],
            config.policy,
            scan_config=config.scan,
            amount_in=[a for _, a, _ in chunk],
        )
        outcomes = model.execute_batch(trades, draws=draws[rows])
        for j, (row, amount, token) in enumerate(chunk):
            pending.append((int(blocks[row]) + delay, row, token, outcomes[j]))
            own = int(candidates["amount_in"][row])
            meta.append(
                {
                    "route_key": keys[row],
                    "size_fraction": amount / own if own else 0.0,
                    "binding_cap": token.binding_cap if isinstance(token, AIDecision) else "",
                }
            )
        records.append(outcomes)
        chunk.clear()

    for s, e in zip(starts, ends, strict=True):
        t = int(blocks[s])
        if chunk and t >= chunk_start + delay:
            flush()
        while pending and pending[0][0] <= t:
            _, _, token, out = pending.popleft()
            policy.learn(token, bool(out["success"][0]), float(out["net_profit_quote"][0]))
        idx = [
            i
            for i in range(s, e)
            if (keys[i], t - ages[i]) not in traded_runs
            and all(locked.get(p, -1) < t for p in routes[i])
        ]
        if not idx:
            continue
        choice = policy.choose(candidates[idx], regime_by_block[t])
        if choice is None:
            continue
        local, amount, token = choice
        row = idx[local]
        if amount <= 0:
            continue
        if not chunk:
            chunk_start = t
        chunk.append((row, amount, token))
        traded_runs.add((keys[row], t - ages[row]))
        for p in routes[row]:
            locked[p] = t + cooldown
    flush()
    if records:
        outcomes = pl.concat(records)
        trades = pl.concat([pl.DataFrame(meta), outcomes], how="horizontal").select(
            "block",
            "route_key",
            "kind",
            "size_fraction",
            "binding_cap",
            "success",
            "reason",
            "net_profit_quote",
            "gas_paid_quote",
        )
    else:
        trades = pl.DataFrame(
            schema={
                "block": pl.Int64,
                "route_key": pl.String,
                "kind": pl.String,
                "size_fraction": pl.Float64,
                "binding_cap": pl.String,
                "success": pl.Boolean,
                "reason": pl.String,
                "net_profit_quote": pl.Float64,
                "gas_paid_quote": pl.Float64,
            }
        )
    return PolicyResult(policy.name, trades)


def compare_policies(
    seed: int, config: ComparisonConfig | None = None
) -> tuple[dict[str, PolicyResult], dict[str, float]]:
    """Run the three policies on one simulated history (see the module docstring).

    Parameters
    ----------
    seed
        Seed of the history, the labels, the draws and the model.
    config
        Comparison options.

    Returns
    -------
    tuple[dict[str, PolicyResult], dict[str, float]]
        Results by policy name, and facts about the run (candidates, training rows,
        chosen threshold, training success rate).
    """
    cfg = config or ComparisonConfig()
    ss_hist, ss_label, ss_draws, ss_model, ss_a, ss_b = np.random.SeedSequence(seed).spawn(6)
    history = simulate_market(seed=int(ss_hist.generate_state(1)[0]), n_blocks=cfg.n_blocks)
    dataset = build_route_dataset(
        history,
        seed=ss_label,
        scan_config=cfg.scan,
        execution_config=cfg.execution,
        feature_config=cfg.features,
        policy=cfg.policy,
    )
    first = int(history.block_numbers[0])
    split = first + int(cfg.n_blocks * cfg.train_fraction)
    delay = cfg.features.label_delay_blocks
    table = dataset.table.with_columns(
        dataset.candidates["net_profit_quote"].alias("expected_net_quote"),
        dataset.candidates["edge_bps"],
    )
    train = table.filter(pl.col("block") <= split - delay)
    candidates = dataset.candidates.with_columns(
        pl.Series("route_key", table["route_key"]),
    ).filter(pl.col("block") >= split)
    draws = np.random.default_rng(ss_draws).random((candidates.height, 2))
    regime_by_block = {
        int(r["block"]): r
        for r in dataset.regime.filter(pl.col("block") >= split).iter_rows(named=True)
    }
    model = ExecutionModel(history, cfg.execution, cfg.scan)

    model_seed = int(ss_model.generate_state(1)[0] % (2**31 - 1))

    def model_decider(config: AdvancedAIConfig) -> AdvancedAIDecider:
        # each decider retrains its own model in place: one predictor per decider
        predictor = RouteSuccessPredictor(config.route_model)
        predictor.train_model(train, seed=model_seed)
        decider = AdvancedAIDecider(config, predictor=predictor, seed=ss_a)
        decider.warm_start(train)
        return decider

    with_model = model_decider(cfg.decider.model_copy(update={"enable_ml_scoring": True}))
    without = AdvancedAIDecider(
        cfg.decider.model_copy(update={"enable_ml_scoring": False}), seed=ss_b
    )
    without.warm_start(train)
    threshold = _pick_threshold(train, cfg.edge_thresholds_bps)
    policies: list[_Policy] = [
        _DeciderPolicy(POLICIES[0], with_model, cfg.portfolio_value_eth),
        _DeciderPolicy(POLICIES[1], without, cfg.portfolio_value_eth),
        _ThresholdPolicy(threshold),
    ]
    for extra in cfg.extra_model_thresholds:
        update = {
            "enable_ml_scoring": True,
            "confidence_threshold": extra,
            "high_confidence_threshold": max(extra, cfg.decider.high_confidence_threshold),
        }
        policies.append(
            _DeciderPolicy(
                f"{POLICIES[0]}@{extra:.2f}",
                model_decider(cfg.decider.model_copy(update=update)),
                cfg.portfolio_value_eth,
            )
        )
    results = {p.name: _replay(p, candidates, draws, regime_by_block, model, cfg) for p in policies}
    info = {
        "candidates": float(dataset.candidates.height),
        "eval_candidates": float(candidates.height),
        "train_rows": float(train.height),
        "edge_threshold_bps": threshold,
        "train_success_rate": float(np.mean(train["success"].to_numpy())),
        "model_retrains": float(with_model.n_retrains),
        "history_first_block": float(first),
    }
    return results, info


def run_comparison(
    config: ComparisonConfig | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> ComparisonResult:
    """Run :func:`compare_policies` for every seed of the config.

    Parameters
    ----------
    config
        Comparison options.
    progress
        Called with a line of text after each seed.

    Returns
    -------
    ComparisonResult
    """
    cfg = config or ComparisonConfig()
    per_seed: dict[int, dict[str, PolicyResult]] = {}
    info: dict[int, dict[str, float]] = {}
    for seed in cfg.seeds:
        per_seed[seed], info[seed] = compare_policies(seed, cfg)
        if progress is not None:
            nets = ", ".join(f"{k}={v.net_profit_quote:.2f}" for k, v in per_seed[seed].items())
            progress(f"seed {seed}: {nets}")
    return ComparisonResult(per_seed=per_seed, info=info)


def format_comparison(result: ComparisonResult, config: ComparisonConfig) -> str:
    """Return the comparison as a markdown report.

    Parameters
    ----------
    result
        Output of :func:`run_comparison`.
    config
        The options it ran with.

    Returns
    -------
    str
        Markdown.
    """
    agg = result.aggregate()
    diffs = result.paired_differences()
    lines = [
        "# Decider comparison: net profit after gas in the execution model",
        "",
        f"Seeds {list(config.seeds)}; {config.n_blocks:,} simulated blocks each, the first "
        f"{config.train_fraction:.0%} for training, the rest replayed. Quote token: "
        f"{config.scan.quote_token}. Decider: confidence_threshold "
        f"{config.decider.confidence_threshold}, kelly_fraction {config.decider.kelly_fraction}, "
        f"min_profit_eth {config.decider.min_profit_eth}, portfolio {config.portfolio_value_eth} "
        "ETH.",
        "",
        "| policy | net profit after gas (mean ± std) | trades | success rate | "
        "cost of failed trades |",
        "|---|---|---|---|---|",
    ]
    for r in agg.iter_rows(named=True):
        net_std = r["net_std"] if r["net_std"] is not None else float("nan")
        lines.append(
            f"| {r['policy']} | {r['net_mean']:.2f} ± {net_std:.2f} | "
            f"{r['trades_mean']:.0f} | {r['success_rate_mean']:.3f} | "
            f"{r['failed_cost_mean']:.2f} |"
        )
    lines += ["", "Paired differences per seed (with model minus the other policy):", ""]
    lines += ["| seed | model - no model | model - edge threshold |", "|---|---|---|"]
    for r in diffs.iter_rows(named=True):
        lines.append(
            f"| {r['seed']} | {r['model_minus_no_model']:.2f} | {r['model_minus_threshold']:.2f} |"
        )
    d1 = diffs["model_minus_no_model"].to_numpy()
    d2 = diffs["model_minus_threshold"].to_numpy()
    lines.append(f"| mean ± std | {_mean_std(d1)} | {_mean_std(d2)} |")
    gap = result.gap_decomposition()
    lines += [
        "",
        "Where the decider with the model and the edge-threshold rule part ways (decider "
        "minus rule, quote, per seed):",
        "",
        "| seed | rule-only trades (decider skipped) | decider-only trades | same trade, "
        "other size | different pick in a block | total |",
        "|---|---|---|---|---|---|",
    ]
    for r in gap.iter_rows(named=True):
        lines.append(
            f"| {r['seed']} | {r['only_other']:.2f} | {r['only_decider']:.2f} | "
            f"{r['same_trade_size']:.2f} | {r['different_pick']:.2f} | {r['total']:.2f} |"
        )
    lines += ["", "## Verdict", "", *_verdict(result), ""]
    lines += ["", "Per seed facts:", "", "| seed | " + " | ".join(_INFO_KEYS) + " |"]
    lines.append("|---" * (len(_INFO_KEYS) + 1) + "|")
    for seed, facts in result.info.items():
        lines.append(f"| {seed} | " + " | ".join(f"{facts[k]:g}" for k in _INFO_KEYS) + " |")
    return "\n".join(lines) + "\n"


def _verdict(result: ComparisonResult) -> list[str]:
    diffs = result.paired_differences()
    table = result.table()
    out = []
    pairs = (("model_minus_no_model", POLICIES[1]), ("model_minus_threshold", POLICIES[2]))
    for col, other in pairs:
        d = diffs[col].to_numpy()
        wins = int(np.sum(d > 0))
        beats = "beats" if float(np.mean(d)) > 0 else "does NOT beat"
        out.append(
            f"- The decider with the model {beats} `{other}` on average "
            f"({_mean_std(d)} quote per seed; ahead in {wins} of {d.size} seeds)."
        )
    rule = table.filter(pl.col("policy") == POLICIES[2])
    failed = rule["failed_cost_quote"].to_numpy()
    net = rule["net_profit_quote"].to_numpy()
    out.append(
        "- Upper bound of what a success model can add to the edge-threshold rule by skipping "
        f"its failed trades: their cost, {float(np.mean(failed)):.2f} quote per seed "
        f"({float(np.mean(failed / np.maximum(net, 1e-9))):.1%} of its net profit). Any "
        "winning trade the decider skips or shrinks (confidence threshold, Kelly and risk "
        "caps) counts against it."
    )
    return out


def _mean_std(values: np.ndarray[Any, np.dtype[np.float64]]) -> str:
    std = float(np.std(values, ddof=1)) if values.size > 1 else float("nan")
    return f"{float(np.mean(values)):.2f} ± {std:.2f}"


_INFO_KEYS = (
    "candidates",
    "eval_candidates",
    "train_rows",
    "edge_threshold_bps",
    "train_success_rate",
    "model_retrains",
)


def write_comparison(
    result: ComparisonResult,
    config: ComparisonConfig,
    *,
    json_path: str | os.PathLike[str],
) -> Path:
    """Write the per-seed table and aggregate as JSON (atomically).

    Parameters
    ----------
    result, config
        The comparison and its options.
    json_path
        Destination.

    Returns
    -------
    Path
    """
    payload = {
        "config": config.model_dump(mode="json"),
        "per_seed": result.table().to_dicts(),
        "aggregate": result.aggregate().to_dicts(),
        "paired_differences": result.paired_differences().to_dicts(),
        "info": {str(k): v for k, v in result.info.items()},
    }
    path = Path(json_path)
    write_atomic(path, json.dumps(payload, indent=2, default=str).encode() + b"\n")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    """Run the 5-seed comparison and write ``reports/decider/comparison.{md,json}``.

    Usage: ``python -m arbkit.decider.evaluate [--blocks N] [--seeds 0 1 2 3 4] [--out DIR]``.
    """
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=20_000, help="blocks per history")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", default="reports/decider", help="output directory")
    args = parser.parse_args(argv)
    config = ComparisonConfig(
        seeds=tuple(args.seeds), n_blocks=args.blocks, extra_model_thresholds=(0.0,)
    )
    result = run_comparison(config, progress=print)
    out = Path(args.out)
    write_atomic(out / "comparison.md", format_comparison(result, config).encode())
    write_comparison(result, config, json_path=out / "comparison.json")
    print(format_comparison(result, config))


if __name__ == "__main__":
    main()
