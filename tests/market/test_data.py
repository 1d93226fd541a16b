"""Tests of arbkit.market.data: real files, malformed inputs, and Uniswap V2 log decoding."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.providers.base import BaseProvider

from arbkit.errors import DataError
from arbkit.market.data import (
    KLINES_SCHEMA,
    SWAP_TOPIC0,
    SWAPS_SCHEMA,
    SYNC_TOPIC0,
    UINT112_MAX,
    LoadReport,
    PoolMeta,
    decode_v2_logs,
    fetch_v2_logs,
    klines_to_cex_quotes,
    load_binance_1m,
    load_block_headers,
    load_cryptodatadownload_klines,
    load_kraken_1m,
    load_reserve_snapshots,
    load_uniswap_swaps,
    load_univ2_sushi_pair,
)
from arbkit.market.data.v2_fetch import LogFetchError
from arbkit.market.tables import (
    BLOCKS_SCHEMA,
    CEX_QUOTES_SCHEMA,
    POOL_STATES_SCHEMA,
    validate_table,
)

realdata = pytest.mark.realdata

RESERVES = "dex_univ2_sushiswap_reserves_2020_2022"
CDD = "cex_binance_ethusdc_1h_2018_2022/Binance_ETHUSDC_1h.csv"
BTC_1M = "cex_binanceus_kraken_btc_1m_202303"
SWAPS = "dex_univ2_univ3_weth_usdt_swaps_20240101"
GAS = "gas_eth_mainnet_basefee_blocks"


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- real: reserves

# PROVENANCE.md says 4015 / 3982 / 3984 rows for uniswapv2 dai_weth / weth_usdt / wbtc_weth;
# the files hold one more data row each (`wc -l`: 4017 / 3984 / 3986 lines with the header).
RESERVE_FILES = [
    ("uniswapv2", "usdc_weth", 4068, "2020-05-05 22:37:18"),
    ("uniswapv2", "dai_weth", 4016, "2020-05-14 00:18:45"),
    ("uniswapv2", "weth_usdt", 3983, "2020-05-19 03:38:32"),
    ("uniswapv2", "wbtc_weth", 3985, "2020-05-18 20:02:20"),
    ("sushiswap", "usdc_weth", 3247, "2020-09-09 21:31:51"),
    ("sushiswap", "dai_weth", 3247, "2020-09-09 21:31:51"),
    ("sushiswap", "weth_usdt", 3247, "2020-09-09 21:31:51"),
    ("sushiswap", "wbtc_weth", 3152, "2020-09-11 14:03:33"),
]
DECIMALS = {"USDC": 6, "DAI": 18, "WETH": 18, "USDT": 6, "WBTC": 8}


@realdata
@pytest.mark.parametrize(("folder", "pair", "rows", "first"), RESERVE_FILES)
def test_load_reserve_snapshots_reads_every_real_file_with_its_row_count_and_range(
    real_data: Path, folder: str, pair: str, rows: int, first: str
) -> None:
    t0, t1 = (s.upper() for s in pair.split("_"))
    df = load_reserve_snapshots(
        real_data / RESERVES / folder / f"{pair}.csv",
        venue=folder,
        token0=t0,
        token1=t1,
        decimals0=DECIMALS[t0],
        decimals1=DECIMALS[t1],
    )
    validate_table(df, POOL_STATES_SCHEMA, name="pool_states")
    assert df.height == rows
    assert df["timestamp"][0] == utc(first)
    assert df["timestamp"][-1] == utc("2022-01-25 17:07:54")
    assert df["timestamp"].is_sorted()
    assert df["block"].null_count() == rows
    assert (df["reserve0"] > 0).all() and (df["reserve1"] > 0).all()


@realdata
def test_load_reserve_snapshots_first_and_last_sushi_usdc_weth_reserves_are_exact_ints(
    real_data: Path,
) -> None:
    df = load_reserve_snapshots(
        real_data / RESERVES / "sushiswap" / "usdc_weth.csv",
        venue="sushiswap",
        token0="USDC",
        token1="WETH",
        decimals0=6,
        decimals1=18,
    )
    # file line 2: 59612165.265802 USDC, 168470.348470848558122848 WETH
    assert df.row(0, named=True)["reserve0"] == 59_612_165_265_802
    assert df.row(0, named=True)["reserve1"] == 168_470_348_470_848_558_122_848
    # last line: 91032383.486376, 37152.972945575059302051
    assert df["reserve0"][-1] == 91_032_383_486_376
    assert df["reserve1"][-1] == 37_152_972_945_575_059_302_051
    assert df["pool"][0] == "sushiswap:USDC/WETH"
    assert df["fee_bps"].unique().to_list() == [30]


def mid_price(df: pl.DataFrame) -> pl.Series:
    return df["reserve0"].cast(pl.Float64) / df["reserve1"].cast(pl.Float64)


@realdata
@pytest.mark.parametrize(
    ("pair", "rows"),
    [("usdc_weth", 3247), ("dai_weth", 3247), ("weth_usdt", 3247), ("wbtc_weth", 3152)],
)
def test_load_univ2_sushi_pair_aligns_both_venues_on_common_timestamps(
    real_data: Path, pair: str, rows: int
) -> None:
    uni, sushi = load_univ2_sushi_pair(real_data, pair)
    assert uni.height == sushi.height == rows
    assert uni["timestamp"].equals(sushi["timestamp"])
    assert uni["venue"].unique().to_list() == ["uniswap_v2"]
    assert sushi["venue"].unique().to_list() == ["sushiswap"]
    # PROVENANCE: median |Uni/Sushi price - 1| is 7-8 bp
    gap_bps = ((mid_price(uni) / mid_price(sushi) - 1).abs() * 1e4).median()
    assert isinstance(gap_bps, float)
    assert 3 < gap_bps < 15


@realdata
def test_load_univ2_sushi_pair_accepts_the_dataset_folder_itself(real_data: Path) -> None:
    uni, _ = load_univ2_sushi_pair(real_data / RESERVES, "usdc_weth")
    assert uni["token0"][0] == "USDC" and uni["token1"][0] == "WETH"


def test_load_univ2_sushi_pair_rejects_an_unknown_token(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown token 'FOO'"):
        load_univ2_sushi_pair(tmp_path, "foo_weth")


# ----------------------------------------------------------------------------- real: CEX bars


@realdata
def test_load_cryptodatadownload_klines_real_binance_eth_usdc_sorted_oldest_first(
    real_data: Path,
) -> None:
    bars = load_cryptodatadownload_klines(real_data / CDD)
    validate_table(bars, KLINES_SCHEMA, name="klines")
    assert bars.height == 33_158
    assert bars["timestamp"][0] == utc("2018-12-15 03:00:00")
    assert bars["timestamp"][-1] == utc("2022-09-29 02:00:00")
    assert bars["timestamp"].is_sorted()
    assert bars["interval_s"].unique().to_list() == [3600]
    # last file line: 1544842800000,2018-12-15 03:00:00,ETHUSDC,84.19,90.27,83.61,83.61,1.15393,...
    first = bars.row(0, named=True)
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        84.19,
        90.27,
        83.61,
        83.61,
    )
    assert first["volume"] == 1.15393 and first["trade_count"] == 3
    assert bars["close"][-1] == 1338.12


@realdata
def test_klines_to_cex_quotes_stamps_quotes_at_bar_close_around_the_close_price(
    real_data: Path,
) -> None:
    bars = load_cryptodatadownload_klines(real_data / CDD)
    quotes = klines_to_cex_quotes(bars, "binance", "ETH/USDC", half_spread_bps=2.0)
    validate_table(quotes, CEX_QUOTES_SCHEMA, name="cex_quotes")
    assert quotes.height == bars.height
    assert (quotes["timestamp"] == bars["timestamp"] + 3600).all()
    assert (quotes["bid"] < bars["close"]).all() and (quotes["ask"] > bars["close"]).all()
    spread_bps = ((quotes["ask"] - quotes["bid"]) / quotes["mid"] * 1e4).to_list()
    assert all(abs(s - 4.0) < 1e-9 for s in spread_bps)
    assert quotes["bid_size"].null_count() == quotes.height


def test_klines_to_cex_quotes_rejects_a_negative_spread_and_a_missing_column() -> None:
    bars = pl.DataFrame({"timestamp": [0], "interval_s": [60], "close": [1.0]})
    with pytest.raises(ValueError, match="half_spread_bps"):
        klines_to_cex_quotes(bars, "x", "A/B", half_spread_bps=-1)
    with pytest.raises(DataError, match="'close'"):
        klines_to_cex_quotes(bars.drop("close"), "x", "A/B")
    sized = klines_to_cex_quotes(bars, "x", "A/B", size_base=0.5)
    assert sized["bid_size"].to_list() == [0.5] and sized["ask_size"].to_list() == [0.5]


@realdata
@pytest.mark.parametrize(
    ("symbol", "first_close"),
    [("BTCUSDT", 23142.31), ("BTCUSDC", 23152.65), ("BTCUSD", 23143.72)],
)
def test_load_binance_1m_real_files_are_gap_free_march_1_to_21(
    real_data: Path, symbol: str, first_close: float
) -> None:
    bars = load_binance_1m(real_data / BTC_1M / "binanceus" / f"{symbol}_1m_20230301_20230321.csv")
    validate_table(bars, KLINES_SCHEMA, name="klines")
    assert bars.height == 30_240
    assert bars["timestamp"][0] == utc("2023-03-01 00:00:00")
    assert bars["timestamp"][-1] == utc("2023-03-21 23:59:00")
    assert bars["timestamp"].diff().drop_nulls().unique().to_list() == [60]
    assert bars["close"][0] == first_close
    quotes = klines_to_cex_quotes(bars, "binanceus", f"BTC/{symbol[3:]}")
    assert quotes.height == 30_240


@realdata
def test_load_binance_1m_reads_scientific_volumes(real_data: Path) -> None:
    bars = load_binance_1m(real_data / BTC_1M / "binanceus" / "BTCUSDC_1m_20230301_20230321.csv")
    # file line 425: 2023-03-01 07:03:00+00:00,...,5.4e-05
    row = bars.filter(pl.col("timestamp") == utc("2023-03-01 07:03:00"))
    assert row["volume"].to_list() == [5.4e-05]


@realdata
def test_load_kraken_1m_real_file_without_header(real_data: Path) -> None:
    bars = load_kraken_1m(real_data / BTC_1M / "kraken" / "BTCUSDC_1m_2023Q1.csv")
    validate_table(bars, KLINES_SCHEMA, name="klines")
    assert bars.height == 56_717
    assert bars["timestamp"][0] == utc("2023-01-01 00:00:00")
    assert bars["timestamp"][-1] == 1_680_307_140  # 2023-03-31 23:59 UTC
    march = bars.filter(
        (pl.col("timestamp") >= utc("2023-03-01 00:00:00"))
        & (pl.col("timestamp") < utc("2023-03-22 00:00:00"))
    )
    assert march.height == 15_719
    first = bars.row(0, named=True)
    assert (first["open"], first["close"], first["volume"], first["trade_count"]) == (
        16535.97,
        16522.66,
        0.01429883,
        2,
    )
    # file line 2227: 1672950780,...,1E+1,18
    assert bars.filter(pl.col("timestamp") == 1_672_950_780)["volume"].to_list() == [10.0]


# ----------------------------------------------------------------------------- real: swaps


def _check_swaps(df: pl.DataFrame) -> None:
    validate_table(df, SWAPS_SCHEMA, name="swaps")
    assert (df["amount0"] == df["amount0_in"] - df["amount0_out"]).all()
    assert (df["amount1"] == df["amount1_in"] - df["amount1_out"]).all()


@realdata
def test_load_uniswap_swaps_real_v2_file(real_data: Path) -> None:
    df = load_uniswap_swaps(real_data / SWAPS / "uniswap_v2_weth_usdt_swaps.csv")
    _check_swaps(df)
    assert df.height == 2765
    assert df["timestamp"].min() == utc("2024-01-01 05:00:11")
    assert df["timestamp"].max() == utc("2024-01-02 04:59:59")
    assert df["venue"].unique().to_list() == ["uniswap_v2"]
    # file line 2: 0,3.214563179815431499,7500,0,0x00228385...-0,...,1704134303
    row = df.filter(pl.col("tx_hash").str.starts_with("0x00228385c894a6f9")).row(0, named=True)
    assert row["amount0"] == -3_214_563_179_815_431_499
    assert row["amount1"] == 7_500_000_000
    assert row["subgraph_index"] == 0 and row["timestamp"] == 1_704_134_303
    assert row["block"] is None and row["log_index"] is None
    price = (df["amount1"].cast(pl.Float64) / 1e6 / (df["amount0"].cast(pl.Float64) / 1e18)).abs()
    assert 2320 < statistics.median(price.to_list()) < 2335  # PROVENANCE: 2327.8


@realdata
def test_load_uniswap_swaps_real_v3_file_keeps_spoof_pools_apart(real_data: Path) -> None:
    df = load_uniswap_swaps(real_data / SWAPS / "uniswap_v3_weth_usdt_swaps.csv")
    _check_swaps(df)
    assert df.height == 8687
    counts = dict(df.group_by("pool").len().iter_rows())
    assert counts == {"uniswap_v3:WETH/USDT": 8680, "uniswap_v3:WETH/WETH": 7}
    # file line 2: -0.099510241694267368,238.201343,0x0001831f...#514903
    row = df.filter(pl.col("tx_hash").str.starts_with("0x0001831f3afec462")).row(0, named=True)
    assert row["amount0"] == -99_510_241_694_267_368
    assert row["amount1"] == 238_201_343
    assert row["subgraph_index"] == 514_903
    real = df.filter(pl.col("token1") == "USDT")
    price = (
        real["amount1"].cast(pl.Float64) / 1e6 / (real["amount0"].cast(pl.Float64) / 1e18)
    ).abs()
    assert 2320 < statistics.median(price.to_list()) < 2335


# ----------------------------------------------------------------------------- real: blocks


def next_base_fee(base: int, used: int, limit: int) -> int:
    target = limit // 2
    if used == target:
        return base
    if used > target:
        return base + max(base * (used - target) // target // 8, 1)
    return base - base * (target - used) // target // 8


@realdata
@pytest.mark.parametrize(
    "name", ["blocks_24337593_24338592_jan2026.csv", "elakiya_blocks_24337593_24338592.json"]
)
def test_load_block_headers_2026_window_reproduces_every_next_base_fee(
    real_data: Path, name: str
) -> None:
    blocks = load_block_headers(real_data / GAS / name)
    validate_table(blocks, BLOCKS_SCHEMA, name="blocks")
    assert blocks.height == 1000
    assert blocks["block"].to_list() == list(range(24_337_593, 24_338_593))
    assert blocks["timestamp"][0] == utc("2026-01-29 02:42:11")
    assert blocks["timestamp"][-1] == utc("2026-01-29 06:03:11")
    assert blocks["base_fee_wei"][0] == 50_665_748
    assert blocks["max_priority_fee_wei"][0] == 5_010_000_000
    rows = blocks.select("base_fee_wei", "gas_used", "gas_limit").rows()
    for (base, used, limit), (next_base, _, _) in itertools.pairwise(rows):
        assert next_base_fee(base, used, limit) == next_base


@realdata
def test_load_block_headers_csv_and_json_of_the_2026_window_are_identical(real_data: Path) -> None:
    csv_blocks = load_block_headers(real_data / GAS / "blocks_24337593_24338592_jan2026.csv")
    json_blocks = load_block_headers(real_data / GAS / "elakiya_blocks_24337593_24338592.json")
    assert csv_blocks.equals(json_blocks)


@realdata
def test_load_block_headers_2025_gwei_file_converts_base_fee_exactly(real_data: Path) -> None:
    blocks = load_block_headers(
        real_data / GAS / "blocks_21527387_21527726_jan2025_basefee_gwei.csv"
    )
    validate_table(blocks, BLOCKS_SCHEMA, name="blocks")
    assert blocks.height == 340
    assert blocks["block"].to_list() == list(range(21_527_387, 21_527_727))
    assert blocks["timestamp"][0] == 1_735_707_423
    assert blocks["base_fee_wei"][0] == 11_189_797_000  # 11.189797 gwei
    assert blocks["base_fee_wei"][-1] == 5_803_285_000  # 5.803285 gwei
    assert blocks["gas_used"].null_count() == 340 and blocks["gas_limit"].null_count() == 340
    ratios = (blocks["base_fee_wei"][1:] / blocks["base_fee_wei"][:-1]).to_list()
    assert all(0.875 - 1e-6 <= r <= 1.125 + 1e-6 for r in ratios)


# ----------------------------------------------------------------------------- malformed inputs

SNAPSHOT_HEADER = "datetime,liquidityProviderCount,reserve0,reserve1\n"


def load_usdc_weth(path: Path) -> pl.DataFrame:
    return load_reserve_snapshots(
        path, venue="sushiswap", token0="USDC", token1="WETH", decimals0=6, decimals1=18
    )


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("2020-09-09 21:31:51,0,12x.5,1.0", "not a decimal number"),
        ("2020-09-09 21:31:51,0,1.1234567,1.0", "more fractional digits than the token's 6"),
        ("2020-09-09 21:31:51,0,-5.0,1.0", "negative value"),
        ("2020-09-09 21:31:51,0,,1.0", "missing value"),
        ("2020-09-09 21:31:51,0,1,6000000000000000", "out of range"),
        ("2020-09-09 25:31:51,0,1,1", "not a date-time"),
        ("2020-09-09 21:31:51,0,1", "expected 4 fields, found 3"),
        ("2020-09-09 21:31:51,0,1,1,7", "expected 4 fields, found 5"),
        ("2020-09-09 21:31:51,0,NaN,1", "not a decimal number"),
    ],
)
def test_load_reserve_snapshots_names_file_and_line_of_a_malformed_row(
    tmp_path: Path, row: str, problem: str
) -> None:
    good = "2020-09-09 20:00:00,0,1.5,2.5\n"
    path = write(tmp_path, "usdc_weth.csv", SNAPSHOT_HEADER + good + row + "\n" + good)
    with pytest.raises(DataError) as info:
        load_usdc_weth(path)
    message = str(info.value)
    assert "usdc_weth.csv:3: " in message
    assert problem in message


def test_load_reserve_snapshots_report_mode_keeps_good_rows_and_lists_every_problem(
    tmp_path: Path,
) -> None:
    text = (
        SNAPSHOT_HEADER
        + "2020-09-09 20:00:00,0,1.5,2.5\n"  # line 2
        + "2020-09-09 21:00:00,0,-1,2.5\n"  # line 3: negative
        + "\n"  # line 4: blank, not a row
        + "2020-09-09 22:00:00,0,3.0000001,2.5\n"  # line 5: 7 decimals for USDC
        + "2020-09-09 20:00:00,0,1.5,2.5\n"  # line 6: duplicate of line 2
        + "2020-09-09 23:00:00,0,4,0.000000000000000001\n"  # line 7: good, 1 wei
    )
    path = write(tmp_path, "snap.csv", text)
    df, report = load_reserve_snapshots(
        path,
        venue="uniswap_v2",
        token0="USDC",
        token1="WETH",
        decimals0=6,
        decimals1=18,
        pool="0xpool",
        errors="report",
    )
    assert isinstance(report, LoadReport)
    assert [line for line, _ in report.problems] == [3, 5, 6]
    assert "negative" in report.problems[0][1]
    assert "more fractional digits" in report.problems[1][1]
    assert "duplicate timestamp" in report.problems[2][1] and "line 2" in report.problems[2][1]
    assert report.rows_read == 5 and report.rows_kept == 2 == df.height
    assert df["reserve0"].to_list() == [1_500_000, 4_000_000]
    assert df["reserve1"].to_list() == [2_500_000_000_000_000_000, 1]
    assert df["pool"].unique().to_list() == ["0xpool"]


def test_load_reserve_snapshots_raise_mode_counts_the_other_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "snap.csv", SNAPSHOT_HEADER + "x,0,1,1\ny,0,1,1\nz,0,1,1\n")
    with pytest.raises(DataError, match=r"snap\.csv:2: .*and 2 more malformed rows"):
        load_usdc_weth(path)


def test_load_reserve_snapshots_missing_column_names_file_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "nocol.csv", "datetime,reserve0\n2020-09-09 20:00:00,1\n")
    with pytest.raises(DataError, match=r"nocol\.csv: missing column 'reserve1'"):
        load_usdc_weth(path)


@pytest.mark.parametrize(
    ("text", "problem"), [("", "empty file"), (SNAPSHOT_HEADER, "no data rows")]
)
def test_load_reserve_snapshots_refuses_an_empty_file(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = write(tmp_path, "empty.csv", text)
    with pytest.raises(DataError, match=rf"empty\.csv: {problem}"):
        load_usdc_weth(path)


def test_loaders_refuse_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"absent\.csv: no such file"):
        load_usdc_weth(tmp_path / "absent.csv")
    with pytest.raises(DataError, match=r"absent\.json: no such file"):
        load_block_headers(tmp_path / "absent.json")


def test_loaders_reject_an_unknown_errors_policy(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", SNAPSHOT_HEADER + "2020-09-09 20:00:00,0,1,1\n")
    with pytest.raises(ValueError, match="errors must be"):
        load_binance_1m(path, errors="ignore")  # type: ignore[call-overload]


def test_load_reserve_snapshots_accepts_crlf_line_endings(tmp_path: Path) -> None:
    text = SNAPSHOT_HEADER + "2020-09-09 20:00:00,0,1.5,2.5\n" + "2020-09-09 21:00:00,0,2,3\n"
    path = tmp_path / "crlf.csv"
    path.write_bytes(text.replace("\n", "\r\n").encode())
    assert load_usdc_weth(path)["reserve0"].to_list() == [1_500_000, 2_000_000]


CDD_HEADER = "Unix,Date,Symbol,Open,High,Low,Close,Volume ETH,Volume USDC,tradecount\n"
CDD_ROWS = (
    "1664416800000,2022-09-29 02:00:00,ETHUSDC,1345.45,1345.45,1330.58,1338.12,387.7,519621.6,295\n"
    "1664413200000,2022-09-29 01:00:00,ETHUSDC,1332.95,1351.81,1332.95,1344.24,157.3,211650.4,345\n"
)


def test_load_cryptodatadownload_klines_refuses_a_file_without_banner(tmp_path: Path) -> None:
    path = write(tmp_path, "Binance_ETHUSDC_1h.csv", CDD_HEADER + CDD_ROWS)
    with pytest.raises(DataError, match=r"Binance_ETHUSDC_1h\.csv:1: banner line missing"):
        load_cryptodatadownload_klines(path)


def test_load_cryptodatadownload_klines_small_file_sorted_and_interval_inferred(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path, "cdd.csv", "https://www.CryptoDataDownload.com\n" + CDD_HEADER + CDD_ROWS
    )
    bars = load_cryptodatadownload_klines(path)
    assert bars["timestamp"].to_list() == [1_664_413_200, 1_664_416_800]
    assert bars["interval_s"].to_list() == [3600, 3600]
    assert bars["volume_quote"].to_list() == [211650.4, 519621.6]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("1664409600000,x,ETHUSDC,1,1,1,abc,1,1,1", "column 'Close': not a number: abc"),
        ("1664409600000,x,ETHUSDC,1,1,1,-1,1,1,1", "must be positive"),
        ("1664409600000,x,ETHUSDC,1,0.5,1,1,1,1,1", "inconsistent bar"),
        ("1664409600123,x,ETHUSDC,1,1,1,1,1,1,1", "not a whole second"),
        (
            "1664413200000,x,ETHUSDC,1,1,1,1,1,1,1",
            "duplicate timestamp 1664413200 (first on line 4)",
        ),
        ("1664409600000,x,ETHUSDC,1,1,1,1,-2,1,1", "must not be negative"),
        ("1664409600000,x,ETHUSDC,1,1,1,1,1,1,2.5", "not a non-negative integer"),
    ],
)
def test_load_cryptodatadownload_klines_names_file_and_line_of_a_bad_row(
    tmp_path: Path, row: str, problem: str
) -> None:
    text = "https://www.CryptoDataDownload.com\n" + CDD_HEADER + CDD_ROWS + row + "\n"
    path = write(tmp_path, "cdd.csv", text)
    with pytest.raises(DataError) as info:
        load_cryptodatadownload_klines(path)
    assert "cdd.csv:5: " in str(info.value) and problem in str(info.value)


def test_load_cryptodatadownload_klines_missing_column(tmp_path: Path) -> None:
    header = CDD_HEADER.replace("Close,", "")
    text = "https://www.CryptoDataDownload.com\n" + header + "1,x,ETHUSDC,1,1,1,1,1,1\n"
    with pytest.raises(DataError, match=r"cdd\.csv: missing column 'Close'"):
        load_cryptodatadownload_klines(write(tmp_path, "cdd.csv", text))


def test_load_binance_1m_bad_time_and_report_mode(tmp_path: Path) -> None:
    text = (
        "open_time,open,high,low,close,volume\n"
        "2023-03-01 00:00:00+00:00,1,2,0.5,1.5,0.0\n"
        "2023-03-01 00:01:00,1,2,0.5,1.5,1\n"
        "2023-03-01 00:02:00+00:00,1,2,0.5,1.5,2e-06\n"
    )
    path = write(tmp_path, "BTCUSDT_1m.csv", text)
    with pytest.raises(DataError, match=r"BTCUSDT_1m\.csv:3: column 'open_time': not a date-time"):
        load_binance_1m(path)
    bars, report = load_binance_1m(path, errors="report")
    assert report.problems[0][0] == 3 and bars.height == 2
    assert bars["volume"].to_list() == [0.0, 2e-06]


def test_load_kraken_1m_rejects_a_header_line_and_wrong_column_count(tmp_path: Path) -> None:
    header = "time,open,high,low,close,volume,count\n1672531200,1,1,1,1,0.1,2\n"
    with pytest.raises(DataError, match=r"kraken\.csv:1: column 'time': not a Unix time"):
        load_kraken_1m(write(tmp_path, "kraken.csv", header))
    with pytest.raises(DataError, match=r"k5\.csv: expected 6 or 7 columns"):
        load_kraken_1m(write(tmp_path, "k5.csv", "1672531200,1,1,1,1\n"))
    six = load_kraken_1m(write(tmp_path, "k6.csv", "1672531200,1,1,1,1,0.5\n"))
    assert six["trade_count"].to_list() == [None]


V2_HEADER = "amount0In,amount0Out,amount1In,amount1Out,id,pair,timestamp\n"
PAIR = "\"{'token0': {'symbol': 'WETH'}, 'token1': {'symbol': 'USDT'}}\""
TX = "0x" + "ab" * 32


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (
            f"0,1.0,2000,0,{TX}-0,{PAIR.replace('WETH', 'FOO')},1",
            "unknown token symbol FOO",
        ),
        (f"0,1.0,2000.0000001,0,{TX}-0,{PAIR},1", "more fractional digits than the token's 6"),
        (f"0,1.0,2000,0,0x12-0,{PAIR},1", "column 'id'"),
        (f"0,1.0,2000,0,{TX}-0,{PAIR},-5", "column 'timestamp'"),
        (f"0,-1.0,2000,0,{TX}-0,{PAIR},1", "negative value"),
    ],
)
def test_load_uniswap_swaps_names_file_and_line_of_a_bad_row(
    tmp_path: Path, row: str, problem: str
) -> None:
    good = f"0,1.0,2000,0,{'0x' + 'cd' * 32}-1,{PAIR},1\n"
    path = write(tmp_path, "v2.csv", V2_HEADER + good + row + "\n")
    with pytest.raises(DataError) as info:
        load_uniswap_swaps(path)
    assert "v2.csv:3: " in str(info.value) and problem in str(info.value)


def test_load_uniswap_swaps_v3_rejects_same_sign_amounts_and_unknown_format(tmp_path: Path) -> None:
    header = "amount0,amount1,id,pool,timestamp\n"
    path = write(tmp_path, "v3.csv", header + f"1.0,2000,{TX}#7,{PAIR},1\n")
    with pytest.raises(DataError, match=r"v3\.csv:2: amount0 and amount1 have the same sign"):
        load_uniswap_swaps(path)
    other = write(tmp_path, "other.csv", "a,b\n1,2\n")
    with pytest.raises(DataError, match=r"other\.csv: missing column 'amount0In'"):
        load_uniswap_swaps(other)


def test_load_block_headers_json_problems_name_the_line_of_the_object(tmp_path: Path) -> None:
    text = (
        "[\n"
        '  {"number": 1, "timestamp": 12, "base_fee_per_gas": "0x3b9aca00",\n'
        '   "gas_used": 10, "gas_limit": 20},\n'
        '  {"number": 2, "timestamp": 24, "base_fee_per_gas": 1.5,\n'
        '   "gas_used": 10, "gas_limit": 20},\n'
        '  {"number": 3, "timestamp": 36, "base_fee_per_gas": 7,\n'
        '   "gas_used": 30, "gas_limit": 20},\n'
        "  [1, 2]\n"
        "]\n"
    )
    path = write(tmp_path, "blocks.json", text)
    with pytest.raises(DataError, match=r"blocks\.json:4: column 'base_fee_per_gas'"):
        load_block_headers(path)
    blocks, report = load_block_headers(path, errors="report")
    assert [line for line, _ in report.problems] == [4, 6, 8]
    assert "gas_used above gas_limit" in report.problems[1][1]
    assert "expected a JSON object" in report.problems[2][1]
    assert blocks["base_fee_wei"].to_list() == [1_000_000_000]


def test_load_block_headers_invalid_json_and_missing_base_fee(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.json", '[\n  {"number": 1,\n  "timestamp": }\n]\n')
    with pytest.raises(DataError, match=r"broken\.json:3: invalid JSON"):
        load_block_headers(broken)
    nofee = write(tmp_path, "nofee.csv", "number,timestamp\n1,2\n")
    with pytest.raises(DataError, match=r"nofee\.csv: missing column 'base_fee_per_gas'"):
        load_block_headers(nofee)


def test_load_block_headers_gwei_is_exact_and_refuses_sub_wei(tmp_path: Path) -> None:
    text = "number,timestamp,base_fee_gwei\n1,12,0.000000001\n2,24,12.5\n3,36,1.0000000001\n"
    path = write(tmp_path, "gwei.csv", text)
    with pytest.raises(
        DataError, match=r"gwei\.csv:4: .*more fractional digits than the token's 9"
    ):
        load_block_headers(path)
    blocks, _ = load_block_headers(path, errors="report")
    assert blocks["base_fee_wei"].to_list() == [1, 12_500_000_000]


# ----------------------------------------------------------------------------- decimal parsing


@settings(max_examples=200, deadline=None)
@given(
    value=st.integers(min_value=0, max_value=UINT112_MAX),
    decimals=st.integers(min_value=0, max_value=30),
    trailing_zeros=st.integers(min_value=0, max_value=3),
)
def test_reserve_decimal_strings_round_trip_exactly(
    tmp_path_factory: pytest.TempPathFactory, value: int, decimals: int, trailing_zeros: int
) -> None:
    whole, frac = divmod(value, 10**decimals)
    text = str(whole) + (
        "." + str(frac).rjust(decimals, "0") + "0" * trailing_zeros if decimals else ""
    )
    path = tmp_path_factory.mktemp("dec") / "r.csv"
    path.write_text(SNAPSHOT_HEADER + f"2020-01-01 00:00:00,0,{text},{text}\n")
    df = load_reserve_snapshots(
        path, venue="v", token0="A", token1="B", decimals0=decimals, decimals1=decimals
    )
    assert df["reserve0"].to_list() == [value] and df["reserve1"].to_list() == [value]


def test_scientific_notation_reserves_are_exact(tmp_path: Path) -> None:
    path = write(tmp_path, "sci.csv", SNAPSHOT_HEADER + "2020-01-01 00:00:00,0,1.5E+3,25e-18\n")
    df = load_usdc_weth(path)
    assert df["reserve0"].to_list() == [1_500_000_000] and df["reserve1"].to_list() == [25]


# ----------------------------------------------------------------------------- log decoding

POOL = "0x0d4a11d5EEaaC28EC3F61d100daF4d40471f1852"
META = {POOL: PoolMeta(venue="uniswap_v2", token0="WETH", token1="USDT")}


def test_topic0_and_selectors_are_the_keccak_of_the_signatures() -> None:
    assert "0x" + keccak(text="Sync(uint112,uint112)").hex() == SYNC_TOPIC0
    swap = "Swap(address,uint256,uint256,uint256,uint256,address)"
    assert "0x" + keccak(text=swap).hex() == SWAP_TOPIC0
    assert keccak(text="token0()")[:4].hex() == "0dfe1681"
    assert keccak(text="token1()")[:4].hex() == "d21220a7"


def topic_address(address: str) -> str:
    return "0x" + "00" * 12 + address[2:].lower()


def sync_log(
    reserve0: int, reserve1: int, *, block: int = 100, index: int = 0, tx: str = TX
) -> dict[str, Any]:
    """Return a raw JSON-RPC eth_getLogs entry (hex strings) for a Sync log."""
    return {
        "address": POOL.lower(),
        "topics": [SYNC_TOPIC0],
        "data": "0x" + encode(["uint112", "uint112"], [reserve0, reserve1]).hex(),
        "blockNumber": hex(block),
        "transactionHash": tx,
        "transactionIndex": "0x0",
        "blockHash": "0x" + "11" * 32,
        "logIndex": hex(index),
        "removed": False,
    }


def swap_log(
    amounts: tuple[int, int, int, int],
    *,
    sender: str = "0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D",
    to: str = "0x" + "22" * 20,
    block: int = 100,
    index: int = 1,
) -> dict[str, Any]:
    return {
        "address": POOL.lower(),
        "topics": [SWAP_TOPIC0, topic_address(sender), topic_address(to)],
        "data": "0x" + encode(["uint256"] * 4, list(amounts)).hex(),
        "blockNumber": hex(block),
        "transactionHash": TX,
        "transactionIndex": "0x0",
        "blockHash": "0x" + "11" * 32,
        "logIndex": hex(index),
        "removed": False,
    }


def as_web3_types(log: dict[str, Any]) -> dict[str, Any]:
    """Return the log as web3 returns it: bytes for hashes/data, ints for numbers."""
    return {
        **log,
        "address": Web3.to_checksum_address(log["address"]),
        "topics": [bytes.fromhex(t[2:]) for t in log["topics"]],
        "data": bytes.fromhex(log["data"][2:]),
        "blockNumber": int(log["blockNumber"], 16),
        "transactionHash": bytes.fromhex(log["transactionHash"][2:]),
        "logIndex": int(log["logIndex"], 16),
    }


uint112 = st.integers(min_value=0, max_value=UINT112_MAX)


@settings(max_examples=200, deadline=None)
@given(
    reserve0=uint112,
    reserve1=uint112,
    block=st.integers(min_value=0, max_value=2**40),
    web3_form=st.booleans(),
)
def test_decode_v2_logs_sync_round_trips_random_uint112_reserves(
    reserve0: int, reserve1: int, block: int, web3_form: bool
) -> None:
    log = sync_log(reserve0, reserve1, block=block, index=7)
    decoded = decode_v2_logs([as_web3_types(log) if web3_form else log], pool_meta=META)
    validate_table(decoded.pool_states, POOL_STATES_SCHEMA, name="pool_states")
    row = decoded.pool_states.row(0, named=True)
    assert (row["reserve0"], row["reserve1"]) == (reserve0, reserve1)
    assert (row["block"], row["log_index"], row["tx_hash"]) == (block, 7, TX)
    assert (row["pool"], row["token0"], row["token1"], row["fee_bps"]) == (
        POOL.lower(),
        "WETH",
        "USDT",
        30,
    )
    assert decoded.swaps.height == 0 and decoded.ignored == 0


@settings(max_examples=100, deadline=None)
@given(amounts=st.tuples(uint112, uint112, uint112, uint112), web3_form=st.booleans())
def test_decode_v2_logs_swap_round_trips_random_amounts(
    amounts: tuple[int, int, int, int], web3_form: bool
) -> None:
    log = swap_log(amounts)
    decoded = decode_v2_logs([as_web3_types(log) if web3_form else log], pool_meta=META)
    validate_table(decoded.swaps, SWAPS_SCHEMA, name="swaps")
    row = decoded.swaps.row(0, named=True)
    in0, in1, out0, out1 = amounts
    assert (row["amount0_in"], row["amount1_in"], row["amount0_out"], row["amount1_out"]) == amounts
    assert (row["amount0"], row["amount1"]) == (in0 - out0, in1 - out1)
    assert row["sender"] == "0x7a250d5630b4cf539739df2c5dacb4c659f2488d"
    assert row["recipient"] == "0x" + "22" * 20


def test_decode_v2_logs_sorts_by_block_and_log_index_and_ignores_other_events() -> None:
    transfer = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
    other = {
        **sync_log(1, 1, block=5, index=0),
        "topics": [transfer, "0x" + "00" * 32, "0x" + "00" * 32],
    }
    removed = {**sync_log(9, 9, block=1), "removed": True}
    logs = [sync_log(3, 4, block=7, index=2), sync_log(1, 2, block=7, index=0), other, removed]
    decoded = decode_v2_logs(logs, pool_meta=META)
    assert decoded.pool_states["reserve0"].to_list() == [1, 3]
    assert decoded.ignored == 2


def test_decode_v2_logs_takes_block_timestamp_when_the_node_sends_it() -> None:
    log = {**sync_log(1, 2), "blockTimestamp": hex(1_704_085_211)}
    assert decode_v2_logs([log], pool_meta=META).pool_states["timestamp"].to_list() == [
        1_704_085_211
    ]


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda log: {**log, "topics": [*log["topics"], "0x" + "00" * 32]}, "Sync has 1 topic"),
        (lambda log: {**log, "data": log["data"][:-2]}, "Sync data must be 64 bytes, got 63"),
        (
            lambda log: {**log, "data": "0x" + encode(["uint256", "uint256"], [1, 2**112]).hex()},
            "reserve1 5192296858534827628530496329220096 is above uint112",
        ),
        (lambda log: {**log, "address": "0x" + "99" * 20}, "is not a configured pool"),
        (lambda log: {**log, "data": "0xzz"}, "data is not hex"),
    ],
)
def test_decode_v2_logs_rejects_a_malformed_sync_naming_tx_and_log_index(
    mutate: Callable[[dict[str, Any]], dict[str, Any]], problem: str
) -> None:
    log = mutate(sync_log(1, 2, index=5))
    with pytest.raises(DataError) as info:
        decode_v2_logs([log], pool_meta=META)
    message = str(info.value)
    assert f"tx {TX}" in message and "log index 5" in message
    assert problem in message


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda log: {**log, "topics": log["topics"][:2]}, "Swap has 3 topics"),
        (lambda log: {**log, "data": log["data"][:-64]}, "Swap data must be 128 bytes, got 96"),
        (
            lambda log: {**log, "data": "0x" + encode(["uint256"] * 4, [2**112, 0, 0, 1]).hex()},
            "amount0_in 5192296858534827628530496329220096 is above uint112",
        ),
        (
            lambda log: {**log, "topics": [log["topics"][0], "0x" + "ff" * 32, log["topics"][2]]},
            "indexed sender is not an ABI-encoded address",
        ),
    ],
)
def test_decode_v2_logs_rejects_a_malformed_swap(
    mutate: Callable[[dict[str, Any]], dict[str, Any]], problem: str
) -> None:
    log = mutate(swap_log((1, 0, 0, 1), index=9))
    with pytest.raises(DataError) as info:
        decode_v2_logs([log], pool_meta=META)
    assert f"tx {TX}" in str(info.value) and "log index 9" in str(info.value)
    assert problem in str(info.value)


# ----------------------------------------------------------------------------- fetch_v2_logs


class RecordedProvider(BaseProvider):
    """Answer JSON-RPC requests from recorded responses, like a node would, and log the requests."""

    def __init__(self, logs: list[dict[str, Any]], *, max_results: int | None = None) -> None:
        super().__init__()
        self.logs = logs
        self.max_results = max_results
        self.requests: list[tuple[str, Any]] = []

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True

    def make_request(self, method: Any, params: Any) -> Any:
        self.requests.append((method, params))
        if method == "eth_getLogs":
            (flt,) = params
            start, end = int(flt["fromBlock"], 16), int(flt["toBlock"], 16)
            addresses = flt["address"] if isinstance(flt["address"], list) else [flt["address"]]
            wanted = {a.lower() for a in addresses}
            topics = {t.lower() for t in flt["topics"][0]}
            result = [
                log
                for log in self.logs
                if start <= int(log["blockNumber"], 16) <= end
                and log["address"].lower() in wanted
                and log["topics"][0] in topics
            ]
            if self.max_results is not None and len(result) > self.max_results:
                return {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "error": {"code": -32005, "message": "query returned more than 2 results"},
                }
            return {"jsonrpc": "2.0", "id": 1, "result": result}
        if method == "eth_chainId":
            return {"jsonrpc": "2.0", "id": 1, "result": "0x1"}
        if method == "eth_call":
            selector = params[0]["data"]
            token = {"0x0dfe1681": "c0" * 20, "0xd21220a7": "da" * 20}[selector]
            return {"jsonrpc": "2.0", "id": 1, "result": "0x" + "00" * 12 + token}
        return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": f"no {method}"}}


def recorded_logs() -> list[dict[str, Any]]:
    return [
        sync_log(10**18, 2_000 * 10**6, block=100, index=0),
        swap_log((10**15, 0, 0, 1_990_000), block=100, index=1),
        sync_log(10**18 + 10**15, 2_000 * 10**6 - 1_990_000, block=100, index=2),
        sync_log(5, 6, block=104, index=3),
        sync_log(7, 8, block=109, index=0),
        sync_log(9, 9, block=250, index=0),  # outside the range asked for
    ]


def test_fetch_v2_logs_chunks_the_range_and_decodes_recorded_answers() -> None:
    provider = RecordedProvider(recorded_logs())
    decoded = fetch_v2_logs(Web3(provider), POOL, 100, 109, chunk_size=4, meta=META[POOL])
    ranges = [
        (int(p[0]["fromBlock"], 16), int(p[0]["toBlock"], 16))
        for m, p in provider.requests
        if m == "eth_getLogs"
    ]
    assert ranges == [(100, 103), (104, 107), (108, 109)]
    for method, params in provider.requests:
        assert method == "eth_getLogs"
        assert params[0]["topics"] == [[SYNC_TOPIC0, SWAP_TOPIC0]]
    assert decoded.pool_states["block"].to_list() == [100, 100, 104, 109]
    assert decoded.pool_states["reserve0"].to_list() == [10**18, 10**18 + 10**15, 5, 7]
    assert decoded.swaps["amount1"].to_list() == [-1_990_000]
    assert decoded.swaps["token0"].to_list() == ["WETH"]


def test_fetch_v2_logs_reads_token_addresses_and_splits_ranges_the_node_refuses() -> None:
    provider = RecordedProvider(recorded_logs(), max_results=3)
    decoded = fetch_v2_logs(Web3(provider), POOL.lower(), 100, 109, chunk_size=100)
    assert decoded.pool_states["token0"].unique().to_list() == ["0x" + "c0" * 20]
    assert decoded.pool_states["token1"].unique().to_list() == ["0x" + "da" * 20]
    assert decoded.pool_states.height == 4 and decoded.swaps.height == 1
    assert [m for m, _ in provider.requests].count("eth_call") == 2
    ranges = [
        (int(p[0]["fromBlock"], 16), int(p[0]["toBlock"], 16))
        for m, p in provider.requests
        if m == "eth_getLogs"
    ]
    # 100-109 holds 5 logs, 100-104 holds 4: both refused and halved
    assert ranges == [(100, 109), (100, 104), (100, 102), (103, 104), (105, 109)]


def test_fetch_v2_logs_propagates_an_error_it_cannot_split_away() -> None:
    provider = RecordedProvider([sync_log(1, 1, block=5, index=i) for i in range(3)], max_results=2)
    with pytest.raises(LogFetchError, match=r"blocks 5-5 .* more than 2 results") as caught:
        fetch_v2_logs(Web3(provider), POOL, 5, 5, meta=META[POOL])
    assert (caught.value.from_block, caught.value.to_block) == (5, 5)
    with pytest.raises(ValueError, match="invalid block range"):
        fetch_v2_logs(Web3(provider), POOL, 9, 5, meta=META[POOL])
