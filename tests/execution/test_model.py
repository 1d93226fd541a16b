from __future__ import annotations

from functools import lru_cache

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbkit.errors import DataError
from arbkit.execution import ExecutionConfig, ExecutionModel, Trade
from arbkit.market.amm import aave_flash_fee, get_amounts_out
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market
from arbkit.market.tables import AQUA_EVENTS_SCHEMA, BLOCKS_SCHEMA, CEX_QUOTES_SCHEMA, INT
from arbkit.opportunities import ScanConfig, scan_blocks

QUIET = ExecutionConfig(competition=False)


@lru_cache(maxsize=1)
def _sim() -> tuple[MarketHistory, pl.DataFrame]:
    h = simulate_market(seed=11, n_blocks=1_500)
    c = scan_blocks(
        h.pool_states,
        base_fees=h.blocks.select("block", "base_fee_wei"),
        cex_quotes=h.cex_quotes,
        config=ScanConfig(max_candidates=4),
    )
    return h, c


def _flat_history(
    n: int = 6, *, fee_bps: int = 30, base_fee: int = 10**9, tip: int = 10**9
) -> MarketHistory:
    """Two USDC/WETH pools 1% apart, unchanged for n blocks."""
    blocks = pl.DataFrame(
        {
            "block": list(range(100, 100 + n)),
            "timestamp": [1_700_000_000 + 12 * i for i in range(n)],
            "base_fee_wei": [base_fee] * n,
            "gas_used": [15_000_000] * n,
            "gas_limit": [30_000_000] * n,
            "competitor_tip_wei": [tip] * n,
        },
        schema_overrides=dict(BLOCKS_SCHEMA),
    )
    rows = []
    for b in range(100, 100 + n):
        rows.append(("a:USDC-WETH", "a", 3_000_000 * 10**6, 1_000 * 10**18, b))
        rows.append(("b:USDC-WETH", "b", 3_030_000 * 10**6, 1_000 * 10**18, b))
    states = pl.DataFrame(
        {
            "block": [r[4] for r in rows],
            "pool": [r[0] for r in rows],
            "venue": [r[1] for r in rows],
            "token0": ["USDC"] * len(rows),
            "token1": ["WETH"] * len(rows),
            "reserve0": pl.Series([r[2] for r in rows], dtype=INT),
            "reserve1": pl.Series([r[3] for r in rows], dtype=INT),
            "fee_bps": [fee_bps] * len(rows),
        }
    )
    quotes = pl.DataFrame(
        {
            "timestamp": blocks["timestamp"],
            "venue": ["x"] * n,
            "symbol": ["ETH/USDC"] * n,
            "bid": [3_009.0] * n,
            "ask": [3_011.0] * n,
            "bid_size": [1.0] * n,
            "ask_size": [1.0] * n,
            "block": blocks["block"],
        },
        schema={**dict(CEX_QUOTES_SCHEMA), "block": pl.Int64()},
    )
    return MarketHistory(blocks, states, quotes, pl.DataFrame(schema=dict(AQUA_EVENTS_SCHEMA)))


def _trade(**kw: object) -> Trade:
    base: dict[str, object] = dict(
        block=100,
        route=("a:USDC-WETH", "b:USDC-WETH"),
        start_token="USDC",
        amount_in=1_500 * 10**6,
        kind="dex_dex",
        gas_units=200_000,
    )
    base.update(kw)
    return Trade(**base)  # type: ignore[arg-type]


def test_execute_batch_matches_scalar_execute_trade_by_trade() -> None:
    h, cands = _sim()
    rng = np.random.default_rng(5)
    n = cands.height
    trades = cands.with_columns(
        pl.Series("priority_fee_wei", rng.integers(0, 3 * 10**9, n)),
        pl.Series("latency_ms", rng.choice([0.0, 150.0, 13_000.0, 30_000.0], n)),
        pl.Series("age_blocks", rng.integers(0, 4, n)),
        pl.Series("bribe_wei", rng.choice([0, 10**15, 3 * 10**16], n)),
        pl.Series(
            "flash_source",
            np.where(cands["kind"] == "cex_dex", "inventory", rng.choice(["aave", "balancer"], n)),
        ),
        (pl.col("expected_profit") * pl.lit(rng.random(n) * 1.2)).cast(INT).alias("min_profit"),
    )
    model = ExecutionModel(h)
    batch = model.execute_batch(trades, rng=np.random.default_rng(9))
    assert batch["reason"].n_unique() >= 4  # ok, competitor, min_profit, not_included...
    scalar_rng = np.random.default_rng(9)
    for i, r in enumerate(trades.iter_rows(named=True)):
        out = model.execute(
            Trade.from_row(r),
            scalar_rng,
        )
        row = batch.row(i, named=True)
        for key, value in row.items():
            got = getattr(out, key)
            assert (tuple(got) if key == "route" else got) == (
                tuple(value) if key == "route" else value
            ), (i, key)


def test_zero_costs_and_latency_give_the_scanners_exact_profit() -> None:
    h, cands = _sim()
    dex = cands.filter(pl.col("kind") != "cex_dex")
    model = ExecutionModel(
        h, ExecutionConfig(competition=False, charge_gas=False, inclusion_tip_scale_wei=1)
    )
    out = model.execute_batch(dex, rng=np.random.default_rng(0))
    last = int(h.block_numbers[-1])
    out = out.filter(pl.col("block") < last)
    exp = dex.filter(pl.col("block") < last)
    assert out["success"].all()
    assert out["realized_profit"].to_list() == exp["expected_profit"].to_list()
    assert (out["included_block"] == out["block"] + 1).all()
    assert (out["gas_paid_wei"] == 0).all()


def test_realized_profit_equals_uniswap_amounts_on_the_state_before_inclusion() -> None:
    h = _flat_history()
    model = ExecutionModel(h, QUIET)
    t = _trade(amount_in=1_777 * 10**6, flash_source="aave")
    out = model.execute(t, draws=(0.5, 0.5))
    r0, r1 = h.reserves()
    amounts = get_amounts_out(t.amount_in, [(r0[0, 0], r1[0, 0]), (r1[0, 1], r0[0, 1])])
    fee = aave_flash_fee(t.amount_in, 5)
    assert out.success and out.realized_profit == amounts[-1] - t.amount_in - fee
    assert out.flash_fee == fee
    assert out.gas_paid_wei == 200_000 * (10**9 + 10**9)


def test_revert_pays_gas_only_and_protection_pays_nothing() -> None:
    h = _flat_history()
    t = _trade(min_profit=10**15)
    out = ExecutionModel(h, QUIET).execute(t, draws=(0.5, 0.5))
    assert not out.success and out.reason == "min_profit"
    assert out.realized_profit == 0 and out.gas_used == 200_000
    assert out.net_profit_quote == pytest.approx(-out.gas_paid_quote)
    protected = ExecutionModel(h, QUIET.model_copy(update={"revert_protection": True}))
    out2 = protected.execute(t, draws=(0.5, 0.5))
    assert out2.included_block is None and out2.gas_paid_wei == 0 and out2.net_profit_quote == 0


def test_bribe_is_paid_on_success_only_and_buys_priority() -> None:
    h = _flat_history(n=40, tip=3 * 10**9)
    model = ExecutionModel(h)
    ok = model.execute(_trade(bribe_wei=10**15), draws=(0.5, 0.99))
    assert ok.success and ok.bribe_paid_wei == 10**15
    plain = model.execute(_trade(), draws=(0.5, 0.99))
    assert ok.net_profit_quote == pytest.approx(plain.net_profit_quote - 10**15 * 3_010e-18)
    failed = model.execute(_trade(bribe_wei=10**15, min_profit=10**12), draws=(0.5, 0.99))
    assert failed.reason == "min_profit" and failed.bribe_paid_wei == 0
    u = np.random.default_rng(3).random((3000, 2))
    rates = []
    for bribe in (0, 10**15):
        trades = pl.DataFrame(
            {
                "block": [100] * 3000,
                "route": [["a:USDC-WETH", "b:USDC-WETH"]] * 3000,
                "start_token": ["USDC"] * 3000,
                "amount_in": pl.Series([10**9] * 3000, dtype=INT),
                "kind": ["dex_dex"] * 3000,
                "edge_bps": [20.0] * 3000,
                "bribe_wei": [bribe] * 3000,
            }
        )
        rates.append((model.execute_batch(trades, draws=u)["reason"] == "competitor").mean())
    assert rates[1] < rates[0]


def test_zero_tip_is_never_included_and_pays_nothing() -> None:
    out = ExecutionModel(_flat_history(), QUIET).execute(
        _trade(priority_fee_wei=0), draws=(0.3, 0.3)
    )
    assert out.reason == "not_included" and out.included_block is None and out.gas_paid_wei == 0


def test_rival_probability_grows_with_edge_age_and_latency() -> None:
    model = ExecutionModel(_flat_history(n=40))
    u = np.random.default_rng(1).random((4000, 2))
    rows = []
    for edge, age, lat in [(10, 0, 0), (100, 0, 0), (10, 3, 0), (10, 0, 24_000)]:
        trades = pl.DataFrame(
            {
                "block": [100] * 4000,
                "route": [["a:USDC-WETH", "b:USDC-WETH"]] * 4000,
                "start_token": ["USDC"] * 4000,
                "amount_in": pl.Series([10**9] * 4000, dtype=INT),
                "kind": ["dex_dex"] * 4000,
                "edge_bps": [float(edge)] * 4000,
                "age_blocks": [age] * 4000,
                "latency_ms": [float(lat)] * 4000,
            }
        )
        out = model.execute_batch(trades, draws=u)
        rows.append((out["reason"] == "competitor").mean())
    base, big_edge, old, slow = rows
    assert big_edge > base and old > base and slow > base


def test_draws_must_match_the_batch() -> None:
    h, cands = _sim()
    with pytest.raises(ValueError, match="shape"):
        ExecutionModel(h).execute_batch(cands.head(3), draws=np.zeros((2, 2)))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"route": ("a:USDC-WETH", "zz")}, "not in this history"),
        ({"route": ("a:USDC-WETH",)}, "does not return"),
        ({"block": 5}, "outside the history"),
        ({"amount_in": -1}, ">= 0"),
        ({"kind": "sandwich"}, "unknown kind"),
    ],
)
def test_bad_trades_are_refused_with_a_clear_error(change: dict[str, object], match: str) -> None:
    with pytest.raises(DataError, match=match):
        ExecutionModel(_flat_history(), QUIET).execute(_trade(**change), draws=(0.5, 0.5))


def _pnl(model: ExecutionModel, trade: Trade, u: tuple[float, float]) -> float:
    return model.execute(trade, draws=u).net_profit_quote


@settings(max_examples=60, deadline=None)
@given(
    amount=st.integers(1, 40_000 * 10**6),
    min_profit=st.integers(0, 10**9),
    u1=st.floats(0.0, 0.999),
    u2=st.floats(0.0, 0.999),
    latency=st.floats(0, 40_000),
    extra_latency=st.floats(0, 40_000),
    base_fee=st.integers(0, 200 * 10**9),
    extra_base=st.integers(0, 200 * 10**9),
    gas=st.integers(50_000, 400_000),
    extra_gas=st.integers(0, 300_000),
)
def test_fees_gas_and_latency_never_raise_pnl(
    amount: int,
    min_profit: int,
    u1: float,
    u2: float,
    latency: float,
    extra_latency: float,
    base_fee: int,
    extra_base: int,
    gas: int,
    extra_gas: int,
) -> None:
    # long enough that even the slowest trade lands inside the history
    h = _flat_history(n=20, base_fee=base_fee)
    h_costly = _flat_history(n=20, base_fee=base_fee + extra_base)
    model = ExecutionModel(h)
    t = _trade(amount_in=amount, min_profit=min_profit, gas_units=gas, latency_ms=latency)
    u = (u1, u2)
    pnl = _pnl(model, t, u)
    no_costs = ExecutionModel(h, ExecutionConfig(charge_gas=False, charge_flash_fee=False)).execute(
        t, draws=u
    )
    assert no_costs.net_profit_quote >= pnl
    assert _pnl(model, _trade(**{**t.__dict__, "flash_source": "aave"}), u) <= pnl
    assert _pnl(model, _trade(**{**t.__dict__, "gas_units": gas + extra_gas}), u) <= pnl
    assert _pnl(ExecutionModel(h_costly), t, u) <= pnl
    slower = _trade(**{**t.__dict__, "latency_ms": latency + extra_latency})
    assert _pnl(model, slower, u) <= pnl + 1e-9
    # a higher pool fee on the same reserves never helps either
    assert _pnl(ExecutionModel(_flat_history(n=20, fee_bps=45, base_fee=base_fee)), t, u) <= pnl
    out = model.execute(t, draws=u)
    assert out.net_profit_quote >= -out.gas_paid_quote  # a revert loses at most the gas


def test_execute_swaps_matches_get_amount_out_and_round_trip_loses() -> None:
    h, _ = _sim()
    model = ExecutionModel(h)
    pool = "uniswap_v2:USDC-WETH"
    blocks = h.block_numbers[:50]
    buy = model.execute_swaps(pool, "USDC", [10_000 * 10**6] * 50, blocks)
    r0, r1 = h.reserves()
    p = h.pool_index[pool]
    for i in range(49):
        assert buy.amount_out[i] == get_amounts_out(10_000 * 10**6, [(r0[i, p], r1[i, p])])[-1]
    sell = model.execute_swaps(pool, "WETH", buy.amount_out, blocks)
    # same state (decision at the same block): selling back returns less than paid
    assert all(int(x) < 10_000 * 10**6 for x in sell.amount_out[:49])
    last = model.execute_swaps(pool, "USDC", [10**6], [h.block_numbers[-1]])
    assert not last.executed[0] and last.amount_out[0] == 0 and last.gas_paid_quote[0] == 0.0
