"""The one replay: every harness pays the same for the same actions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from arbkit.backtest import BacktestConfig, BlockView, Order, Simulator, get_replay
from arbkit.backtest.compare import ComparisonConfig, run_comparison
from arbkit.backtest.policies import ActorPolicy
from arbkit.backtest.protocol import PolicyBase
from arbkit.errors import ConfigError
from arbkit.execution import (
    NOT_INCLUDED,
    ExecutionConfig,
    Outcome,
    Replay,
    check_label_delay,
    label_delay_blocks,
)
from arbkit.features import FeatureConfig
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market
from arbkit.rl import ArbitrageEnv, ArbitrageVectorEnv
from arbkit.rl.state import BUY, FLASH_ARB, HOLD, SELL

SEED = 3
N_BLOCKS = 2_500


@lru_cache(maxsize=1)
def _history() -> MarketHistory:
    return simulate_market(seed=SEED, n_blocks=N_BLOCKS)


class Scripted(PolicyBase):
    """Send the best free candidate at the blocks where the script says flash_arb."""

    every_block = True

    def __init__(self, actions: Sequence[int]) -> None:
        super().__init__()
        self.name = "scripted"
        self.actions = list(actions)

    def on_block(self, view: BlockView) -> list[Order]:
        if self.actions[view.t] == FLASH_ARB and view.candidates.height:
            return [Order(cand_id=int(view.candidates["cand_id"][0]))]
        return []

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        pass


def _env_kwargs(h: MarketHistory) -> dict[str, object]:
    # one window over the whole history, no risk limit: every action is taken
    return {
        "window_blocks": h.n_blocks - 1,
        "warmup_blocks": 0,
        "max_drawdown_frac": 1.0,
        "initial_capital_quote": 1e15,
    }


def _scripts(replay: Replay) -> dict[str, list[int]]:
    n = replay.n_blocks
    rng = np.random.default_rng(11)
    return {
        "always_flash": [FLASH_ARB] * n,
        "random": rng.choice([HOLD, FLASH_ARB], size=n).tolist(),
    }


def _env_run(
    env: ArbitrageEnv, draws: np.ndarray, script: Sequence[int] | None
) -> tuple[list[int], float]:
    """Return the candidates sent and the total flash reward; ``None`` script: the rule."""
    _, info = env.reset(seed=0, options={"start": 0, "draws": draws})
    sent: list[int] = []
    rewards: list[float] = []
    for t in range(env.window):
        rule = FLASH_ARB if info["expected_net_quote"] > 0 else HOLD
        a = rule if script is None else script[t]
        _, _, term, trunc, info = env.step(a)
        rewards.append(info["reward_flash"])
        if info["flash_candidate"] >= 0:
            sent.append(int(info["flash_candidate"]))
        assert not term
    assert trunc
    return sent, math.fsum(rewards)


def _sim_run(policy: object, h: MarketHistory, cfg: BacktestConfig) -> tuple[list[int], float]:
    res = Simulator(policy, h, cfg).run_sync()
    trades = res.trades
    return trades["cand_id"].to_list(), math.fsum(trades["net_profit_quote"].to_list())


def test_every_harness_gives_the_same_trades_and_net_for_the_same_actions(
    tmp_path: Path,
) -> None:
    from arbkit.backtest import RuleBaseline

    h = _history()
    cfg = BacktestConfig(seed=SEED, portfolio_value_eth=1e9)
    replay = get_replay(h, cfg)
    draws = replay.draws(SEED)
    env = ArbitrageEnv(h, **_env_kwargs(h))  # type: ignore[arg-type]
    scripts = _scripts(replay)
    runs: dict[str, tuple[list[int], float]] = {}

    # the rule: the Simulator's RuleBaseline and the env's rule on the same observation
    sim_rule = _sim_run(RuleBaseline(), h, cfg)
    assert sim_rule == _env_run(env, draws, None)
    assert len(sim_rule[0]) > 200
    runs["rule"] = sim_rule
    for name, script in scripts.items():
        sim = _sim_run(Scripted(script), h, cfg)
        assert sim == _env_run(env, draws, script), name
        runs[name] = sim
    assert runs["random"][0] != runs["always_flash"][0]

    # every lane of the vector env: lane i plays script i (and lane 2 the rule)
    venv = ArbitrageVectorEnv(3, h, **_env_kwargs(h))  # type: ignore[arg-type]
    _, info = venv.reset(seed=0, options={"start": 0, "draws": draws})
    lanes_sent: list[list[int]] = [[], [], []]
    lanes_reward: list[list[float]] = [[], [], []]
    for t in range(venv.window):
        rule = np.where(info["expected_net_quote"] > 0, FLASH_ARB, HOLD)
        a = np.array([scripts["always_flash"][t], scripts["random"][t], rule[2]])
        _, _, _, _, info = venv.step(a)
        for i in range(3):
            lanes_reward[i].append(float(info["reward_flash"][i]))
            if info["flash_candidate"][i] >= 0:
                lanes_sent[i].append(int(info["flash_candidate"][i]))
    for i, name in enumerate(("always_flash", "random", "rule")):
        assert (lanes_sent[i], math.fsum(lanes_reward[i])) == runs[name], name

    # the decider's (and every report's) comparison engine, with the rule on this history
    path = h.save(tmp_path / "h")
    result = run_comparison(
        ComparisonConfig(
            policies=("rule",),
            seeds=(SEED,),
            train_blocks=300,
            rule_min_net_quote=(0.0,),
            backtest=cfg,
        ),
        data=path,
    )
    trades = result.runs["rule"][0].trades
    got = (trades["cand_id"].to_list(), math.fsum(trades["net_profit_quote"].to_list()))
    assert got == runs["rule"]


def _env_spot_run(
    env: ArbitrageEnv, draws: np.ndarray, script: Sequence[int]
) -> tuple[list[tuple[int, str, float, float]], list[int], float, float]:
    """Spot fills (block, side, P&L, gas), candidates sent, flash net and total reward."""
    _, info = env.reset(seed=0, options={"start": 0, "draws": draws})
    blocks = env.tables.block_numbers
    spot: list[tuple[int, str, float, float]] = []
    sent: list[int] = []
    flash: list[float] = []
    total: list[float] = []
    for t in range(env.window):
        _, r, _, _, info = env.step(script[t])
        total.append(float(r))
        flash.append(info["reward_flash"])
        if info["executed"]:
            side = "spot_buy" if script[t] == BUY else "spot_sell"
            spot.append((int(blocks[t]), side, info["reward_trade"], -info["reward_gas"]))
        if info["flash_candidate"] >= 0:
            sent.append(int(info["flash_candidate"]))
    return spot, sent, math.fsum(flash), math.fsum(total)


def test_spot_and_flash_actions_pay_the_same_in_the_envs_and_the_simulator() -> None:
    h = _history()
    cfg = BacktestConfig(seed=SEED, portfolio_value_eth=1e6)
    replay = get_replay(h, cfg)
    draws = replay.draws(SEED)
    rng = np.random.default_rng(5)
    script = rng.choice([BUY, SELL, HOLD, FLASH_ARB], size=h.n_blocks, p=[0.3, 0.3, 0.2, 0.2])
    env = ArbitrageEnv(h, **_env_kwargs(h))  # type: ignore[arg-type]
    spot, sent, flash, total = _env_spot_run(env, draws, script.tolist())
    sides = [s[1] for s in spot]
    # the script exercises both sides and both refusals (above the cap, more than held)
    assert sides.count("spot_buy") > 50 and sides.count("spot_sell") > 50
    assert len(spot) < int(np.isin(script[: env.window], [BUY, SELL]).sum())

    # the Simulator, driven through the PPO/DQN adapter by the same script
    calls = iter(script.tolist())
    res = Simulator(ActorPolicy(lambda obs: next(calls), "scripted"), h, cfg).run_sync()
    tr = res.trades
    is_spot = tr["kind"].is_in(["spot_buy", "spot_sell"])
    sim_spot = [
        (int(b), str(k), float(p), float(g))
        for b, k, p, g in tr.filter(is_spot)
        .select("block", "kind", "realized_profit_quote", "gas_paid_quote")
        .iter_rows()
    ]
    assert sim_spot == spot  # the same fills, to the last bit
    flash_rows = tr.filter(~is_spot)
    assert flash_rows["cand_id"].to_list() == sent
    assert math.fsum(flash_rows["net_profit_quote"].to_list()) == flash
    # the whole P&L (spot, gas, flash, inventory revalued): summed in another order
    eq = res.equity["equity_quote"]
    assert float(eq[-1] - eq[0]) == pytest.approx(total, abs=1e-5)

    # every lane of the vector env plays it alike
    venv = ArbitrageVectorEnv(2, h, **_env_kwargs(h))  # type: ignore[arg-type]
    venv.reset(seed=0, options={"start": 0, "draws": draws})
    blocks = venv.tables.block_numbers
    lanes: list[list[tuple[int, str, float, float]]] = [[], []]
    for t in range(venv.window):
        a = np.array([script[t], script[t]])
        _, _, _, _, info = venv.step(a)
        for i in range(2):
            if info["executed"][i]:
                side = "spot_buy" if script[t] == BUY else "spot_sell"
                lanes[i].append(
                    (
                        int(blocks[t]),
                        side,
                        float(info["reward_trade"][i]),
                        -float(info["reward_gas"][i]),
                    )
                )
    assert lanes[0] == spot and lanes[1] == spot


def test_rewards_credited_when_known_add_up_to_the_decision_time_nets() -> None:
    h = _history()
    env = ArbitrageEnv(h, **_env_kwargs(h))  # type: ignore[arg-type]
    replay = env.replay
    draws = replay.draws(SEED)
    _, info = env.reset(seed=0, options={"start": 0, "draws": draws})
    per_step: list[float] = []
    decided: list[float] = []
    for _ in range(env.window):
        _, _, _, _, info = env.step(FLASH_ARB)
        per_step.append(info["reward_flash"])
        c = info["flash_candidate"]
        if c >= 0:
            decided.append(replay.execute(c, draws).net_profit_quote)
    # credited at the including block (not at the decision), same episode total
    assert math.fsum(per_step) == math.fsum(decided)
    assert per_step[: env.window - 1] != decided[: env.window - 1]


def test_outcomes_become_known_at_the_including_block_or_the_deadline() -> None:
    h = _history()
    replay = Replay(h)
    draws = replay.draws(0)
    net, code, reveal = replay.cells.lookup(np.arange(replay.candidates.height), draws)
    out = replay.default_outcomes(draws)
    inc = out["included_block"].to_list()
    for i, (r, c) in enumerate(zip(reveal.tolist(), code.tolist(), strict=True)):
        t = int(replay.cand_t[i])
        if c == NOT_INCLUDED:
            assert inc[i] is None
            assert r == min(t + 1 + ExecutionConfig().max_delay_blocks, replay.n_blocks)
        else:
            assert r == inc[i] - replay.first_block
            assert t + 1 <= r <= t + 1 + ExecutionConfig().max_delay_blocks  # never earlier
    assert np.array_equal(net, out["net_profit_quote"].to_numpy())


def test_scalar_and_lane_ledgers_apply_the_same_gap_rule() -> None:
    h = _history()
    replay = Replay(h)
    draws = replay.draws(1)
    _, code, reveal = replay.cells.lookup(np.arange(replay.candidates.height), draws)
    scalar = replay.ledger()
    lanes = replay.lanes(2)
    for t in range(replay.n_blocks - 1):
        c = scalar.first_free(t)
        got = lanes.first_free(np.array([t, t]))
        assert got.tolist() == [c, c]
        assert scalar.free(t)[:1] == ([c] if c >= 0 else [])
        if c >= 0 and t % 2 == 0:
            inc = bool(code[c] != NOT_INCLUDED)
            scalar.take(c, int(reveal[c]), inc)
            lanes.take(
                np.array([0, 1]), np.array([c, c]), np.array([reveal[c]] * 2), np.array([inc] * 2)
            )


def test_a_pool_traded_by_an_included_trade_waits_for_its_state_to_change() -> None:
    h = _history()
    replay = Replay(h)
    ledger = replay.ledger()
    cid = int(replay.block_candidates[replay.block_candidates[:, 0] >= 0][0, 0])
    t = int(replay.cand_t[cid])
    reveal = t + 1
    ledger.take(cid, reveal, included=True)
    pools = replay.cand_pool_lists[cid]
    r0, r1 = h.reserves()
    for p in pools:
        free_from = ledger.busy[p]
        assert free_from >= reveal
        # the replayed state the trade executed on persists until free_from
        for s in range(reveal, min(free_from, replay.n_blocks)):
            assert r0[s, p] == r0[reveal - 1, p] and r1[s, p] == r1[reveal - 1, p]
        if free_from < replay.n_blocks:
            assert (r0[free_from, p], r1[free_from, p]) != (r0[reveal - 1, p], r1[reveal - 1, p])
    # the same gap is never offered again
    gap = replay.cand_gap[cid]
    later = [c for c in range(cid + 1, replay.candidates.height) if replay.cand_gap[c] == gap]
    assert all(not ledger.is_free(c, int(replay.cand_t[c])) for c in later)


def test_label_delay_follows_from_latency_and_inclusion_delay() -> None:
    exe = ExecutionConfig()
    assert label_delay_blocks(exe) == 1 + exe.max_delay_blocks
    assert label_delay_blocks(exe, latency_ms=12_000.0) == 2 + exe.max_delay_blocks
    assert FeatureConfig().label_delay(exe) == label_delay_blocks(exe)
    with pytest.raises(ConfigError, match="before their including block"):
        check_label_delay(2, exe)
    with pytest.raises(ConfigError, match="label_delay_blocks=3"):
        FeatureConfig(label_delay_blocks=3).label_delay(exe, latency_ms=12_000.0)
    check_label_delay(3, exe)


def test_the_gas_estimate_uses_the_base_fee_of_the_landing_block() -> None:
    from arbkit.market.gas import next_base_fee
    from arbkit.opportunities import ScanConfig, scan_blocks

    h = _history()
    replay = Replay(h)
    row = replay.candidates.filter(pl.col("kind") == "dex_dex").row(0, named=True)
    b = h.blocks.filter(pl.col("block") == row["block"]).row(0, named=True)
    landing = next_base_fee(int(b["base_fee_wei"]), int(b["gas_used"]), int(b["gas_limit"]))
    again = scan_blocks(
        h.pool_states.filter(pl.col("block") == row["block"]),
        base_fees=landing,
        cex_quotes=h.cex_quotes,
        config=ScanConfig(max_candidates=8),
    )
    same = again.filter(
        (pl.col("route") == pl.lit(row["route"], dtype=pl.List(pl.String)))
        & (pl.col("start_token") == row["start_token"])
    )
    assert same["gas_cost_quote"][0] == row["gas_cost_quote"]


def test_the_upper_bound_is_above_every_policy_on_every_seed() -> None:
    result = run_comparison(
        ComparisonConfig(
            policies=("foresight", "rule", "random", "decider_with_model"),
            seeds=(0, 1, 2),
            n_blocks=1_500,
            train_blocks=1_500,
            rule_min_net_quote=(0.0, 5.0),
        )
    )
    for name, runs in result.runs.items():
        for bound, r in zip(result.bounds, runs, strict=True):
            assert float(r["arbitrage_net_profit"]) <= bound, name
            assert float(r["net_profit"]) == float(r["arbitrage_net_profit"])  # no spot here
    shares = result.table()["share_of_bound"].to_numpy()
    assert np.all((shares <= 1.0) & np.isfinite(shares))
