"""The simulated rivals' bids against the real 2023-08-08 CEX-DEX arbitrageurs."""

from __future__ import annotations

import csv
import statistics
from collections import Counter
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from arbkit.errors import ConfigError
from arbkit.market.calibration import (
    REAL_ARB_BASE_FEE_ETH_MEDIAN,
    REAL_ARB_TXS_FILE,
    _rival_volume_usd,
    history_calibration_samples,
    history_calibration_stats,
    real_calibration_stats,
)
from arbkit.market.history import MarketHistory
from arbkit.market.sim import SimParams, simulate_market

realdata = pytest.mark.realdata

N_BLOCKS = 20_000
GAS = SimParams().gas_per_arb
FloatArray = npt.NDArray[np.float64]


@pytest.fixture(scope="module")
def history() -> MarketHistory:
    return simulate_market(seed=11, n_blocks=N_BLOCKS)


def total_eth(h: MarketHistory, gas: int = GAS) -> FloatArray:
    b = h.blocks
    tip = b["competitor_tip_wei"].cast(pl.Float64).to_numpy()
    cb = b["competitor_bribe_wei"].cast(pl.Float64).to_numpy()
    return np.asarray((tip * gas + cb) / 1e18, dtype=np.float64)


def rival_volume(h: MarketHistory) -> FloatArray:
    return _rival_volume_usd(h, h.swaps.filter(pl.col("kind") == "rival"))


def test_total_bid_matches_real_mev_value_quantiles(history: MarketHistory) -> None:
    p = SimParams()
    total = total_eth(history)
    assert np.median(total) == pytest.approx(p.rival_bid_median_eth, rel=0.08)
    assert np.quantile(total, 0.1) == pytest.approx(p.rival_bid_p10_eth, rel=0.12)
    assert np.quantile(total, 0.9) == pytest.approx(p.rival_bid_p90_eth, rel=0.12)
    assert np.mean(total == 0) == pytest.approx(p.rival_bid_zero_share, abs=0.002)
    # real 2023-08-08 values (PROVENANCE.md / calibration report)
    assert 0.0017 < np.median(total) < 0.0022
    assert 0.0095 < np.quantile(total, 0.9) < 0.013


def test_split_between_tip_and_coinbase_follows_real_shares(history: MarketHistory) -> None:
    b = history.blocks
    tip = b["competitor_tip_wei"].to_numpy()
    cb = b["competitor_bribe_wei"].to_numpy()
    paying = (tip > 0) | (cb > 0)
    assert np.mean((cb == 0)[paying]) == pytest.approx(0.366, abs=0.02)  # tip only
    assert np.mean(((cb > 0) & (tip > 0))[paying]) == pytest.approx(0.0357, abs=0.008)
    assert np.mean((tip == 0)[paying]) == pytest.approx(0.598, abs=0.02)  # coinbase only
    # the tip is the tip part per gas, no longer a multiple of the (2026-era) base fee
    tip_only = paying & (cb == 0)
    assert np.median(tip[tip_only] / b["base_fee_wei"].to_numpy()[tip_only]) > 10


def test_volatile_regime_bids_more(history: MarketHistory) -> None:
    total = total_eth(history)
    reg = history.blocks["regime"].to_numpy()
    assert {"stable", "volatile"} <= set(reg)
    ratio = np.median(total[reg == "volatile"]) / np.median(total[reg == "stable"])
    assert 1.5 < ratio < 2.7  # rival_volatile_bid_mult = 2


def test_bid_grows_with_the_rival_swaps_volume(history: MarketHistory) -> None:
    volume = rival_volume(history)
    total = total_eth(history)
    ok = (volume > 0) & (total > 0)
    assert ok.sum() > 3_000
    slope = np.polyfit(np.log(volume[ok]), np.log(total[ok]), 1)[0]
    assert slope == pytest.approx(SimParams().rival_volume_elasticity, abs=0.1)
    # the marginal of rival blocks stays close to the real one too
    assert np.median(total[volume > 0]) == pytest.approx(SimParams().rival_bid_median_eth, rel=0.12)

    flat = simulate_market({"rival_volume_elasticity": 0.0}, seed=11, n_blocks=N_BLOCKS)
    flat_total = total_eth(flat)
    flat_slope = np.polyfit(np.log(volume[ok]), np.log(flat_total[ok]), 1)[0]
    assert flat_slope < slope - 0.2


def test_competitor_bot_shares_follow_real_concentration(history: MarketHistory) -> None:
    b = history.blocks
    assert b.schema["competitor_bot"] == pl.Int64
    bots = b["competitor_bot"].to_numpy()
    n_bots = len(SimParams().rival_bot_tx_counts)
    assert bots.min() >= 0 and bots.max() < n_bots == 95
    won = bots[rival_volume(history) > 0]
    shares = np.asarray(sorted(Counter(won.tolist()).values(), reverse=True)) / won.size
    assert shares[0] == pytest.approx(1842 / 4968, abs=0.03)
    assert float(np.sum(shares**2)) == pytest.approx(0.171, abs=0.02)


def test_same_seed_same_bids_and_rival_params_touch_only_the_bid_columns() -> None:
    a = simulate_market(seed=3, n_blocks=1_500)
    b = simulate_market(seed=3, n_blocks=1_500)
    assert a.blocks.equals(b.blocks)
    c = simulate_market(seed=4, n_blocks=1_500)
    assert not a.blocks["competitor_bribe_wei"].equals(c.blocks["competitor_bribe_wei"])
    # the rival bid and bot draws have their own streams: other tables do not move
    other = simulate_market(
        {"rival_bid_median_eth": 0.003, "rival_bot_tx_counts": (1, 1, 1)}, seed=3, n_blocks=1_500
    )
    bid_cols = ["competitor_tip_wei", "competitor_bribe_wei", "competitor_bot"]
    assert a.blocks.drop(bid_cols).equals(other.blocks.drop(bid_cols))
    assert a.pool_states.equals(other.pool_states)
    assert a.swaps.equals(other.swaps)
    assert not a.blocks["competitor_bot"].equals(other.blocks["competitor_bot"])


def test_competitor_bot_round_trips_and_old_histories_still_load(tmp_path: Path) -> None:
    h = simulate_market(seed=5, n_blocks=200)
    back = MarketHistory.load(h.save(tmp_path / "new"))
    assert back.blocks.equals(h.blocks)
    assert back.blocks.schema["competitor_bot"] == pl.Int64
    # a history saved before the column existed
    old = MarketHistory(
        h.blocks.drop("competitor_bot"), h.pool_states, h.cex_quotes, h.aqua_events, h.meta
    )
    loaded = MarketHistory.load(old.save(tmp_path / "old"))
    assert "competitor_bot" not in loaded.blocks.columns
    samples = history_calibration_samples(loaded)
    assert samples["bot_tx_share"].size == 0  # no bots, no swaps: no rows
    assert samples["bribe_eth"].size == 200


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"rival_bid_p10_eth": 0.01}, "rival_bid_p10_eth"),
        ({"rival_tip_only_share": 0.7, "rival_split_share": 0.4}, "rival_tip_only_share"),
        ({"rival_split_cb_beta": (0.0, 1.0)}, "rival_split_cb_beta"),
        ({"rival_bot_tx_counts": (0, 0)}, "rival_bot_tx_counts"),
        ({"rival_bid_zero_share": 0.5}, "rival_bid_zero_share"),
    ],
)
def test_bad_rival_params_are_refused(params: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        simulate_market(params, n_blocks=10)


def test_zero_gas_per_arb_pays_by_coinbase() -> None:
    h = simulate_market({"gas_per_arb": 0}, seed=2, n_blocks=500)
    assert (h.blocks["competitor_tip_wei"] == 0).all()
    assert np.median(total_eth(h, 0)) == pytest.approx(0.0019, rel=0.3)


# ----------------------------------------------------------------------------- calibration rows


def test_calibration_has_the_new_sim_rows(history: MarketHistory) -> None:
    st = history_calibration_stats(history)
    samples = history_calibration_samples(history)
    total = total_eth(history)  # gas_per_arb from the history's meta
    assert st.value("bribe_eth", "median") == pytest.approx(float(np.median(total)))
    base = history.blocks["base_fee_wei"].to_numpy() * GAS / 1e18
    share = total / (total + base)
    assert st.value("bribe_share_of_total_fee", "median") == pytest.approx(np.median(share))
    era = total / (total + REAL_ARB_BASE_FEE_ETH_MEDIAN)
    assert st.value("bribe_share_of_total_fee_2023_base_fee", "median") == pytest.approx(
        np.median(era)
    )
    assert 0.25 < np.median(era) < 0.5  # real: 0.369

    volume = rival_volume(history)
    rival = volume > 0
    eth_usd = history.cex_mid("ETH/USDC")
    bov = total[rival] * eth_usd[rival] / volume[rival] * 1e4
    assert samples["bribe_over_volume"] == pytest.approx(bov)
    assert st.value("bot_tx_share", "sum") == pytest.approx(1.0)
    assert st.value("bot_tx_share", "max") == st.value("bot_sender_tx_share", "max")
    assert st.value("bot_tx_share", "n") <= 95
    without_era = history_calibration_stats(history, era_base_fee_eth=None)
    assert "bribe_share_of_total_fee_2023_base_fee" not in without_era.quantities


@realdata
def test_real_rows_from_raw_csv(real_data: Path) -> None:
    with (real_data / REAL_ARB_TXS_FILE).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    st = real_calibration_stats(real_data)
    mev = [float(r["mev_value"]) for r in rows]
    base = [float(r["base_fees"]) for r in rows]
    assert statistics.median(base) == pytest.approx(REAL_ARB_BASE_FEE_ETH_MEDIAN, rel=1e-6)
    share = [m / (m + b) for m, b in zip(mev, base, strict=True)]
    assert st.value("bribe_share_of_total_fee", "median") == pytest.approx(statistics.median(share))
    assert st.value("bribe_share_of_total_fee", "median") == pytest.approx(0.369, abs=0.01)
    prices = [
        float(r["token_sold_amount"]) / float(r["token_bought_amount"])
        for r in rows
        if r["multi_trade"] == "0"
        and r["token_bought_symbol"] in ("ETH", "WETH")
        and r["token_sold_symbol"] in ("USDC", "USDT")
    ] + [
        float(r["token_bought_amount"]) / float(r["token_sold_amount"])
        for r in rows
        if r["multi_trade"] == "0"
        and r["token_sold_symbol"] in ("ETH", "WETH")
        and r["token_bought_symbol"] in ("USDC", "USDT")
    ]
    eth_usd = statistics.median(prices)
    assert 1_800 < eth_usd < 1_900
    bov = [m * eth_usd / float(r["volume"]) * 1e4 for m, r in zip(mev, rows, strict=True)]
    assert st.value("bribe_over_volume", "median") == pytest.approx(statistics.median(bov))
    bots = Counter(r["mev_bot_label"].strip() or r["from_addr"] for r in rows)
    shares = [c / len(rows) for c in bots.values()]
    assert st.value("bot_sender_tx_share", "n") == len(bots) == 95
    assert st.value("bot_sender_tx_share", "max") == pytest.approx(1842 / 4968)
    assert st.value("bot_sender_tx_share", "hhi") == pytest.approx(sum(s * s for s in shares))
    # the simulator's bot weights are these counts
    assert sorted(bots.values(), reverse=True) == list(SimParams().rival_bot_tx_counts)
    assert "bribe_share_of_total_fee_2023_base_fee" not in st.quantities  # sim only
