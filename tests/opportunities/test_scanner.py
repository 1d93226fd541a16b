from __future__ import annotations

from fractions import Fraction

import polars as pl
import pytest

from arbkit.errors import DataError
from arbkit.market.amm import get_amounts_out
from arbkit.market.example import load_example_market
from arbkit.opportunities import FlashSource, ScanConfig, build_routes, scan_block, scan_blocks


@pytest.fixture(scope="module")
def example() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return load_example_market()


def _hop_reserves(states: pl.DataFrame, route: list[str], start: str) -> list[tuple[int, int, int]]:
    by_pool = {r["pool"]: r for r in states.iter_rows(named=True)}
    token = start
    hops = []
    for pool in route:
        row = by_pool[pool]
        if row["token0"] == token:
            hops.append((row["reserve0"], row["reserve1"], row["fee_bps"]))
            token = row["token1"]
        else:
            hops.append((row["reserve1"], row["reserve0"], row["fee_bps"]))
            token = row["token0"]
    assert token == start, "cycles end where they start"
    return hops


def test_scan_block_finds_every_kind_and_profits_match_uniswap_math(example) -> None:
    states, quotes, _ = example
    cands = scan_block(states, base_fee_wei=20 * 10**9, cex_quotes=quotes)
    assert set(cands["kind"]) == {"dex_dex", "triangular", "cex_dex"}
    for row in cands.filter(pl.col("kind") != "cex_dex").iter_rows(named=True):
        hops = _hop_reserves(states, row["route"], row["start_token"])
        amounts = get_amounts_out(
            row["amount_in"], [(a, b) for a, b, _ in hops], [f for _, _, f in hops]
        )
        assert row["expected_profit"] == amounts[-1] - row["amount_in"] - row["flash_fee"]
        # the decomposition of DESIGN.md adds up
        gross = row["notional_quote"] * row["edge_bps"] / 1e4
        net = gross - row["slippage_quote"] - row["flash_fee_quote"] - row["gas_cost_quote"]
        assert net == pytest.approx(row["net_profit_quote"], rel=1e-9, abs=1e-6)
        assert row["net_profit_quote"] > 0
    assert cands["net_profit_quote"].is_sorted(descending=True)


def test_cex_dex_candidate_profit_is_exact(example) -> None:
    states, quotes, _ = example
    cands = scan_block(
        states, base_fee_wei=20 * 10**9, cex_quotes=quotes, config=ScanConfig(cex_fee_bps=10.0)
    ).filter(pl.col("kind") == "cex_dex")
    row = cands.row(0, named=True)
    pool = states.filter(pl.col("pool") == row["route"][0]).row(0, named=True)
    assert row["start_token"] == "USDC" and pool["token0"] == "USDC"
    weth_out = get_amounts_out(
        row["amount_in"], [(pool["reserve0"], pool["reserve1"])], pool["fee_bps"]
    )[-1]
    bid = Fraction("3011.5") * Fraction(10**6, 10**18) * (1 - Fraction(10, 10_000))
    assert row["expected_profit"] == weth_out * bid.numerator // bid.denominator - row["amount_in"]


def test_flash_source_changes_fee_and_gas_not_the_math(example) -> None:
    states, _, _ = example
    by_source = {
        src: scan_block(
            states, base_fee_wei=20 * 10**9, config=ScanConfig(flash_source=src, kinds=("dex_dex",))
        )
        for src in FlashSource
    }
    bal, aave, v2 = (
        by_source[s] for s in (FlashSource.BALANCER, FlashSource.AAVE, FlashSource.V2_FLASH_SWAP)
    )
    assert (
        (bal["flash_fee"] == 0).all()
        and (v2["flash_fee"] == 0).all()
        and (aave["flash_fee"] > 0).all()
    )
    assert bal["expected_profit"].to_list() == v2["expected_profit"].to_list()
    assert (v2["gas_units"] < bal["gas_units"]).all() and (
        bal["gas_units"] < aave["gas_units"]
    ).all()
    top_bal, top_aave = bal.row(0, named=True), aave.row(0, named=True)
    assert top_aave["route"] == top_bal["route"]
    assert top_aave["expected_profit"] < top_bal["expected_profit"]
    assert top_aave["amount_in"] < top_bal["amount_in"]  # the premium shrinks the optimal size


def test_float_screen_does_not_drop_what_exact_refinement_keeps(example) -> None:
    states, quotes, _ = example
    for fee_gwei in (1, 20, 100, 400):
        screened = scan_block(states, base_fee_wei=fee_gwei * 10**9, cex_quotes=quotes)
        everything = scan_block(
            states,
            base_fee_wei=fee_gwei * 10**9,
            cex_quotes=quotes,
            config=ScanConfig(screen_slack=1e9),
        )
        assert screened.equals(everything)


def test_higher_gas_never_adds_candidates_or_profit(example) -> None:
    states, quotes, _ = example
    previous = None
    for fee_gwei in (0, 10, 50, 200, 1000):
        cands = scan_block(states, base_fee_wei=fee_gwei * 10**9, cex_quotes=quotes)
        total = cands["net_profit_quote"].sum()
        if previous is not None:
            assert cands.height <= previous[0] and total <= previous[1] + 1e-9
        previous = (cands.height, total)


def test_scan_blocks_equals_scan_block_per_block(example) -> None:
    states, _quotes, _ = example
    second = states.with_columns(
        pl.lit(20_000_001, dtype=pl.Int64).alias("block"),
        pl.when(pl.col("venue") == "sushiswap")
        .then(pl.col("reserve0") * 2 // 2 + 10**9)
        .otherwise(pl.col("reserve0"))
        .alias("reserve0"),
    )
    both = pl.concat([states, second])
    fees = pl.DataFrame(
        {"block": [20_000_000, 20_000_001], "base_fee_wei": [20 * 10**9, 30 * 10**9]}
    )
    together = scan_blocks(both, base_fees=fees)
    apart = pl.concat(
        [
            scan_block(
                states, base_fee_wei=20 * 10**9, config=ScanConfig(kinds=("dex_dex", "triangular"))
            ),
            scan_block(
                second, base_fee_wei=30 * 10**9, config=ScanConfig(kinds=("dex_dex", "triangular"))
            ),
        ]
    )
    assert together.equals(apart)


def test_build_routes_enumerates_each_cycle_once(example) -> None:
    states, _, _ = example
    rs = build_routes(
        states["pool"].to_list(),
        list(zip(states["token0"], states["token1"], strict=True)),
        states["fee_bps"].to_list(),
    )
    # 3 pairs x C(3,2) pool pairs x 2 directions; 3^3 pool triples x 2 directions
    assert rs.kinds.count("dex_dex") == 3 * 3 * 2
    assert rs.kinds.count("triangular") == 27 * 2
    keys = {tuple(rs.route_pools(r)) for r in range(len(rs))}
    assert len(keys) == len(rs)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("reserve0", 0, "reserves must be integers"),
        ("reserve1", -5, "reserves must be integers"),
        ("reserve0", 2**112, "reserves must be integers"),
        ("fee_bps", 10_000, "fee_bps"),
    ],
)
def test_bad_pool_states_are_refused(example, column: str, value: int, message: str) -> None:
    states, _, _ = example
    bad = states.with_columns(
        pl.when(pl.col("pool") == "sushiswap:USDC-WETH")
        .then(pl.lit(value))
        .otherwise(pl.col(column))
        .cast(states.schema[column])
        .alias(column)
    )
    with pytest.raises(DataError, match=message) as info:
        scan_block(bad, base_fee_wei=10**9)
    assert "sushiswap:USDC-WETH" in str(info.value)


def test_float_reserves_and_bad_quotes_are_refused(example) -> None:
    states, quotes, _ = example
    with pytest.raises(DataError, match="never floats"):
        scan_block(states.with_columns(pl.col("reserve0").cast(pl.Float64)), base_fee_wei=10**9)
    with pytest.raises(DataError, match="missing column"):
        scan_block(states.drop("fee_bps"), base_fee_wei=10**9)
    for bid in (float("nan"), -1.0, float("inf")):
        bad = quotes.with_columns(pl.lit(bid).alias("bid"))
        with pytest.raises(DataError, match="bid"):
            scan_block(states, base_fee_wei=10**9, cex_quotes=bad)
    with pytest.raises(DataError, match="decimals"):
        scan_block(states.with_columns(pl.lit("XYZ").alias("token0")), base_fee_wei=10**9)
    with pytest.raises(DataError, match="twice"):
        scan_block(pl.concat([states, states]), base_fee_wei=10**9)


def _two_block_states(example, *, drop_deepest_at_second: bool) -> pl.DataFrame:
    states, _, _ = example
    second = states.with_columns(pl.lit(20_000_001, dtype=pl.Int64).alias("block"))
    if drop_deepest_at_second:
        second = second.filter(pl.col("pool") != "uniswap_v2:USDC-WETH")
    return pl.concat([states, second])


def test_a_price_source_missing_at_a_block_falls_back_to_another(example) -> None:
    both = _two_block_states(example, drop_deepest_at_second=True)
    together = scan_blocks(both, base_fees=20 * 10**9)
    second = both.filter(pl.col("block") == 20_000_001)
    alone = scan_block(second, base_fee_wei=20 * 10**9)
    assert alone.height > 0
    assert together.filter(pl.col("block") == 20_000_001).equals(alone)


def test_pricing_has_no_look_ahead(example) -> None:
    states, _, _ = example
    # later blocks where another pool is deepest must not change the first block's rows
    later = states.with_columns(
        pl.lit(20_000_001, dtype=pl.Int64).alias("block"),
        pl.when(pl.col("pool") == "univ3_5bp:USDC-WETH")
        .then(pl.col("reserve0") * 100)
        .otherwise(pl.col("reserve0"))
        .alias("reserve0"),
        pl.when(pl.col("pool") == "univ3_5bp:USDC-WETH")
        .then(pl.col("reserve1") * 100)
        .otherwise(pl.col("reserve1"))
        .alias("reserve1"),
    )
    first = scan_block(states, base_fee_wei=20 * 10**9)
    together = scan_blocks(pl.concat([states, later]), base_fees=20 * 10**9)
    assert together.filter(pl.col("block") == 20_000_000).equals(first)


def test_a_pool_changing_fee_between_blocks_is_refused(example) -> None:
    states, _, _ = example
    later = states.with_columns(
        pl.lit(20_000_001, dtype=pl.Int64).alias("block"),
        pl.lit(100).cast(pl.Int64).alias("fee_bps"),
    )
    with pytest.raises(DataError, match="changes token0/token1/fee_bps"):
        scan_blocks(pl.concat([states, later]), base_fees=10**9)


def test_routes_built_once_work_on_reordered_rows_and_mismatches_are_refused(example) -> None:
    states, _, _ = example
    rs = build_routes(
        states["pool"].to_list(),
        list(zip(states["token0"], states["token1"], strict=True)),
        states["fee_bps"].to_list(),
    )
    config = ScanConfig(kinds=("dex_dex", "triangular"))
    direct = scan_blocks(states, base_fees=20 * 10**9, config=config)
    reordered = scan_blocks(states.reverse(), base_fees=20 * 10**9, config=config, routes=rs)
    assert reordered.equals(direct)
    with pytest.raises(DataError, match="not in the RouteSet"):
        scan_blocks(
            states.with_columns(pl.lit(5).cast(pl.Int64).alias("fee_bps")),
            base_fees=10**9,
            routes=rs,
        )


def test_several_cex_venues_trade_at_the_best_quote(example) -> None:
    states, quotes, _ = example
    worse = quotes.with_columns(
        pl.lit("kraken").alias("venue"), pl.col("bid") - 50.0, pl.col("ask") + 50.0
    )
    best_only = scan_block(states, base_fee_wei=20 * 10**9, cex_quotes=quotes)
    both = scan_block(states, base_fee_wei=20 * 10**9, cex_quotes=pl.concat([quotes, worse]))
    assert both.equals(best_only)


def test_bad_base_fees_are_refused(example) -> None:
    states, _, _ = example
    with pytest.raises(DataError, match="base_fee_wei"):
        scan_blocks(
            states,
            base_fees=pl.DataFrame(
                {"block": [20_000_000], "base_fee_wei": [None]},
                schema={"block": pl.Int64, "base_fee_wei": pl.Int64},
            ),
        )
    with pytest.raises(DataError, match="non-negative"):
        scan_blocks(states, base_fees=-1)
    import numpy as np

    assert scan_blocks(states, base_fees=np.int64(20 * 10**9)).equals(
        scan_blocks(states, base_fees=20 * 10**9)
    )
