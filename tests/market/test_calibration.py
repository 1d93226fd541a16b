from __future__ import annotations

import csv
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from arbkit.errors import DataError
from arbkit.market.calibration import (
    CALIBRATION_SCHEMA,
    REAL_ARB_TXS_FILE,
    REAL_BLOCKS_FILE,
    REAL_RESERVES_DIR,
    REAL_SNAPSHOT_INTERVAL_S,
    SAMPLE_KEYS,
    CalibrationStats,
    compare_calibration,
    history_calibration_samples,
    history_calibration_stats,
    real_calibration_samples,
    real_calibration_stats,
    write_calibration_report,
)
from arbkit.market.history import MarketHistory
from arbkit.market.tables import AQUA_EVENTS_SCHEMA, BLOCKS_SCHEMA, CEX_QUOTES_SCHEMA

realdata = pytest.mark.realdata

WETH = 10**18
USDC = 10**6

# ----------------------------------------------------------------------------- helpers

PoolSpec = tuple[str, str, str, int, Sequence[tuple[int, int]]]  # venue, token0, token1, fee


def make_history(
    pools: Mapping[str, PoolSpec],
    *,
    base_fee_wei: Sequence[int],
    gas_used: Sequence[int] | None = None,
    gas_limit: int = 60_000_000,
    block_time_s: int = 12,
    extra: Mapping[str, Sequence[int]] | None = None,
) -> MarketHistory:
    n = len(base_fee_wei)
    first = 1_000
    blocks = pl.DataFrame(
        {
            "block": list(range(first, first + n)),
            "timestamp": [1_700_000_000 + block_time_s * i for i in range(n)],
            "base_fee_wei": list(base_fee_wei),
            "gas_used": list(gas_used) if gas_used is not None else [gas_limit // 2] * n,
            "gas_limit": [gas_limit] * n,
        },
        schema=dict(BLOCKS_SCHEMA),
    )
    if extra:
        blocks = blocks.with_columns(
            pl.Series(name, list(values), dtype=pl.Int64) for name, values in extra.items()
        )
    rows: list[dict[str, Any]] = []
    for i in range(n):
        for pool, (venue, t0, t1, fee, reserves) in sorted(pools.items()):
            r0, r1 = reserves[i]
            rows.append(
                {
                    "block": first + i,
                    "pool": pool,
                    "venue": venue,
                    "token0": t0,
                    "token1": t1,
                    "reserve0": r0,
                    "reserve1": r1,
                    "fee_bps": fee,
                }
            )
    states = pl.DataFrame(
        rows,
        schema={
            "block": pl.Int64,
            "pool": pl.String,
            "venue": pl.String,
            "token0": pl.String,
            "token1": pl.String,
            "reserve0": pl.Int128,
            "reserve1": pl.Int128,
            "fee_bps": pl.Int64,
        },
    )
    cex = pl.DataFrame(schema={**CEX_QUOTES_SCHEMA, "block": pl.Int64()})
    aqua = pl.DataFrame(schema=dict(AQUA_EVENTS_SCHEMA))
    return MarketHistory(blocks, states, cex, aqua, {"source": "test"})


# Uniswap at 2000 USDC/WETH throughout; SushiSwap's USDC reserve scaled so its price is
# 2000 * m: the gap |p_sushi / p_uni - 1| is (m - 1) exactly.
SUSHI_MULT = (1.0, 1.001, 1.01, 1.0, 1.02)
GAPS_BPS = [0.0, 10.0, 100.0, 0.0, 200.0]
BASE_FEES = [10_000_000_000, 11_250_000_000, 10_000_000_000, 10_000_000_000, 8_750_000_000]
GAS_USED = [15_000_000, 30_000_000, 45_000_000, 30_000_000, 60_000_000]


def uni_reserves() -> list[tuple[int, int]]:
    return [(1_000 * WETH, 2_000_000 * USDC)] * len(SUSHI_MULT)


def sushi_reserves(*, reversed_order: bool = False) -> list[tuple[int, int]]:
    out = []
    for m in SUSHI_MULT:
        weth, usdc = 500 * WETH, round(1_000_000 * m) * USDC
        out.append((usdc, weth) if reversed_order else (weth, usdc))
    return out


def two_pool_history(**kw: Any) -> MarketHistory:
    pools: dict[str, PoolSpec] = {
        "uni": ("uniswap_v2", "WETH", "USDC", 30, uni_reserves()),
        "sushi": ("sushiswap", "WETH", "USDC", 30, sushi_reserves()),
    }
    return make_history(pools, base_fee_wei=BASE_FEES, gas_used=GAS_USED, **kw)


def q(values: Sequence[float], p: float) -> float:
    # Linear-interpolation quantile (numpy's default), computed in plain python.
    xs = sorted(values)
    pos = p * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


# ----------------------------------------------------------------------------- simulated


def test_two_pool_gap_every_block_and_strided() -> None:
    h = two_pool_history()
    st = history_calibration_stats(h, gap_stride_blocks=2)
    samples = history_calibration_samples(h, gap_stride_blocks=2)
    # (a, b) = (sushiswap, uniswap_v2): |p_sushi / p_uni - 1|
    assert samples["gap_bps_every_block"] == pytest.approx(GAPS_BPS, abs=1e-9)
    assert samples["gap_bps"] == pytest.approx([0.0, 100.0, 200.0], abs=1e-9)
    assert samples["gap_bps[USDC-WETH]"] == pytest.approx([0.0, 100.0, 200.0], abs=1e-9)
    assert st.value("gap_bps_every_block", "median") == pytest.approx(10.0)
    assert st.value("gap_bps_every_block", "mean") == pytest.approx(62.0)
    assert st.value("gap_bps_every_block", "share_above_60bps") == pytest.approx(0.4)
    assert st.value("gap_bps_every_block", "n") == 5
    assert st.value("gap_bps_every_block", "p90") == pytest.approx(q(GAPS_BPS, 0.9))
    assert st.value("gap_bps_every_block", "std") == pytest.approx(statistics.pstdev(GAPS_BPS))
    assert st.value("gap_bps", "median") == pytest.approx(100.0)
    assert st.value("gap_bps", "n") == 3


def test_default_stride_follows_real_snapshot_interval() -> None:
    # 12 s blocks: stride round(13374 / 12) = 1115 blocks, so a 5-block history has one sample.
    samples = history_calibration_samples(two_pool_history())
    assert samples["gap_bps"].size == 1
    samples = history_calibration_samples(two_pool_history(block_time_s=6000))
    assert samples["gap_bps"] == pytest.approx([0.0, 100.0, 200.0], abs=1e-9)  # stride 2
    with pytest.raises(ValueError, match="gap_stride_blocks"):
        history_calibration_samples(two_pool_history(), gap_stride_blocks=0)


def test_gap_ignores_token_order_other_fees_and_same_venue() -> None:
    pools: dict[str, PoolSpec] = {
        "uni": ("uniswap_v2", "WETH", "USDC", 30, uni_reserves()),
        "sushi": ("sushiswap", "USDC", "WETH", 30, sushi_reserves(reversed_order=True)),
        "uni5": ("uniswap_v2", "WETH", "USDC", 5, sushi_reserves()),  # other fee
        "uni_b": ("uniswap_v2", "WETH", "USDC", 30, uni_reserves()),  # same venue as "uni"
    }
    h = make_history(pools, base_fee_wei=BASE_FEES)
    gaps = history_calibration_samples(h, gap_stride_blocks=1)["gap_bps_every_block"]
    # sushi vs uni and sushi vs uni_b, priced in sushi's order (USDC in WETH): |1/m - 1|.
    expected = [abs(1 / m - 1) * 1e4 for m in SUSHI_MULT] * 2
    assert gaps == pytest.approx(expected, abs=1e-9)


def test_gap_needs_decimals_of_gap_tokens() -> None:
    with pytest.raises(ValueError, match="USDC"):
        history_calibration_samples(two_pool_history(), token_decimals={"WETH": 18})


def test_base_fee_gas_and_competitor_bids() -> None:
    tips = [1_000_000_000, 2_000_000_000, 0, 1_000_000_000, 3_000_000_000]
    bribes = [0, 10**15, 2 * 10**15, 0, 10**16]
    h = two_pool_history(extra={"competitor_tip_wei": tips, "competitor_bribe_wei": bribes})
    st = history_calibration_stats(h, arb_gas_used=100_000)

    changes = [BASE_FEES[i + 1] / BASE_FEES[i] - 1 for i in range(4)]  # +12.5%, -11.1%, 0, -12.5%
    assert st.value("base_fee_change", "median") == pytest.approx(statistics.median(changes))
    assert st.value("base_fee_change", "p10") == pytest.approx(q(changes, 0.1))
    assert st.value("base_fee_change", "share_at_+12.5pct") == pytest.approx(0.25)
    assert st.value("base_fee_change", "share_at_-12.5pct") == pytest.approx(0.25)
    assert st.value("gas_used_ratio", "median") == pytest.approx(0.5)
    assert st.value("gas_used_ratio", "mean") == pytest.approx(0.6)

    assert st.value("priority_fee_gwei", "median") == pytest.approx(1.0)
    assert st.value("priority_fee_gwei", "share_zero") == pytest.approx(0.2)
    ratio = [t / b for t, b in zip(tips, BASE_FEES, strict=True)]
    assert st.value("tip_over_base_fee", "mean") == pytest.approx(statistics.fmean(ratio))
    prio = [t * 100_000 / 1e18 for t in tips]
    cb = [b / 1e18 for b in bribes]
    bribe = [p + c for p, c in zip(prio, cb, strict=True)]
    assert st.value("priority_fee_eth", "p90") == pytest.approx(q(prio, 0.9))
    assert st.value("cb_transfer_eth", "median") == pytest.approx(0.001)
    assert st.value("bribe_eth", "median") == pytest.approx(statistics.median(bribe))
    shares = [c / s for c, s in zip(cb, bribe, strict=True) if s > 0]
    assert st.value("cb_share_of_bribe", "mean") == pytest.approx(statistics.fmean(shares))
    assert "competitor_tip_wei" in st.table.filter(pl.col("quantity") == "bribe_eth")["source"][0]


def test_missing_competitor_columns_give_no_rows_and_same_keys() -> None:
    h = two_pool_history(extra={"competitor_bribe_wei": [0, 1, 2, 3, 4]})
    samples = history_calibration_samples(h)
    assert set(SAMPLE_KEYS) <= set(samples)
    for key in ("priority_fee_gwei", "tip_over_base_fee", "priority_fee_eth", "bribe_eth"):
        assert samples[key].size == 0
    for key in ("arbs_per_block", "bot_tx_share", "bot_contract_tx_share"):  # real-only
        assert samples[key].size == 0
    assert samples["cb_transfer_eth"].size == 5
    st = history_calibration_stats(h)
    assert "priority_fee_gwei" not in st.quantities
    assert "cb_transfer_eth" in st.quantities


# ----------------------------------------------------------------------------- stats & compare


def stats(rows: Sequence[tuple[str, str, float]], unit: str = "u") -> CalibrationStats:
    return CalibrationStats(
        pl.DataFrame(
            [(qq, s, v, unit, "src") for qq, s, v in rows],
            schema=dict(CALIBRATION_SCHEMA),
            orient="row",
        )
    )


def test_calibration_stats_contract() -> None:
    st = stats([("gap_bps", "median", 7.0)])
    assert st.value("gap_bps", "median") == 7.0
    assert len(st) == 1
    with pytest.raises(KeyError):
        st.value("gap_bps", "p90")
    with pytest.raises(DataError, match="twice"):
        stats([("gap_bps", "median", 7.0), ("gap_bps", "median", 8.0)])
    with pytest.raises(DataError, match="value"):
        CalibrationStats(pl.DataFrame({"quantity": ["a"], "stat": ["b"], "value": [1]}))


def test_compare_calibration_joins_orders_and_ratios() -> None:
    sim = stats(
        [
            ("gap_bps_every_block", "median", 5.0),
            ("base_fee_change", "std", 0.1),
            ("gap_bps", "median", 14.0),
            ("gap_bps", "n", 3.0),
        ]
    )
    real = stats(
        [
            ("base_fee_change", "std", 0.05),
            ("gap_bps", "median", 7.0),
            ("gap_bps", "n", 0.0),
            ("arbs_per_block", "mean", 0.7),
        ]
    )
    cmp = compare_calibration(sim, real)
    assert cmp.columns == ["quantity", "stat", "unit", "sim", "real", "ratio"]
    assert cmp.select("quantity", "stat").rows() == [
        ("gap_bps", "n"),
        ("gap_bps", "median"),
        ("gap_bps_every_block", "median"),
        ("base_fee_change", "std"),
        ("arbs_per_block", "mean"),
    ]
    assert cmp["ratio"].to_list() == [None, 2.0, None, 2.0, None]
    assert cmp["sim"].to_list()[-1] is None
    assert cmp["real"].to_list()[2] is None


def test_report_writes_md_and_pngs(tmp_path: Path) -> None:
    tips = [1_000_000_000, 2_000_000_000, 0, 1_000_000_000, 3_000_000_000]
    h = two_pool_history(extra={"competitor_tip_wei": tips, "competitor_bribe_wei": tips})
    other = two_pool_history()
    sim, real = history_calibration_stats(h), history_calibration_stats(other)
    out = write_calibration_report(
        sim,
        real,
        tmp_path / "rep",
        sim_samples=history_calibration_samples(h),
        real_samples=history_calibration_samples(other),
    )
    assert out == tmp_path / "rep" / "calibration.md"
    text = out.read_text()
    assert "| quantity | stat | unit | sim | real | sim/real |" in text
    assert "| gap_bps_every_block | median | bps | 10 | 10 | 1 |" in text
    assert "| priority_fee_gwei | median | gwei per gas | 1 | - | - |" in text
    names = sorted(p.name for p in (tmp_path / "rep").iterdir())
    assert names == ["base_fee.png", "calibration.md", "gap_bps.png", "tips_bribes.png"]
    for name in ("base_fee.png", "gap_bps.png", "tips_bribes.png"):
        assert (tmp_path / "rep" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in text

    # Without samples: the table only, rewritten in place.
    out2 = write_calibration_report(sim, real, tmp_path / "plain")
    assert [p.name for p in (tmp_path / "plain").iterdir()] == ["calibration.md"]
    assert "## Plots" not in out2.read_text()


# ----------------------------------------------------------------------------- real data


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def real_stats(real_data: Path) -> CalibrationStats:
    return real_calibration_stats(real_data)


@realdata
def test_real_base_fee_and_gas_from_raw_csv(real_data: Path, real_stats: CalibrationStats) -> None:
    rows = read_rows(real_data / REAL_BLOCKS_FILE)
    fees = [int(r["base_fee_per_gas"]) for r in rows]
    numbers = [int(r["number"]) for r in rows]
    assert all(b - a == 1 for a, b in pairwise(numbers))
    changes = [b / a - 1 for a, b in pairwise(fees)]
    assert len(changes) == 999
    st = real_stats
    assert st.value("base_fee_change", "n") == 999
    assert st.value("base_fee_change", "median") == pytest.approx(statistics.median(changes))
    assert st.value("base_fee_change", "p10") == pytest.approx(q(changes, 0.1))
    assert st.value("base_fee_change", "p90") == pytest.approx(q(changes, 0.9))
    assert st.value("base_fee_change", "std") == pytest.approx(statistics.pstdev(changes))
    # "At +12.5%": within 1e-4 of the cap. No block is exactly full; these parents are
    # at least 99.9% full (builders stop just short of the limit).
    at_cap = [i for i, c in enumerate(changes) if c >= 0.1249]
    assert len(at_cap) == 16
    assert all(int(rows[i]["gas_used"]) >= 0.999 * int(rows[i]["gas_limit"]) for i in at_cap)
    assert st.value("base_fee_change", "share_at_+12.5pct") == pytest.approx(16 / 999)
    assert st.value("base_fee_change", "share_at_-12.5pct") == 0.0
    ratios = [int(r["gas_used"]) / int(r["gas_limit"]) for r in rows]
    assert st.value("gas_used_ratio", "median") == pytest.approx(statistics.median(ratios))
    assert st.value("gas_used_ratio", "mean") == pytest.approx(statistics.fmean(ratios))


@realdata
def test_real_gap_from_raw_csv(real_data: Path, real_stats: CalibrationStats) -> None:
    def prices(folder: str) -> dict[str, float]:
        rows = read_rows(real_data / REAL_RESERVES_DIR / folder / "usdc_weth.csv")
        # reserve0 USDC, reserve1 WETH (decimal-scaled): price of USDC in WETH.
        return {r["datetime"]: float(r["reserve1"]) / float(r["reserve0"]) for r in rows}

    uni, sushi = prices("uniswapv2"), prices("sushiswap")
    gaps = [abs(uni[t] / sushi[t] - 1) * 1e4 for t in sushi]
    assert len(gaps) == 3247
    st = real_stats
    assert st.value("gap_bps[USDC-WETH]", "n") == 3247
    assert st.value("gap_bps[USDC-WETH]", "median") == pytest.approx(statistics.median(gaps))
    assert st.value("gap_bps[USDC-WETH]", "p90") == pytest.approx(q(gaps, 0.9))
    share = sum(g > 60 for g in gaps) / len(gaps)
    assert st.value("gap_bps[USDC-WETH]", "share_above_60bps") == pytest.approx(share)
    assert st.value("gap_bps", "n") == 3 * 3247 + 3152
    assert 6.0 < st.value("gap_bps", "median") < 9.0  # PROVENANCE.md: 7-8 bp


@realdata
def test_real_snapshot_interval_constant(real_data: Path) -> None:
    from datetime import UTC, datetime

    rows = read_rows(real_data / REAL_RESERVES_DIR / "sushiswap" / "usdc_weth.csv")
    ts = sorted(
        datetime.strptime(r["datetime"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
        for r in rows
    )
    spacing = statistics.median(b - a for a, b in pairwise(ts))
    assert abs(spacing - REAL_SNAPSHOT_INTERVAL_S) < 60


@realdata
def test_real_fees_bribes_and_competition(real_data: Path, real_stats: CalibrationStats) -> None:
    rows = read_rows(real_data / REAL_ARB_TXS_FILE)
    assert len(rows) == 4968
    prio = [float(r["priority_fees"]) for r in rows]
    cb = [float(r["cb_transfer"]) for r in rows]
    base = [float(r["base_fees"]) for r in rows]
    mev = [float(r["mev_value"]) for r in rows]
    # mev_value is exactly priority_fees + cb_transfer: "bribe / mev_value" would be 1.
    assert all(p + c == m for p, c, m in zip(prio, cb, mev, strict=True))
    bribe = [p + c for p, c in zip(prio, cb, strict=True)]
    st = real_stats
    assert st.value("priority_fee_eth", "median") == pytest.approx(statistics.median(prio))
    assert st.value("priority_fee_eth", "p90") == pytest.approx(q(prio, 0.9))
    assert st.value("priority_fee_eth", "share_zero") == pytest.approx(
        sum(p == 0 for p in prio) / 4968
    )
    assert st.value("cb_transfer_eth", "median") == pytest.approx(statistics.median(cb))
    assert st.value("bribe_eth", "median") == pytest.approx(statistics.median(bribe))
    assert st.value("bribe_eth", "p10") == pytest.approx(q(bribe, 0.1))
    tob = [p / b for p, b in zip(prio, base, strict=True)]
    assert st.value("tip_over_base_fee", "p90") == pytest.approx(q(tob, 0.9))
    shares = [c / s for c, s in zip(cb, bribe, strict=True) if s > 0]
    assert st.value("cb_share_of_bribe", "mean") == pytest.approx(statistics.fmean(shares))

    labels = Counter(r["mev_bot_label"] for r in rows if r["mev_bot_label"].strip())
    assert st.value("bot_tx_share", "n") == len(labels) == 18
    assert st.value("bot_tx_share", "max") == pytest.approx(1842 / 4968)  # SCP
    assert st.value("bot_contract_tx_share", "n") == len({r["to_addr"] for r in rows})
    assert st.value("bot_contract_tx_share", "sum") == pytest.approx(1.0)
    blocks = [int(r["block_number"]) for r in rows]
    span = max(blocks) - min(blocks) + 1
    assert st.value("arbs_per_block", "n") == span
    assert st.value("arbs_per_block", "mean") == pytest.approx(4968 / span)
    assert st.value("arbs_per_block", "share_zero") == pytest.approx(1 - len(set(blocks)) / span)
    assert "priority_fee_gwei" not in st.quantities  # gas used is not in the file
    assert st.table.filter(pl.col("quantity") == "bribe_eth")["source"][0] == REAL_ARB_TXS_FILE


@realdata
def test_real_samples_keys_and_report(
    real_data: Path, real_stats: CalibrationStats, tmp_path: Path
) -> None:
    samples = real_calibration_samples(real_data)
    assert set(SAMPLE_KEYS) <= set(samples)
    assert {k for k in samples if k.startswith("gap_bps[")} == {
        "gap_bps[USDC-WETH]",
        "gap_bps[DAI-WETH]",
        "gap_bps[USDT-WETH]",
        "gap_bps[WBTC-WETH]",
    }
    assert samples["gap_bps_every_block"].size == 0
    assert samples["priority_fee_gwei"].size == 0
    assert all(v.dtype == np.float64 for v in samples.values())

    h = two_pool_history(extra={"competitor_tip_wei": [10**9] * 5})
    out = write_calibration_report(
        history_calibration_stats(h),
        real_stats,
        tmp_path,
        sim_samples=history_calibration_samples(h),
        real_samples=samples,
    )
    text = out.read_text()
    assert "| gap_bps[WBTC-WETH] | median | bps | - |" in text
    assert {p.name for p in tmp_path.iterdir()} == {
        "calibration.md",
        "gap_bps.png",
        "base_fee.png",
        "tips_bribes.png",
    }
