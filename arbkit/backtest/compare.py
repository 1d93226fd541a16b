"""Compare policies through the one replay: the comparison behind every report.

For each seed, the learning policies and the tuned rule train on a training history,
then every policy is backtested on a test history by the :class:`Simulator` (the one
replay: same candidates, gap rule, luck and timing for all), and the foresight upper
bound of the test run is computed under the same gap rule. The decider's comparison,
the RL comparison and ``arbkit backtest`` all call :func:`run_comparison`.

Histories per seed ``s``:

- simulated (default): test ``simulate_market(seed=s)``, training
  ``simulate_market(seed=10_000 + s)`` (independent: nothing of the test leaks);
- a saved history: it is the test history of every seed (each with its own draws);
  training as above;
- real data: the first ``train_blocks`` steps train, the rest is tested; seeds change
  only the execution draws.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from arbkit.backtest.config import BacktestConfig
from arbkit.backtest.engine import BacktestResult, Simulator, get_replay
from arbkit.backtest.policies import (
    ForesightPolicy,
    RandomPolicy,
    RuleBaseline,
    foresight_values,
    upper_bound,
)
from arbkit.errors import ArbkitError, ConfigError
from arbkit.market.history import MarketHistory

__all__ = [
    "POLICIES",
    "ComparisonConfig",
    "ComparisonResult",
    "build_policy",
    "format_comparison",
    "run_comparison",
    "tune_rule",
]

POLICIES = (
    "foresight",
    "rule",
    "random",
    "decider_without_model",
    "decider_with_model",
    "q_learning",
    "ppo",
    "dqn",
)
"""Every policy the comparison knows, by the one name used in code, CLI and reports."""

DEFAULT_POLICIES = POLICIES[:6]
"""The policies run unless told otherwise (all but the slow-to-train PPO and DQN)."""


class ComparisonConfig(BaseModel):
    """Options of :func:`run_comparison`.

    Parameters
    ----------
    policies
        Names from :data:`POLICIES`.
    seeds
        One test history (or one set of draws, on a fixed history) per seed.
    n_blocks, train_blocks
        Blocks of the simulated test and training histories (on real data
        ``train_blocks`` is the training head).
    backtest
        Options of every backtest (the seed is set per run).
    rule_min_net_quote
        Expected-net thresholds tried for the rule on the training history; the best
        one (highest training net) is used.
    q_episodes
        Q-learning training episodes.
    ppo_timesteps, dqn_timesteps
        stable-baselines3 training steps.
    window_blocks
        Episode length of RL training.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    policies: tuple[str, ...] = DEFAULT_POLICIES
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    n_blocks: int = Field(21_600, ge=100)
    train_blocks: int = Field(21_600, ge=100)
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    rule_min_net_quote: tuple[float, ...] = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
    q_episodes: int = Field(200, ge=1)
    ppo_timesteps: int = Field(50_000, ge=64)
    dqn_timesteps: int = Field(50_000, ge=64)
    window_blocks: int = Field(256, ge=2)

    @model_validator(mode="after")
    def _check(self) -> ComparisonConfig:
        unknown = [p for p in self.policies if p not in POLICIES]
        if unknown:
            raise ValueError(f"policies {unknown}: expected names from {list(POLICIES)}")
        if not self.seeds or any(s < 0 for s in self.seeds):
            raise ValueError(f"seeds {list(self.seeds)}: need at least one, all >= 0")
        if not self.rule_min_net_quote:
            raise ValueError("rule_min_net_quote: give at least one threshold")
        return self


@dataclass
class ComparisonResult:
    """Backtests of every policy on every seed, with the seeds' upper bounds.

    Attributes
    ----------
    config
        The options it ran with.
    runs
        ``{policy: [BacktestResult per seed]}`` (seeds in ``config.seeds`` order).
    bounds
        The foresight upper bound of each seed's test run (quote).
    info
        Per seed: the tuned rule threshold, training time per policy (s), history size.
    skipped
        Policies that could not be trained on some seed's training history, with why
        (they are left out of every seed, so that all rows compare the same seeds).
    """

    config: ComparisonConfig
    runs: dict[str, list[BacktestResult]]
    bounds: list[float]
    info: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def table(self) -> pl.DataFrame:
        """Return one row per (policy, seed): net, its parts, trades, win rate, share.

        The share is the arbitrage net's share of the upper bound.
        """
        rows = []
        for name, runs in self.runs.items():
            for seed, bound, r in zip(self.config.seeds, self.bounds, runs, strict=True):
                net = float(r["net_profit"])
                arb = float(r.get("arbitrage_net_profit", net))
                rows.append(
                    {
                        "policy": name,
                        "seed": seed,
                        "net_profit": net,
                        "arbitrage_net_profit": arb,
                        "spot_and_inventory": net - arb,
                        "trade_count": int(r["trade_count"]),
                        "win_rate": _finite(r.get("win_rate")),
                        "revert_rate": _finite(r.get("revert_rate")),
                        "upper_bound": bound,
                        # the bound covers arbitrage: spot trades and inventory are apart
                        "share_of_bound": arb / bound if bound > 0 else math.nan,
                    }
                )
        return pl.DataFrame(rows)

    def aggregate(self) -> pl.DataFrame:
        """Return mean and std (ddof 1) over the seeds per policy."""
        return (
            self.table()
            .group_by("policy", maintain_order=True)
            .agg(
                pl.col("net_profit").mean().alias("net_mean"),
                pl.col("net_profit").std().alias("net_std"),
                pl.col("trade_count").mean().alias("trades_mean"),
                pl.col("win_rate").mean().alias("win_rate_mean"),
                pl.col("share_of_bound").mean().alias("share_mean"),
                pl.col("share_of_bound").std().alias("share_std"),
            )
        )

    def paired_differences(self, base: str) -> pl.DataFrame:
        """Return per seed each policy's net minus ``base``'s (same history, same luck)."""
        if base not in self.runs:
            raise ConfigError(f"paired_differences: {base!r} was not run")
        ref = [float(r["net_profit"]) for r in self.runs[base]]
        rows = []
        for name, runs in self.runs.items():
            if name == base:
                continue
            for seed, a, b in zip(self.config.seeds, runs, ref, strict=True):
                rows.append(
                    {"policy": name, "seed": seed, "difference": float(a["net_profit"]) - b}
                )
        return pl.DataFrame(rows)


def _finite(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def tune_rule(train: MarketHistory, config: ComparisonConfig, seed: int) -> RuleBaseline:
    """Return the rule with the expected-net threshold that earned most on ``train``."""
    best, best_net = config.rule_min_net_quote[0], -math.inf
    bt = config.backtest.model_copy(update={"seed": seed, "progress": False})
    for th in config.rule_min_net_quote:
        net = float(Simulator(RuleBaseline(min_net_quote=th), train, bt).run_sync()["net_profit"])
        if net > best_net:
            best, best_net = th, net
    rule = RuleBaseline(min_net_quote=best)
    rule.name = "rule"
    return rule


def build_policy(name: str, train: MarketHistory, seed: int, config: ComparisonConfig) -> Any:
    """Return policy ``name``, trained (or tuned) on ``train`` only.

    Raises
    ------
    ConfigError
        If the name is unknown.
    """
    if name == "foresight":
        return ForesightPolicy()
    if name == "rule":
        return tune_rule(train, config, seed)
    if name == "random":
        return RandomPolicy(seed=seed)
    if name in ("decider_with_model", "decider_without_model"):
        from arbkit.backtest.learners import make_decider

        return make_decider(
            train, seed=seed, use_model=name == "decider_with_model", backtest=config.backtest
        )
    if name == "q_learning":
        from arbkit.backtest.learners import make_rl_policy

        return make_rl_policy(
            train,
            seed=seed,
            episodes=config.q_episodes,
            window_blocks=config.window_blocks,
            backtest=config.backtest,
        )
    if name in ("ppo", "dqn"):
        from arbkit.backtest.learners import make_sb3_policy

        steps = config.ppo_timesteps if name == "ppo" else config.dqn_timesteps
        return make_sb3_policy(
            "ppo" if name == "ppo" else "dqn",
            train,
            seed=seed,
            total_timesteps=steps,
            window_blocks=config.window_blocks,
            backtest=config.backtest,
        )
    raise ConfigError(f"policy {name!r}: expected one of {list(POLICIES)}")


def _histories(
    seed: int,
    config: ComparisonConfig,
    real: MarketHistory | None,
    saved: MarketHistory | None,
) -> tuple[MarketHistory, MarketHistory]:
    from arbkit.market.sim import simulate_market

    if real is not None:
        cut = min(config.train_blocks, real.n_blocks // 3)
        return real.slice(0, cut), real.slice(cut, real.n_blocks)
    train = simulate_market(seed=10_000 + seed, n_blocks=config.train_blocks)
    test = saved if saved is not None else simulate_market(seed=seed, n_blocks=config.n_blocks)
    return train, test


def run_comparison(
    config: ComparisonConfig | None = None,
    *,
    real_data: str | Path | None = None,
    data: str | Path | None = None,
    histories: tuple[MarketHistory, MarketHistory] | None = None,
    builders: Mapping[str, Callable[[MarketHistory, int], Any]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ComparisonResult:
    """Train, tune and backtest every policy of ``config`` on every seed (module docstring).

    Parameters
    ----------
    config
        Policies, seeds, sizes and backtest options.
    real_data
        A folder of the real Uniswap V2/SushiSwap + Binance data: replay it instead.
    data
        A saved history (``MarketHistory.save``): replay it instead.
    histories
        ``(train, test)``: train and tune on the first, replay the second, for every
        seed (the research pipeline's own histories).
    builders
        ``{policy name: builder(train, seed) -> policy}`` replacing :func:`build_policy`
        for those names (e.g. a candidate model to validate as it is).
    progress
        Called with a line of text after each policy's backtest.

    Returns
    -------
    ComparisonResult
    """
    cfg = config or ComparisonConfig()
    real = saved = None
    if real_data is not None:
        from arbkit.market.real_history import load_real_history

        real = load_real_history(Path(real_data))
    elif data is not None:
        saved = MarketHistory.load(data)
    runs: dict[str, list[BacktestResult]] = {p: [] for p in cfg.policies}
    bounds: list[float] = []
    info: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for seed in cfg.seeds:
        train, test = histories if histories is not None else _histories(seed, cfg, real, saved)
        bt = cfg.backtest.model_copy(update={"seed": seed})
        replay = get_replay(test, bt)
        values = foresight_values(replay, replay.draws(seed))
        bound = upper_bound(replay, values)
        bounds.append(bound)
        facts: dict[str, Any] = {"seed": seed, "test_blocks": test.n_blocks}
        for name in cfg.policies:
            if name in skipped:
                continue
            t0 = time.perf_counter()
            try:
                # the foresight policy takes the values the bound was computed from
                if name == "foresight":
                    policy: Any = ForesightPolicy(values)
                elif builders is not None and name in builders:
                    policy = builders[name](train, seed)
                else:
                    policy = build_policy(name, train, seed, cfg)
            except ArbkitError as exc:
                # e.g. a route model cannot be fitted on a training history whose labels
                # hold one class: say so instead of reporting a policy that did not train
                skipped[name] = f"seed {seed}: {exc}"
                runs.pop(name, None)
                if progress is not None:
                    progress(f"seed {seed} {name:>22}: not trained ({exc})")
                continue
            facts[f"train_s_{name}"] = time.perf_counter() - t0
            if name == "rule":
                facts["rule_min_net_quote"] = policy.min_net_quote
            res = Simulator(policy, test, bt, replay=replay).run_sync()
            runs[name].append(res)
            if progress is not None:
                progress(f"seed {seed} {name:>22}: net {float(res['net_profit']):12,.2f}")
        info.append(facts)
    return ComparisonResult(config=cfg, runs=runs, bounds=bounds, info=info, skipped=skipped)


def _mean_std(values: Sequence[float], spec: str = ",.2f") -> str:
    """Format the finite values' ``mean ± std`` (ddof 1) with ``spec``, or ``n/a``."""
    arr = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if arr.size == 0:
        return "n/a"
    std = float(np.std(arr, ddof=1)) if arr.size > 1 else 0.0
    return f"{float(np.mean(arr)):{spec}} ± {std:{spec}}"


def format_comparison(
    result: ComparisonResult, *, title: str = "Policy comparison", base: str = "rule"
) -> str:
    """Return the comparison as markdown: net, trades, share of the bound, differences.

    Parameters
    ----------
    result
        Output of :func:`run_comparison`.
    title
        Heading.
    base
        Policy the paired differences are taken against (skipped if it did not run).
    """
    cfg = result.config
    t = result.table()
    lines = [
        f"# {title}",
        "",
        f"Seeds {list(cfg.seeds)}; every policy replayed by the same engine (the one replay: "
        f"{cfg.backtest.max_candidates} candidates per block, the gap rule, outcomes known at "
        "their including block), on the same test history and the same draws per seed. "
        "Learners and the rule's threshold are fitted on a separate training history.",
        "",
        "**Upper bound.** For each candidate, the best net any order on it could realise "
        "(full size, no tip, no rivals, certain inclusion, best inclusion delay) on the run's "
        "draws; a policy sends at most one candidate per block and, under the gap rule, has at "
        "most one included trade per gap, so its net is at most the per-block sum of these "
        "values and at most the per-gap sum: the bound is the smaller. "
        f"Per seed: {_mean_std(result.bounds)} quote.",
        "",
        "The bound covers arbitrage; a policy's spot trades and inventory revaluation are "
        "shown apart (net = arbitrage + spot and inventory).",
        "",
        "| policy | net profit (mean ± std) | arbitrage | spot and inventory | trades | "
        "win rate | arbitrage share of the bound |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in result.runs:
        rows = t.filter(pl.col("policy") == name)
        lines.append(
            f"| {name} | {_mean_std(rows['net_profit'].to_list())} | "
            f"{_mean_std(rows['arbitrage_net_profit'].to_list())} | "
            f"{_mean_std(rows['spot_and_inventory'].to_list())} | "
            f"{float(np.mean(rows['trade_count'].to_numpy())):,.0f} | "
            f"{_mean_std(rows['win_rate'].to_list(), '.1%')} | "
            f"{_mean_std(rows['share_of_bound'].to_list(), '.1%')} |"
        )
    for name, why in result.skipped.items():
        lines.append(f"| {name} | not trained: {why} | | | | | |")
    if base in result.runs and len(result.runs) > 1:
        d = result.paired_differences(base)
        lines += ["", f"Paired differences against `{base}` (same history and draws), quote:", ""]
        lines += ["| policy | mean ± std | ahead in |", "|---|---|---|"]
        for name in result.runs:
            if name == base:
                continue
            vals = d.filter(pl.col("policy") == name)["difference"].to_list()
            ahead = sum(v > 0 for v in vals)
            lines.append(f"| {name} | {_mean_std(vals)} | {ahead} of {len(vals)} seeds |")
    return "\n".join(lines) + "\n"
