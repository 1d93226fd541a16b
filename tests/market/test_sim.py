from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from arbkit.errors import ConfigError, DataError
from arbkit.market.gas import next_base_fee
from arbkit.market.history import MANIFEST_NAME, MarketHistory
from arbkit.market.sim import SimParams, simulate_market


def _digest(folder: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir())}


def test_same_seed_gives_byte_identical_files_and_other_seeds_differ(tmp_path: Path) -> None:
    a = simulate_market(seed=3, n_blocks=400).save(tmp_path / "a")
    b = simulate_market(seed=3, n_blocks=400).save(tmp_path / "b")
    c = simulate_market(seed=4, n_blocks=400).save(tmp_path / "c")
    assert _digest(a) == _digest(b)
    da, dc = _digest(a), _digest(c)
    assert all(da[k] != dc[k] for k in ("blocks.parquet", "pool_states.parquet"))


def test_layout_has_three_pairs_on_three_venues_with_a_5bp_venue() -> None:
    h = simulate_market(seed=0, n_blocks=50)
    pairs: dict[tuple[str, str], list[int]] = {}
    for p in h.pools:
        pairs.setdefault((p.token0, p.token1), []).append(p.fee_bps)
    assert len(pairs) == 3
    assert all(sorted(fees) == [5, 30, 30] for fees in pairs.values())
    assert h.pool_states.height == 50 * 9
    assert set(h.cex_quotes["symbol"]) == {"ETH/USDC", "ETH/USDT"}
    assert (h.cex_quotes["bid"] < h.cex_quotes["ask"]).all()


def test_base_fee_follows_eip1559_from_simulated_gas_use() -> None:
    h = simulate_market(seed=1, n_blocks=2_000)
    b = h.blocks
    fees, used, limit = b["base_fee_wei"].to_list(), b["gas_used"].to_list(), b["gas_limit"][0]
    for t in range(len(fees) - 1):
        assert fees[t + 1] == next_base_fee(fees[t], used[t], limit)
    assert (b["gas_used"] <= b["gas_limit"]).all()
    # demand responds to price: the base fee stays within a band around its reference
    assert 0.1 < np.median(fees) / SimParams().base_fee_ref_wei < 10


def test_swaps_only_grow_the_constant_product_and_reserves_stay_positive() -> None:
    h = simulate_market(seed=2, n_blocks=1_500)
    r0, r1 = h.reserves()
    k = r0 * r1
    for p in range(k.shape[1]):
        col = k[:, p]
        assert all(col[i + 1] >= col[i] for i in range(len(col) - 1))
    assert (h.pool_states["reserve0"] > 0).all() and (h.pool_states["reserve1"] > 0).all()


def test_regimes_switch_and_volatility_follows_them() -> None:
    h = simulate_market(seed=5, n_blocks=30_000)
    reg = h.blocks["regime"].to_numpy()
    assert set(reg) == {"stable", "volatile", "trending"}
    ret = np.diff(np.log(h.cex_mid("ETH/USDC")))
    vol = {r: np.std(ret[reg[1:] == r]) for r in ("stable", "volatile")}
    assert vol["volatile"] > 2 * vol["stable"]


def test_rivals_keep_pools_near_the_cex_price() -> None:
    h = simulate_market(seed=6, n_blocks=5_000)
    r0, r1 = h.reserves_float()
    p = h.pool_index["uniswap_v2:USDC-WETH"]
    pool_price = (r0[:, p] / 1e6) / (r1[:, p] / 1e18)
    gap_bps = np.abs(pool_price / h.cex_mid("ETH/USDC") - 1) * 1e4
    assert np.median(gap_bps) < 60  # inside a few fee bands
    assert np.percentile(gap_bps, 99) < 400


def test_aqua_strategies_are_shipped_before_they_trade_or_dock() -> None:
    h = simulate_market(seed=7, n_blocks=20_000)
    ev = h.aqua_events
    assert {"Shipped", "Pushed", "Pulled", "Docked"} <= set(ev["event"])
    first = ev.group_by("strategy_hash").agg(
        pl.col("event").first().alias("first"),
        pl.col("block").filter(pl.col("event") == "Docked").max().alias("docked"),
        pl.col("block").max().alias("last"),
    )
    assert (first["first"] == "Shipped").all()
    docked = first.filter(pl.col("docked").is_not_null())
    assert (docked["docked"] == docked["last"]).all()
    trades = ev.filter(pl.col("event").is_in(["Pushed", "Pulled"]))
    assert (trades["amount"] > 0).all()
    assert trades.group_by("tx_hash").len()["len"].max() == 2  # a push and its pull


def test_n_blocks_overrides_params_and_bad_params_are_refused() -> None:
    assert simulate_market({"n_blocks": 30}, n_blocks=12).n_blocks == 12
    with pytest.raises(ConfigError, match="regime_next"):
        simulate_market({"regime_next": ((1.0, 0.0, 0.0),) * 2})
    with pytest.raises(ConfigError, match="n_blocks"):
        simulate_market(n_blocks=1)


def test_saved_history_round_trips_and_tampering_is_refused(tmp_path: Path) -> None:
    h = simulate_market(seed=8, n_blocks=100)
    path = h.save(tmp_path / "h")
    back = MarketHistory.load(path)
    assert back.content_hash() == h.content_hash()
    assert back.meta["seed"] == 8
    f = path / "pool_states.parquet"
    f.write_bytes(f.read_bytes()[:-20] + b"\0" * 20)
    with pytest.raises(DataError, match="does not match the manifest"):
        MarketHistory.load(path)
    (path / MANIFEST_NAME).unlink()
    with pytest.raises(DataError, match="no manifest"):
        MarketHistory.load(path)
