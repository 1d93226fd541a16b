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

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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
    "bootstrap_difference",
    "build_policy",
    "format_comparison",
    "run_comparison",
    "tune_decider",
    "tune_rule",
]

POLICIES = (
    "foresight",
    "rule",
    "rule_best_tip",
    "rule_profit_share",
    "random",
    "decider_without_model",
    "decider_with_model",
    "q_learning",
    "ppo",
    "dqn",
)
"""Every policy the comparison knows, by the one name used in code, CLI and reports."""

DEFAULT_POLICIES = POLICIES[:8]
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
    rule_tips_wei
        Tips per gas tried by ``rule_best_tip`` (with every threshold).
    rule_bid_shares
        Shares of the expected net profit ``rule_profit_share`` tries as its coinbase
        transfer (with every threshold).
    decider_thresholds, decider_min_profit_eth
        Confidence thresholds and minimum profits (ETH) tried for both deciders on the
        training history, after their models are fitted there.
    decider_bid_shares
        Coinbase-transfer shares tried for ``decider_without_model`` (it has no model of
        the bid; ``decider_with_model`` chooses its own).
    decider_min_bid_shares
        The smallest share ``decider_with_model`` may bid (its bid search starts there).
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
    rule_tips_wei: tuple[int, ...] = (
        100_000_000,
        500_000_000,
        1_000_000_000,
        3_000_000_000,
        10_000_000_000,
        30_000_000_000,
    )
    rule_bid_shares: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
    decider_thresholds: tuple[float, ...] = (0.0, 0.3)
    decider_min_profit_eth: tuple[float, ...] = (0.0, 0.0003, 0.0007, 0.0015)
    decider_bid_shares: tuple[float, ...] = (0.0, 0.05, 0.3, 0.5)
    decider_min_bid_shares: tuple[float, ...] = (0.0, 0.3, 0.5)
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


def bootstrap_difference(
    result: ComparisonResult,
    policy: str,
    base: str,
    *,
    n_boot: int = 2_000,
    block_len: int = 720,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Return the mean paired difference ``policy - base`` per seed and its bootstrap CI.

    Each seed's two runs share the test history and the draws, so the difference of
    their per-block P&L (changes of the equity curve) is paired block by block. A moving
    block bootstrap (blocks of ``block_len`` consecutive blocks, drawn with replacement
    within each seed, keeping short-range dependence) resamples every seed's series; a
    replicate is the mean over seeds of the resampled totals. The interval is the
    percentile interval of the replicates.

    Returns
    -------
    dict
        ``mean`` (the observed mean difference per seed), ``lo``, ``hi``, ``n_seeds``,
        ``share_above_zero`` (of the replicates).

    Raises
    ------
    ConfigError
        If either policy did not run.
    """
    for name in (policy, base):
        if name not in result.runs:
            raise ConfigError(f"bootstrap_difference: {name!r} was not run")
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    totals = np.zeros(n_boot)
    observed = []
    for a, b in zip(result.runs[policy], result.runs[base], strict=True):
        ea = a.equity["equity_quote"].to_numpy()
        eb = b.equity["equity_quote"].to_numpy()
        d = np.diff(ea, prepend=ea[0]) - np.diff(eb, prepend=eb[0])
        d[0] += ea[0] - eb[0]  # both start from the same portfolio: 0 in practice
        observed.append(float(a["net_profit"]) - float(b["net_profit"]))
        n = d.size
        length = max(1, min(block_len, n))
        k = -(-n // length)
        csum = np.concatenate([[0.0], np.cumsum(np.concatenate([d, d]))])
        starts = rng.integers(0, n, size=(n_boot, k))
        sums = csum[starts + length] - csum[starts]
        # the last block is cut to make n blocks in all
        cut = k * length - n
        if cut:
            sums[:, -1] -= csum[starts[:, -1] + length] - csum[starts[:, -1] + length - cut]
        totals += sums.sum(axis=1)
    m = len(observed)
    totals /= m
    alpha = (1.0 - level) / 2.0
    return {
        "mean": float(np.mean(observed)),
        "lo": float(np.quantile(totals, alpha)),
        "hi": float(np.quantile(totals, 1.0 - alpha)),
        "n_seeds": float(m),
        "share_above_zero": float(np.mean(totals > 0)),
    }


def _finite(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def tune_rule(
    train: MarketHistory,
    config: ComparisonConfig,
    seed: int,
    *,
    bid: Literal["none", "tip", "share"] = "none",
) -> RuleBaseline:
    """Return the rule whose settings earned most on ``train`` (a grid search).

    ``bid="none"`` tunes the expected-net threshold at the run's tip (``rule``);
    ``"tip"`` the threshold and a fixed tip per gas (``rule_best_tip``); ``"share"`` the
    threshold and a coinbase transfer of a fixed share of the expected net, sent with the
    run's tip or with none (``rule_profit_share``). Ties keep the first setting tried.
    """
    bt = config.backtest.model_copy(update={"seed": seed, "progress": False})
    replay = get_replay(train, bt)
    grid: list[dict[str, Any]]
    if bid == "tip":
        grid = [{"priority_fee_wei": tip} for tip in config.rule_tips_wei]
    elif bid == "share":
        # as searchers bid a share through a relay: with the run's tip, or the transfer alone
        grid = [
            {"bid_share": share, "priority_fee_wei": tip}
            for tip in (None, 0)
            for share in config.rule_bid_shares
        ]
    else:
        grid = [{}]
    best: dict[str, Any] = {}
    best_net = -math.inf
    for extra in grid:
        for th in config.rule_min_net_quote:
            kw = {"min_net_quote": th, **extra}
            res = Simulator(RuleBaseline(**kw), train, bt, replay=replay).run_sync()
            net = float(res["net_profit"])
            if net > best_net:
                best, best_net = kw, net
    rule = RuleBaseline(**best)
    rule.name = {"none": "rule", "tip": "rule_best_tip", "share": "rule_profit_share"}[bid]
    rule.tuned = {**best, "train_net_profit": best_net}
    return rule


def tune_decider(
    train: MarketHistory, config: ComparisonConfig, seed: int, *, use_model: bool
) -> Any:
    """Return the decider (with or without models) whose settings earned most on ``train``.

    The models are fitted on ``train`` once (:func:`arbkit.backtest.learners.make_decider`:
    the route model, and with ``use_model`` the win-probability model); then the
    confidence threshold, the minimum profit and the bid (with the model: the smallest
    share it may bid; without: its fixed share) are chosen by a grid search of backtests
    on ``train``. Ties keep the first setting.
    """
    from arbkit.backtest.learners import decider_seeds, make_decider, train_win_model

    bt = config.backtest.model_copy(update={"seed": seed, "progress": False})
    replay = get_replay(train, bt)
    win_model = win_report = None
    if use_model:
        win_model, win_report = train_win_model(train, seed=decider_seeds(seed)[3], backtest=bt)
    # the model's decider tunes how low it may bid; the one without tunes its fixed share
    levels = config.decider_min_bid_shares if use_model else config.decider_bid_shares
    best: tuple[float, float, float] = (levels[0], 0.0, 0.0)
    best_net = -math.inf

    def build(level: float, th: float, mp: float) -> Any:
        return make_decider(
            train,
            seed=seed,
            use_model=use_model,
            backtest=config.backtest,
            win_model=win_model,
            overrides={"confidence_threshold": th, "min_profit_eth": mp},
            bid_share=0.0 if use_model else level,
            min_bid_share=level if use_model else 0.0,
        )

    for level, th, mp in itertools.product(
        levels, config.decider_thresholds, config.decider_min_profit_eth
    ):
        net = float(
            Simulator(build(level, th, mp), train, bt, replay=replay).run_sync()["net_profit"]
        )
        if net > best_net:
            best, best_net = (level, th, mp), net
    level, th, mp = best
    policy = build(level, th, mp)
    bid = {"min_bid_share" if use_model else "bid_share": level}
    best_kw = {"confidence_threshold": th, "min_profit_eth": mp}
    policy.tuned = {**best_kw, **bid, "train_net_profit": best_net}
    policy.win_model_report = win_report
    return policy


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
    if name == "rule_best_tip":
        return tune_rule(train, config, seed, bid="tip")
    if name == "rule_profit_share":
        return tune_rule(train, config, seed, bid="share")
    if name == "random":
        return RandomPolicy(seed=seed)
    if name in ("decider_with_model", "decider_without_model"):
        return tune_decider(train, config, seed, use_model=name == "decider_with_model")
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
            tuned = getattr(policy, "tuned", None)
            if tuned:
                facts[f"tuned_{name}"] = dict(tuned)
            win_report = getattr(policy, "win_model_report", None)
            if win_report is not None:
                facts[f"win_model_{name}"] = win_report
            run_replay = replay
            if getattr(policy, "bid_model", None) is not None:
                # the policy's default orders bid what the decider would (RL flash_arb)
                from arbkit.decider.bidding import candidate_bids

                run_replay = replay.with_bids(
                    candidate_bids(
                        replay.candidates,
                        test,
                        policy.bid_model,
                        run_tip_wei=replay.priority_fee_wei,
                        revert_gas_fraction=bt.execution.revert_gas_fraction,
                    ),
                    priority_fee_wei=policy.bid_model.bid_config.priority_fee_wei,
                )
            res = Simulator(policy, test, bt, replay=run_replay).run_sync()
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
