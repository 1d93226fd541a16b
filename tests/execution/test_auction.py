"""The builder's auction: rivals bid like the real ones, the better bid takes the block."""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbkit.errors import DataError
from arbkit.execution import ExecutionConfig, ExecutionModel, Trade
from arbkit.execution.model import rival_share
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market
from arbkit.opportunities import ScanConfig, scan_blocks


@lru_cache(maxsize=1)
def _sim() -> tuple[MarketHistory, pl.DataFrame]:
    h = simulate_market(seed=21, n_blocks=2_000)
    c = scan_blocks(
        h.pool_states,
        base_fees=h.blocks.select("block", "base_fee_wei"),
        cex_quotes=h.cex_quotes,
        config=ScanConfig(max_candidates=3),
    )
    return h, c.filter(pl.col("kind") != "cex_dex")


@given(
    st.floats(0, 1e18),
    st.floats(0, 1e18),
    st.floats(1e-9, 1e18),
    st.floats(0.5, 20),
)
def test_a_higher_bid_never_raises_the_rivals_share(
    bid: float, more: float, rival: float, k: float
) -> None:
    low = float(rival_share(bid, rival, k))
    high = float(rival_share(bid + more, rival, k))
    assert 0.0 <= high <= low <= 1.0


def test_the_auction_ties_at_one_half_and_is_sharp_for_large_k() -> None:
    assert float(rival_share(5.0, 5.0, 4.0)) == pytest.approx(0.5)
    assert float(rival_share(0.0, 0.0, 4.0)) == 0.5
    assert float(rival_share(1.0, 0.0, 4.0)) == 0.0
    assert float(rival_share(0.0, 1.0, 4.0)) == 1.0
    assert float(rival_share(1.1, 1.0, 500.0)) < 1e-10  # the sharp first-price auction
    assert float(rival_share(2.0, 1.0, 4.0)) == pytest.approx(1 / 17)


def _trades(cands: pl.DataFrame, *, tip: int, bribe: list[int] | int) -> pl.DataFrame:
    n = cands.height
    bribes = [bribe] * n if isinstance(bribe, int) else bribe
    return cands.with_columns(
        pl.lit(tip, dtype=pl.Int64).alias("priority_fee_wei"),
        pl.Series("bribe_wei", bribes, dtype=pl.Int64),
    )


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 10**16), st.integers(1, 10**17))
def test_on_the_same_draws_a_higher_bid_never_turns_a_win_into_a_loss(
    seed: int, low: int, extra: int
) -> None:
    # inclusion made certain so that both bids land in the same block: then the bid only
    # decides the auction, and a higher bid must never lose what a lower one won
    h, cands = _sim()
    model = ExecutionModel(h, ExecutionConfig(certain_inclusion=True))
    u = np.random.default_rng(seed).random((cands.height, 2))
    a = model.execute_batch(_trades(cands, tip=10**9, bribe=low), draws=u)
    b = model.execute_batch(_trades(cands, tip=10**9, bribe=low + extra), draws=u)
    won_low = (a["reason"] == "ok").to_numpy()
    won_high = (b["reason"] == "ok").to_numpy()
    assert not np.any(won_low & ~won_high)
    assert (b["reason"] == "competitor").sum() <= (a["reason"] == "competitor").sum()


def test_a_higher_bid_never_lowers_the_chance_of_inclusion() -> None:
    h, cands = _sim()
    model = ExecutionModel(h, ExecutionConfig(competition=False))
    u = np.random.default_rng(4).random((cands.height, 2))
    included = []
    for bribe in (0, 10**12, 10**13, 10**14, 10**15):
        out = model.execute_batch(_trades(cands, tip=0, bribe=bribe), draws=u)
        included.append(out["included_block"].is_not_null().to_numpy())
    for lower, higher in itertools.pairwise(included):
        assert not np.any(lower & ~higher)  # per draw: included stays included
    assert included[0].sum() == 0 and included[-1].all()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(1.0, 5.0))
def test_on_the_same_draws_bidding_above_the_expected_profit_never_beats_bidding_nothing(
    seed: int, factor: float
) -> None:
    h, cands = _sim()
    # decided and landing on the state it was priced on: realised profit = expected profit
    model = ExecutionModel(h, ExecutionConfig(certain_inclusion=True))
    native = model.unit_price("WETH")
    start = cands["start_token"].to_list()
    blocks = (cands["block"].to_numpy() - h.block_numbers[0]).astype(int)
    # valued at the including block (t + 1), as the model values the profit and the bid
    profit_q = np.array(
        [
            float(p) * model.unit_price(tok)[t + 1]
            for p, tok, t in zip(cands["expected_profit"].to_list(), start, blocks, strict=True)
        ]
    )
    over = [int(factor * q / native[t + 1]) + 1 for q, t in zip(profit_q, blocks, strict=True)]
    u = np.random.default_rng(seed).random((cands.height, 2))
    high = model.execute_batch(_trades(cands, tip=10**9, bribe=over), draws=u)
    for tip in (0, 10**9):  # bidding nothing: no transfer, with or without a tip
        zero = model.execute_batch(_trades(cands, tip=tip, bribe=0), draws=u)
        h_net = high["net_profit_quote"].to_numpy()
        z_net = zero["net_profit_quote"].to_numpy()
        assert np.all(h_net <= z_net + 1e-9)


def test_rivals_come_where_the_history_says_and_nowhere_else() -> None:
    h, cands = _sim()
    riv = h.swaps.filter(pl.col("kind") == "rival").select("block", "pool")
    assert riv.height > 0
    model = ExecutionModel(h, ExecutionConfig(certain_inclusion=True))
    assert model.config.rival_presence == "auto"
    u = np.column_stack([np.full(cands.height, 0.5), np.zeros(cands.height)])  # u_rival = 0
    out = model.execute_batch(_trades(cands, tip=10**9, bribe=0), draws=u)
    hit = set(map(tuple, riv.iter_rows()))
    present = np.array(
        [
            any((b + 1, p) in hit for p in route)
            for b, route in zip(cands["block"].to_list(), cands["route"].to_list(), strict=True)
        ]
    )
    lost = (out["reason"] == "competitor").to_numpy()
    assert present.any() and (~present).any()
    assert not np.any(lost & ~present)  # nobody came: nobody can take it
    # a rival that came and bid more than our 1 gwei tip takes it at u_rival = 0
    assert lost[present].mean() > 0.9


def test_hazard_presence_when_asked_and_history_presence_needs_swaps() -> None:
    h, cands = _sim()
    hazard = ExecutionModel(h, ExecutionConfig(rival_presence="hazard"))
    u = np.random.default_rng(2).random((cands.height, 2))
    out = hazard.execute_batch(_trades(cands, tip=10**9, bribe=0), draws=u)
    assert (out["reason"] == "competitor").any()
    bare = MarketHistory(h.blocks, h.pool_states, h.cex_quotes, h.aqua_events)
    with pytest.raises(DataError, match="swaps"):
        ExecutionModel(bare, ExecutionConfig(rival_presence="history"))
    assert ExecutionModel(bare)._rival_at is None  # auto: the hazard


def test_scalar_and_batch_agree_with_bids_and_history_rivals() -> None:
    h, cands = _sim()
    rng = np.random.default_rng(8)
    n = cands.height
    trades = cands.with_columns(
        pl.Series("priority_fee_wei", rng.choice([0, 10**8, 10**9], n)),
        pl.Series("bribe_wei", rng.choice([0, 10**13, 10**15, 10**16], n)),
    )
    model = ExecutionModel(h)
    uu = rng.random((n, 2))
    batch = model.execute_batch(trades, draws=uu)
    assert (batch["reason"] == "competitor").any() and (batch["reason"] == "ok").any()
    for i, r in enumerate(trades.iter_rows(named=True)):
        out = model.execute(Trade.from_row(r), draws=(float(uu[i, 0]), float(uu[i, 1])))
        assert out.reason == batch["reason"][i], i
        assert out.net_profit_quote == batch["net_profit_quote"][i], i


def test_rival_bids_grow_with_volume_and_stop_at_the_edges_worth() -> None:
    h, _ = _sim()
    model = ExecutionModel(h)
    t = np.array([100, 100, 100])
    inc = np.array([101, 101, 101])
    usdc = 10**6
    amounts = np.array([1_000.0 * usdc, 4_000.0 * usdc, 16_000.0 * usdc])
    wide = model.rival_bids(t, inc, ["USDC"] * 3, amounts, np.full(3, 1e6))
    c0 = model._rival_bid[101]
    if c0 > 0:
        ratio = wide[1:] / wide[:-1]
        assert ratio == pytest.approx(np.full(2, 4.0**0.505))
    thin = model.rival_bids(t, inc, ["USDC"] * 3, amounts, np.full(3, 1e-3))
    price = model.unit_price("USDC")[100] / model.unit_price("WETH")[100]
    cap = 0.5 * 1e-3 * 1e-4 * amounts * price
    assert np.all(thin <= cap * (1 + 1e-12))
