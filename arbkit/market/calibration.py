"""Calibration statistics: the same numbers from a simulated history and from real data.

Each quantity is first turned into a sample (a float array: one value per snapshot, per
block or per transaction) by :func:`real_calibration_samples` or
:func:`history_calibration_samples`; :func:`real_calibration_stats` and
:func:`history_calibration_stats` summarise those samples with the same code, so sim and
real numbers are computed in exactly one way. :func:`compare_calibration` puts them side
by side and :func:`write_calibration_report` writes a markdown table and ECDF plots.

Quantities (sample keys)
------------------------
``gap_bps``
    Cross-venue price gap ``|p_a / p_b - 1| * 1e4`` of one pair on two venues with equal
    30 bp fees, at the real snapshot cadence (real: every snapshot of the four
    Uniswap V2 / SushiSwap pairs, pooled; sim: every ``gap_stride_blocks``-th block).
``gap_bps[A-B]``
    The same per pair, ``A-B`` the two token symbols sorted (e.g. ``USDC-WETH``).
``gap_bps_every_block``
    The pooled gap at every block (sim only: the real data has no per-block reserves).
``base_fee_change``
    ``base_fee[t+1] / base_fee[t] - 1`` over consecutive blocks. Its ``share_at_+12.5pct``
    (``share_at_-12.5pct``) counts changes within 1e-4 of the +12.5% (-12.5%) EIP-1559 cap,
    i.e. parent blocks at least 99.92% full (empty): real builders stop just short of
    the gas limit, so an exact-equality count would be zero.
``gas_used_ratio``
    ``gas_used / gas_limit`` per block.
``priority_fee_gwei``
    Priority fee per gas in gwei (sim only, see below).
``tip_over_base_fee``
    Priority fee per gas divided by base fee per gas (dimensionless).
``priority_fee_eth``, ``cb_transfer_eth``, ``bribe_eth``
    Priority fee, coinbase transfer and their sum, in ETH per arbitrage.
``cb_share_of_bribe``
    ``cb_transfer / (priority fee + cb_transfer)`` where that sum is positive.
``bribe_share_of_total_fee``
    ``bribe / (bribe + base fee paid)`` per arbitrage, ``bribe`` = priority fee +
    coinbase transfer (real: ``mev_value / (mev_value + base_fees)``; sim: per block with
    the block's base fee x the arbitrage's gas).
``bribe_share_of_total_fee_2023_base_fee``
    The same with the base fee paid replaced by :data:`REAL_ARB_BASE_FEE_ETH_MEDIAN`, the
    real 2023 arbitrages' median base fee paid in ETH (sim only: the simulated base fee is
    2026-era, ~100x below 2023's, so the plain row mixes eras).
``bribe_over_volume``
    Bribe in USD over the arbitrage's USD volume, in bps (real: ``mev_value`` x the
    sample's implied ETH/USD over ``volume``; sim: blocks with rival swaps, the bribe at
    the block's ETH/USDC mid over the USD value of the rival swaps' inputs).
``arbs_per_block``
    CEX-DEX arbitrage transactions per block, zero blocks included (real only).
``bot_tx_share``, ``bot_contract_tx_share``
    Share of all arbitrage transactions sent by each labelled bot, or to each bot
    contract (``to_addr``), sorted descending (a competition measure). Sim
    ``bot_tx_share``: share of the blocks with rival swaps won by each ``competitor_bot``
    (every simulated bot is "labelled", so its ``sum`` is 1 and its ``hhi`` exact).
``bot_sender_tx_share``
    Share of all arbitrage transactions per bot, a bot being the ``mev_bot_label`` or,
    where that is empty, the sender ``from_addr`` (covers every row; the grouping the
    simulator's ``competitor_bot`` shares are calibrated to). Sim: as ``bot_tx_share``.

Both samples functions return every key above (empty arrays where a side cannot measure
the quantity) plus one ``gap_bps[A-B]`` key per pair found. Empty samples give no rows.

Units of observation differ: real tips and bribes are per included arbitrage transaction
(2023-08-08), simulated ones are per block (what competitors bid at that block). Real
gaps are from 2020-2022, real base fees from 2026-01; compare shapes and dimensionless
ratios before absolute levels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import polars as pl

from arbkit.errors import DataError
from arbkit.io import open_atomic
from arbkit.market.data import load_block_headers, load_univ2_sushi_pair
from arbkit.market.gas import CEX_DEX_GAS_UNITS
from arbkit.market.history import MarketHistory
from arbkit.market.real_history import REAL_PAIRS as _REAL_PAIRS
from arbkit.market.tables import validate_table
from arbkit.market.tokens import TOKEN_DECIMALS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "CALIBRATION_SCHEMA",
    "DEFAULT_ARB_GAS_USED",
    "NO_ARB_BAND_BPS",
    "REAL_ARB_BASE_FEE_ETH_MEDIAN",
    "REAL_ARB_TXS_FILE",
    "REAL_BLOCKS_FILE",
    "REAL_PAIRS",
    "REAL_RESERVES_DIR",
    "REAL_SNAPSHOT_INTERVAL_S",
    "SAMPLE_KEYS",
    "CalibrationStats",
    "compare_calibration",
    "history_calibration_samples",
    "history_calibration_stats",
    "real_calibration_samples",
    "real_calibration_stats",
    "write_calibration_report",
]

FloatArray = npt.NDArray[np.float64]

REAL_RESERVES_DIR = "dex_univ2_sushiswap_reserves_2020_2022"
"""Uniswap V2 / SushiSwap snapshot folder, relative to the real-data folder."""
REAL_PAIRS: tuple[str, ...] = _REAL_PAIRS  # the loader's pairs, one list
"""Pairs of :data:`REAL_RESERVES_DIR` (file names, token0_token1)."""
REAL_BLOCKS_FILE = "gas_eth_mainnet_basefee_blocks/blocks_24337593_24338592_jan2026.csv"
"""1,000 consecutive mainnet block headers (2026-01), relative to the real-data folder."""
REAL_ARB_TXS_FILE = "cexdex_arb_txs_20230808/cexdex_data_sample_20230808.csv"
"""4,968 CEX-DEX arbitrage transactions of 2023-08-08, relative to the real-data folder."""
REAL_ARB_BASE_FEE_ETH_MEDIAN = 0.0031297393
"""Median base fee paid (``base_fees``, ETH) per arbitrage of :data:`REAL_ARB_TXS_FILE`.

Gas used is not in the file, so the 2023 base fee per gas cannot be derived; the ETH burnt
per arbitrage can, and it is what a bribe competes with in ``bribe_share_of_total_fee``.
"""
REAL_SNAPSHOT_INTERVAL_S = 13_374
"""Median spacing of the real Uniswap V2 / SushiSwap snapshots in seconds (3.715 h)."""
NO_ARB_BAND_BPS = 60.0
"""Two 30 bp swap fees: gaps inside this band cannot be arbitraged between the pools."""
DEFAULT_ARB_GAS_USED: int = CEX_DEX_GAS_UNITS
"""Gas of one simulated arbitrage (the scanner's CEX-DEX swap, 110,000)."""

SAMPLE_KEYS: tuple[str, ...] = (
    "gap_bps",
    "gap_bps_every_block",
    "base_fee_change",
    "gas_used_ratio",
    "priority_fee_gwei",
    "tip_over_base_fee",
    "priority_fee_eth",
    "cb_transfer_eth",
    "bribe_eth",
    "cb_share_of_bribe",
    "bribe_share_of_total_fee",
    "bribe_share_of_total_fee_2023_base_fee",
    "bribe_over_volume",
    "arbs_per_block",
    "bot_tx_share",
    "bot_sender_tx_share",
    "bot_contract_tx_share",
)
"""Keys every samples dict has (plus one ``gap_bps[A-B]`` per pair)."""

CALIBRATION_SCHEMA: Mapping[str, pl.DataType] = {
    "quantity": pl.String(),
    "stat": pl.String(),
    "value": pl.Float64(),
    "unit": pl.String(),
    "source": pl.String(),
}
"""Columns of :attr:`CalibrationStats.table`."""

_FULL_STEP_TOL = 1e-4  # a base-fee change this close to +-12.5% counts as at the cap
_WEI_PER_GWEI = 1e9
_WEI_PER_ETH = 1e18
_EMPTY: FloatArray = np.empty(0, dtype=np.float64)


# ----------------------------------------------------------------------------- statistics


def _quantile(q: float) -> Callable[[FloatArray], float]:
    return lambda x: float(np.quantile(x, q))


_STAT_FUNCS: Mapping[str, Callable[[FloatArray], float]] = {
    "n": lambda x: float(x.size),
    "mean": lambda x: float(np.mean(x)),
    "std": lambda x: float(np.std(x)),
    "p10": _quantile(0.10),
    "median": _quantile(0.50),
    "p90": _quantile(0.90),
    "share_above_60bps": lambda x: float(np.mean(x > NO_ARB_BAND_BPS)),
    "share_at_+12.5pct": lambda x: float(np.mean(x >= 0.125 - _FULL_STEP_TOL)),
    "share_at_-12.5pct": lambda x: float(np.mean(x <= -0.125 + _FULL_STEP_TOL)),
    "share_zero": lambda x: float(np.mean(x == 0)),
    "max": lambda x: float(np.max(x)),
    "sum": lambda x: float(np.sum(x)),
    "hhi": lambda x: float(np.sum(x * x)),
}

_DIST = ("n", "mean", "std", "p10", "median", "p90")
_SHARES = ("n", "max", "sum", "hhi")


@dataclass(frozen=True)
class _Spec:
    unit: str
    stats: tuple[str, ...]


_SPECS: Mapping[str, _Spec] = {
    "gap_bps": _Spec("bps", (*_DIST, "share_above_60bps")),
    "gap_bps_every_block": _Spec("bps", (*_DIST, "share_above_60bps")),
    "base_fee_change": _Spec(
        "fraction per block", (*_DIST, "share_at_+12.5pct", "share_at_-12.5pct")
    ),
    "gas_used_ratio": _Spec("fraction of gas_limit", _DIST),
    "priority_fee_gwei": _Spec("gwei per gas", (*_DIST, "share_zero")),
    "tip_over_base_fee": _Spec("priority fee / base fee (per gas)", (*_DIST, "share_zero")),
    "priority_fee_eth": _Spec("ETH per arbitrage", (*_DIST, "share_zero")),
    "cb_transfer_eth": _Spec("ETH per arbitrage", (*_DIST, "share_zero")),
    "bribe_eth": _Spec("ETH per arbitrage", (*_DIST, "share_zero")),
    "cb_share_of_bribe": _Spec("fraction", (*_DIST, "share_zero")),
    "bribe_share_of_total_fee": _Spec("bribe / (bribe + base fee paid)", _DIST),
    "bribe_share_of_total_fee_2023_base_fee": _Spec(
        "bribe / (bribe + 2023 median base fee paid)", _DIST
    ),
    "bribe_over_volume": _Spec("bps of volume (USD)", _DIST),
    "arbs_per_block": _Spec("arbitrage txs per block", (*_DIST, "share_zero", "max")),
    "bot_tx_share": _Spec("share of arbitrage txs", _SHARES),
    "bot_sender_tx_share": _Spec("share of arbitrage txs", _SHARES),
    "bot_contract_tx_share": _Spec("share of arbitrage txs", _SHARES),
}


def _unit(spec: _Spec, stat: str) -> str:
    if stat == "n":
        return "count"
    if stat.startswith("share_") or stat == "hhi":
        return "fraction"
    return spec.unit


def _base_key(quantity: str) -> str:
    return quantity.split("[", 1)[0]


def _spec(quantity: str) -> _Spec:
    try:
        return _SPECS[_base_key(quantity)]
    except KeyError:
        raise KeyError(f"unknown calibration quantity {quantity!r}") from None


def _pair_key(token_a: str, token_b: str) -> str:
    a, b = sorted((token_a, token_b))
    return f"gap_bps[{a}-{b}]"


@dataclass(frozen=True, eq=False)
class CalibrationStats:
    """Named summary statistics of calibration quantities, one row per (quantity, stat).

    Parameters
    ----------
    table
        Columns of :data:`CALIBRATION_SCHEMA`: ``quantity`` (a sample key such as
        ``gap_bps``), ``stat`` (``n``, ``mean``, ``std`` (population), ``p10``,
        ``median``, ``p90``, ``share_...``, ``max``, ``sum``, ``hhi``), ``value``,
        ``unit`` and ``source`` (the file or history columns it was computed from).

    Raises
    ------
    DataError
        If a column is missing or has another dtype, or a (quantity, stat) repeats.
    """

    table: pl.DataFrame

    def __post_init__(self) -> None:
        validate_table(self.table, CALIBRATION_SCHEMA, name="calibration")
        if self.table.select("quantity", "stat").is_duplicated().any():
            raise DataError("table 'calibration': a (quantity, stat) pair appears twice")

    def __len__(self) -> int:
        return self.table.height

    @property
    def quantities(self) -> tuple[str, ...]:
        """Quantities present, in table order."""
        return tuple(self.table["quantity"].unique(maintain_order=True).to_list())

    def value(self, quantity: str, stat: str) -> float:
        """Return one statistic.

        Parameters
        ----------
        quantity, stat
            E.g. ``("gap_bps", "median")``.

        Returns
        -------
        float
            The value.

        Raises
        ------
        KeyError
            If the table has no such row.
        """
        row = self.table.filter((pl.col("quantity") == quantity) & (pl.col("stat") == stat))
        if row.height == 0:
            raise KeyError(f"no calibration statistic ({quantity!r}, {stat!r})")
        return float(row["value"][0])


def _stats_from_samples(
    samples: Mapping[str, FloatArray], sources: Mapping[str, str]
) -> CalibrationStats:
    rows: list[tuple[str, str, float, str, str]] = []
    for quantity in sorted(samples, key=lambda q: _order(q, "")[:2]):
        x = samples[quantity]
        if x.size == 0:
            continue
        spec = _spec(quantity)
        for stat in spec.stats:
            rows.append(
                (quantity, stat, _STAT_FUNCS[stat](x), _unit(spec, stat), sources[quantity])
            )
    return CalibrationStats(pl.DataFrame(rows, schema=dict(CALIBRATION_SCHEMA), orient="row"))


# ----------------------------------------------------------------------------- shared samplers


def _finite(x: FloatArray) -> FloatArray:
    return np.asarray(x[np.isfinite(x)], dtype=np.float64)


def _column(df: pl.DataFrame, name: str) -> FloatArray:
    # A numeric column as float64 with NaN for nulls.
    return np.asarray(df[name].cast(pl.Float64).fill_null(np.nan).to_numpy(), dtype=np.float64)


def _prices(r0: FloatArray, r1: FloatArray, decimals0: int, decimals1: int) -> FloatArray:
    # Price of token0 in whole token1 units; NaN where a reserve is not positive.
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (r1 / r0) * 10.0 ** (decimals0 - decimals1)
    return np.where((r0 > 0) & (r1 > 0), p, np.nan)


def _gap_bps(price_a: FloatArray, price_b: FloatArray) -> FloatArray:
    return _finite(np.abs(price_a / price_b - 1.0) * 1e4)


def _base_fee_change(blocks: pl.DataFrame) -> FloatArray:
    # Relative change of the base fee between consecutive block numbers only.
    b = blocks.sort("block")
    number = b["block"].to_numpy()
    fee = _column(b, "base_fee_wei")
    if fee.size < 2:
        return _EMPTY
    consecutive = np.diff(number) == 1
    prev, nxt = fee[:-1], fee[1:]
    ok = consecutive & (prev > 0) & np.isfinite(nxt)
    return np.asarray(nxt[ok] / prev[ok] - 1.0, dtype=np.float64)


def _gas_used_ratio(blocks: pl.DataFrame) -> FloatArray:
    used, limit = _column(blocks, "gas_used"), _column(blocks, "gas_limit")
    ok = np.isfinite(used) & (limit > 0)
    return np.asarray(used[ok] / limit[ok], dtype=np.float64)


def _fee_samples(
    priority_eth: FloatArray | None, cb_eth: FloatArray | None, base_eth: FloatArray | None
) -> dict[str, FloatArray]:
    # Per-arbitrage priority fee, coinbase transfer and base fee (ETH; NaN = unknown).
    out: dict[str, FloatArray] = {}
    if priority_eth is not None:
        out["priority_fee_eth"] = _finite(priority_eth)
        if base_eth is not None:
            ok = np.isfinite(priority_eth) & (base_eth > 0)
            out["tip_over_base_fee"] = np.asarray(priority_eth[ok] / base_eth[ok], dtype=np.float64)
    if cb_eth is not None:
        out["cb_transfer_eth"] = _finite(cb_eth)
    if priority_eth is not None and cb_eth is not None:
        bribe = priority_eth + cb_eth
        out["bribe_eth"] = _finite(bribe)
        ok = np.isfinite(bribe) & (bribe > 0)
        out["cb_share_of_bribe"] = np.asarray(cb_eth[ok] / bribe[ok], dtype=np.float64)
        if base_eth is not None:
            out["bribe_share_of_total_fee"] = _share_of_total(bribe, base_eth)
    return out


def _share_of_total(bribe_eth: FloatArray, base_eth: FloatArray) -> FloatArray:
    # bribe / (bribe + base fee paid) where that sum is positive and known.
    total = bribe_eth + base_eth
    ok = np.isfinite(total) & (total > 0)
    return np.asarray(bribe_eth[ok] / total[ok], dtype=np.float64)


def _bribe_over_volume_bps(
    bribe_eth: FloatArray, eth_usd: FloatArray, volume_usd: FloatArray
) -> FloatArray:
    # Bribe in USD over the trade's USD volume, in bps, where the volume is positive.
    ok = (volume_usd > 0) & np.isfinite(bribe_eth) & np.isfinite(eth_usd)
    return np.asarray(bribe_eth[ok] * eth_usd[ok] / volume_usd[ok] * 1e4, dtype=np.float64)


def _tx_shares(keys: pl.Series, total: int) -> FloatArray:
    # Share of all ``total`` transactions per distinct non-empty key, descending.
    named = keys.drop_nulls().str.strip_chars()
    counts = named.filter(named != "").value_counts(sort=True, name="n")["n"].to_numpy()
    return np.asarray(counts / total, dtype=np.float64)


_STABLES = ("USDC", "USDT")
_ETH = ("ETH", "WETH")


def _implied_eth_usd(txs: pl.DataFrame) -> float | None:
    # Median USD per ETH over single-trade rows swapping (W)ETH against USDC or USDT.
    cols = ("token_bought_symbol", "token_sold_symbol", "token_bought_amount")
    if not all(c in txs.columns for c in (*cols, "token_sold_amount")):
        return None
    single = (
        txs.filter(pl.col("multi_trade").str.strip_chars() == "0")
        if "multi_trade" in txs.columns
        else txs
    )
    prices: list[FloatArray] = []
    for eth_side, usd_side in (("bought", "sold"), ("sold", "bought")):
        rows = single.filter(
            pl.col(f"token_{eth_side}_symbol").is_in(_ETH)
            & pl.col(f"token_{usd_side}_symbol").is_in(_STABLES)
        )
        eth = _column(rows, f"token_{eth_side}_amount")
        usd = _column(rows, f"token_{usd_side}_amount")
        ok = (eth > 0) & np.isfinite(usd)
        prices.append(usd[ok] / eth[ok])
    both = np.concatenate(prices)
    return float(np.median(both)) if both.size else None


def _new_samples() -> dict[str, FloatArray]:
    return dict.fromkeys(SAMPLE_KEYS, _EMPTY)


# ----------------------------------------------------------------------------- real data


_OPTIONAL_FLOATS = ("volume", "token_bought_amount", "token_sold_amount")


def _read_arb_txs(path: Path) -> pl.DataFrame:
    # The CEX-DEX arbitrage sample: there is no loader in arbkit.market.data for it.
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    raw = pl.read_csv(path, infer_schema=False)
    floats = ("base_fees", "priority_fees", "cb_transfer", "mev_value")
    needed = ("block_number", "mev_bot_label", "to_addr", *floats)
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(map(repr, missing))}")
    try:
        return raw.with_columns(
            pl.col("block_number").str.strip_chars().cast(pl.Int64),
            *(pl.col(c).str.strip_chars().cast(pl.Float64) for c in floats),
            *(
                pl.col(c).str.strip_chars().cast(pl.Float64)
                for c in _OPTIONAL_FLOATS
                if c in raw.columns
            ),
        )
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"{path}: a block number or fee is not a number ({exc})") from exc


def _real_samples(data_dir: Path) -> tuple[dict[str, FloatArray], dict[str, str]]:
    root = Path(data_dir)
    samples = _new_samples()
    sources: dict[str, str] = {}

    gaps: list[FloatArray] = []
    for pair in REAL_PAIRS:
        uni, sushi = load_univ2_sushi_pair(root, pair)
        token0, token1 = uni["token0"][0], uni["token1"][0]
        d0, d1 = TOKEN_DECIMALS[token0], TOKEN_DECIMALS[token1]
        p_uni = _prices(_column(uni, "reserve0"), _column(uni, "reserve1"), d0, d1)
        p_sushi = _prices(_column(sushi, "reserve0"), _column(sushi, "reserve1"), d0, d1)
        gap = _gap_bps(p_uni, p_sushi)
        key = _pair_key(token0, token1)
        samples[key] = gap
        sources[key] = f"{REAL_RESERVES_DIR}/{{uniswapv2,sushiswap}}/{pair}.csv"
        gaps.append(gap)
    samples["gap_bps"] = np.concatenate(gaps)
    sources["gap_bps"] = f"{REAL_RESERVES_DIR}/{{uniswapv2,sushiswap}}/*.csv"

    blocks = load_block_headers(root / REAL_BLOCKS_FILE)
    samples["base_fee_change"] = _base_fee_change(blocks)
    samples["gas_used_ratio"] = _gas_used_ratio(blocks)
    sources["base_fee_change"] = sources["gas_used_ratio"] = REAL_BLOCKS_FILE

    txs = _read_arb_txs(root / REAL_ARB_TXS_FILE)
    fees = _fee_samples(
        _column(txs, "priority_fees"), _column(txs, "cb_transfer"), _column(txs, "base_fees")
    )
    eth_usd = _implied_eth_usd(txs)
    if eth_usd is not None and "volume" in txs.columns:
        fees["bribe_over_volume"] = _bribe_over_volume_bps(
            _column(txs, "mev_value"), np.full(txs.height, eth_usd), _column(txs, "volume")
        )
    if "from_addr" in txs.columns:
        label = pl.col("mev_bot_label").fill_null("").str.strip_chars()
        sender = txs.select(
            pl.when(label != "").then(label).otherwise(pl.col("from_addr")).alias("bot")
        )["bot"]
        samples["bot_sender_tx_share"] = _tx_shares(sender, txs.height)
        sources["bot_sender_tx_share"] = f"{REAL_ARB_TXS_FILE} (mev_bot_label, else from_addr)"
    numbers = txs["block_number"].to_numpy()
    per_block = np.bincount(numbers - numbers.min()).astype(np.float64)
    samples.update(
        fees,
        arbs_per_block=per_block,
        bot_tx_share=_tx_shares(txs["mev_bot_label"], txs.height),
        bot_contract_tx_share=_tx_shares(txs["to_addr"], txs.height),
    )
    for key in (*fees, "arbs_per_block", "bot_tx_share", "bot_contract_tx_share"):
        sources[key] = REAL_ARB_TXS_FILE
    if "bribe_over_volume" in fees:
        sources["bribe_over_volume"] = (
            f"{REAL_ARB_TXS_FILE}: mev_value x {eth_usd:.1f} USD/ETH (median implied by "
            "single-trade (W)ETH-USDC/USDT rows) / volume"
        )
    return samples, sources


def real_calibration_samples(data_dir: Path) -> dict[str, np.ndarray]:
    """Return the real-data samples behind :func:`real_calibration_stats`.

    Parameters
    ----------
    data_dir
        The real-data folder (``../shared/data/real``) holding
        :data:`REAL_RESERVES_DIR`, ``gas_eth_mainnet_basefee_blocks`` and
        ``cexdex_arb_txs_20230808``.

    Returns
    -------
    dict[str, np.ndarray]
        Float64 arrays keyed by :data:`SAMPLE_KEYS` plus ``gap_bps[A-B]`` for the four
        pairs; ``gap_bps_every_block`` and ``priority_fee_gwei`` are empty (not
        measurable from these files). See :func:`real_calibration_stats` for details.

    Raises
    ------
    DataError
        If a file is missing or malformed.
    """
    return dict(_real_samples(data_dir)[0])


def real_calibration_stats(data_dir: Path) -> CalibrationStats:
    """Compute the calibration statistics of the real datasets.

    - Gap: for each of :data:`REAL_PAIRS`, ``|p_uni / p_sushi - 1| * 1e4`` at every
      common snapshot (:func:`~arbkit.market.data.load_univ2_sushi_pair`), ``p`` the
      price of token0 in token1; pooled (``gap_bps``) and per pair. Snapshots are
      ~3.7 h apart (:data:`REAL_SNAPSHOT_INTERVAL_S`).
    - Base fee and gas use: from the 1,000 consecutive blocks of
      :data:`REAL_BLOCKS_FILE` (2026 regime, base fee ~0.05 gwei).
    - Tips and bribes: from :data:`REAL_ARB_TXS_FILE`, whose PROVENANCE.md gives
      ``base_fees`` (ETH burnt by the transaction = gas used x base fee per gas),
      ``priority_fees`` (ETH = gas used x priority fee per gas), ``cb_transfer`` (ETH)
      and ``mev_value = priority_fees + cb_transfer`` (it holds exactly in every row).
      ``bribe_eth`` is therefore ``mev_value``, and its share of ``mev_value`` is 1 by
      construction, so that ratio is not reported; ``cb_share_of_bribe`` is.
      Gas used is not in the file and the block's base fee per gas is not either, so
      the priority fee per gas in gwei cannot be derived (``priority_fee_gwei`` is
      empty). Gas cancels in ``priority_fees / base_fees``, which is exactly the priority
      fee per gas over the base fee per gas: ``tip_over_base_fee``, assumption-free.
      Multiplied by the base fee per gas of blocks 17,866,488-17,873,622 (not in these
      files) it gives the tip in gwei.
    - Competition: ``arbs_per_block`` counts transactions in every block from the
      first to the last block of the sample (zeros included); ``bot_tx_share`` is each
      labelled bot's share of *all* transactions (unlabelled rows, 22%, are in no bot,
      so ``n`` counts labelled bots, ``max`` is the top bot's share and ``hhi`` a lower
      bound), ``bot_contract_tx_share`` the same per ``to_addr`` (covers every row).

    Parameters
    ----------
    data_dir
        The real-data folder (``../shared/data/real``).

    Returns
    -------
    CalibrationStats
        One row per (quantity, stat); ``source`` names the file(s) relative to
        ``data_dir``.

    Raises
    ------
    DataError
        If a file is missing or malformed.
    """
    return _stats_from_samples(*_real_samples(data_dir))


# ----------------------------------------------------------------------------- simulated


def _gap_stride(history: MarketHistory, gap_stride_blocks: int | None) -> int:
    if gap_stride_blocks is not None:
        if gap_stride_blocks < 1:
            raise ValueError(f"gap_stride_blocks must be >= 1, got {gap_stride_blocks}")
        return gap_stride_blocks
    dt = np.diff(history.blocks.sort("block")["timestamp"].to_numpy())
    dt = dt[dt > 0]
    block_time = float(np.median(dt)) if dt.size else 12.0
    return max(1, round(REAL_SNAPSHOT_INTERVAL_S / block_time))


def _history_samples(
    history: MarketHistory,
    token_decimals: Mapping[str, int],
    fee_bps: int,
    gap_stride_blocks: int | None,
    arb_gas_used: int | None,
    era_base_fee_eth: float | None,
) -> tuple[dict[str, FloatArray], dict[str, str]]:
    arb_gas_used = _arb_gas(history, arb_gas_used)
    if era_base_fee_eth is not None and not era_base_fee_eth >= 0:
        raise ValueError(f"era_base_fee_eth must be >= 0, got {era_base_fee_eth}")
    samples = _new_samples()
    sources: dict[str, str] = {}
    if history.n_blocks == 0:
        return samples, sources
    first, last = int(history.block_numbers[0]), int(history.block_numbers[-1])
    where = f"sim blocks {first}..{last}"
    stride = _gap_stride(history, gap_stride_blocks)

    # Cross-venue gaps: pools of one token pair on different venues, both at fee_bps.
    pools = history.pools
    groups: dict[tuple[str, str], list[int]] = {}
    for i, pool in enumerate(pools):
        if pool.fee_bps == fee_bps:
            lo, hi = sorted((pool.token0, pool.token1))
            groups.setdefault((lo, hi), []).append(i)
    r0, r1 = history.reserves_float()
    every: list[FloatArray] = []
    strided: list[FloatArray] = []
    positions = np.arange(0, history.n_blocks, stride)
    for tokens, members in sorted(groups.items()):
        members.sort(key=lambda i: (pools[i].venue, pools[i].pool))
        unknown = sorted({t for t in tokens if t not in token_decimals})
        if unknown and len({pools[i].venue for i in members}) > 1:
            raise ValueError(f"token_decimals has no entry for {', '.join(unknown)}")
        pair_every: list[FloatArray] = []
        pair_strided: list[FloatArray] = []
        for ia, ib in combinations(members, 2):
            a, b = pools[ia], pools[ib]
            if a.venue == b.venue:
                continue
            d0, d1 = token_decimals[a.token0], token_decimals[a.token1]
            p_a = _prices(r0[:, ia], r1[:, ia], d0, d1)
            if b.token0 == a.token0:
                p_b = _prices(r0[:, ib], r1[:, ib], d0, d1)
            else:  # reversed token order: invert to price a.token0 in a.token1
                p_b = 1.0 / _prices(r0[:, ib], r1[:, ib], d1, d0)
            pair_every.append(_gap_bps(p_a, p_b))
            pair_strided.append(_gap_bps(p_a[positions], p_b[positions]))
        if pair_every:
            key = _pair_key(*tokens)
            samples[key] = np.concatenate(pair_strided)
            sources[key] = f"{where}: pool_states, every {stride} blocks"
            every.extend(pair_every)
            strided.extend(pair_strided)
    if every:
        samples["gap_bps"] = np.concatenate(strided)
        samples["gap_bps_every_block"] = np.concatenate(every)
        sources["gap_bps"] = f"{where}: pool_states, every {stride} blocks"
        sources["gap_bps_every_block"] = f"{where}: pool_states"

    blocks = history.blocks
    samples["base_fee_change"] = _base_fee_change(blocks)
    samples["gas_used_ratio"] = _gas_used_ratio(blocks)
    sources["base_fee_change"] = f"{where}: blocks.base_fee_wei"
    sources["gas_used_ratio"] = f"{where}: blocks.gas_used, gas_limit"

    # Competitors' bids, one observation per block, priced as one arbitrage of arb_gas_used.
    base_fee = _column(blocks, "base_fee_wei")
    tip = _column(blocks, "competitor_tip_wei") if "competitor_tip_wei" in blocks.columns else None
    cb = (
        _column(blocks, "competitor_bribe_wei")
        if "competitor_bribe_wei" in blocks.columns
        else None
    )
    fees = _fee_samples(
        None if tip is None else tip * arb_gas_used / _WEI_PER_ETH,
        None if cb is None else cb / _WEI_PER_ETH,
        base_fee * arb_gas_used / _WEI_PER_ETH,
    )
    if tip is not None:
        fees["priority_fee_gwei"] = _finite(tip / _WEI_PER_GWEI)
    samples.update(fees)
    tip_gas = f"competitor_tip_wei x {arb_gas_used} gas"
    fee_sources = {
        "priority_fee_gwei": "competitor_tip_wei",
        "tip_over_base_fee": "competitor_tip_wei / base_fee_wei",
        "priority_fee_eth": tip_gas,
        "cb_transfer_eth": "competitor_bribe_wei",
        "bribe_eth": f"{tip_gas} + competitor_bribe_wei",
        "cb_share_of_bribe": f"competitor_bribe_wei / ({tip_gas} + competitor_bribe_wei)",
    }
    if "bribe_share_of_total_fee" in fees:
        fee_sources["bribe_share_of_total_fee"] = (
            f"{fee_sources['bribe_eth']} over itself + base_fee_wei x {arb_gas_used} gas"
        )
        if era_base_fee_eth is not None:
            bribe = fees["bribe_eth"]
            fees["bribe_share_of_total_fee_2023_base_fee"] = _share_of_total(
                bribe, np.full(bribe.size, era_base_fee_eth)
            )
            fee_sources["bribe_share_of_total_fee_2023_base_fee"] = (
                f"{fee_sources['bribe_eth']} over itself + {era_base_fee_eth:.6g} ETH"
            )
    samples.update(fees)
    for key in fees:
        sources[key] = f"{where}: blocks.{fee_sources[key]} (per block)"

    # The rival's arbitrages: blocks with rival swaps, their USD volume and the block's bot.
    rival = history.swaps.filter(pl.col("kind") == "rival")
    if rival.height:
        volume = _rival_volume_usd(history, rival)
        in_rival = volume > 0
        if "bribe_eth" in fees:
            bribe_all = np.zeros(history.n_blocks)
            if tip is not None:
                bribe_all += np.nan_to_num(tip) * arb_gas_used / _WEI_PER_ETH
            if cb is not None:
                bribe_all += np.nan_to_num(cb) / _WEI_PER_ETH
            samples["bribe_over_volume"] = _bribe_over_volume_bps(
                bribe_all[in_rival], history.cex_mid("ETH/USDC")[in_rival], volume[in_rival]
            )
            sources["bribe_over_volume"] = (
                f"{where}: ({fee_sources['bribe_eth']}) x ETH/USDC mid / USD value of the "
                "block's rival swap inputs (blocks with rival swaps)"
            )
        if "competitor_bot" in blocks.columns:
            bots = blocks["competitor_bot"].filter(pl.Series(in_rival)).cast(pl.String)
            shares = _tx_shares(bots, bots.len())
            samples["bot_tx_share"] = samples["bot_sender_tx_share"] = shares
            sources["bot_tx_share"] = sources["bot_sender_tx_share"] = (
                f"{where}: blocks.competitor_bot (blocks with rival swaps)"
            )
    return samples, sources


def _arb_gas(history: MarketHistory, arb_gas_used: int | None) -> int:
    # The gas of one arbitrage: given, else the simulator's gas_per_arb, else the default.
    if arb_gas_used is None:
        params = history.meta.get("params")
        gas = params.get("gas_per_arb") if isinstance(params, Mapping) else None
        arb_gas_used = int(gas) if isinstance(gas, int | float) else DEFAULT_ARB_GAS_USED
    if arb_gas_used < 0:
        raise ValueError(f"arb_gas_used must be >= 0, got {arb_gas_used}")
    return arb_gas_used


def _rival_volume_usd(history: MarketHistory, rival: pl.DataFrame) -> FloatArray:
    # USD value of the tokens the rival swaps sold, summed per block (0 where none).
    # USDC is the numeraire (1 USD), WETH is priced at the ETH/USDC mid and USDT at
    # ETH/USDC / ETH/USDT; swaps of other tokens are left out.
    eth = history.cex_mid("ETH/USDC")
    usd = {"USDC": np.ones(history.n_blocks), "WETH": eth, "ETH": eth}
    usd["USDT"] = eth / history.cex_mid("ETH/USDT")
    tokens = {p.pool: (p.token0, p.token1) for p in history.pools}
    pos = rival["block"].to_numpy() - int(history.block_numbers[0])
    amount = rival["amount_in"].cast(pl.Float64).to_numpy()
    out = np.zeros(history.n_blocks)
    for i, (pool, sells0) in enumerate(
        zip(rival["pool"].to_list(), rival["sells_token0"].to_list(), strict=True)
    ):
        token = tokens[pool][0 if sells0 else 1]
        if token in usd and token in TOKEN_DECIMALS:
            value = amount[i] / 10 ** TOKEN_DECIMALS[token] * usd[token][pos[i]]
            if np.isfinite(value):
                out[pos[i]] += value
    return out


def history_calibration_samples(
    history: MarketHistory,
    *,
    token_decimals: Mapping[str, int] = TOKEN_DECIMALS,
    fee_bps: int = 30,
    gap_stride_blocks: int | None = None,
    arb_gas_used: int | None = None,
    era_base_fee_eth: float | None = REAL_ARB_BASE_FEE_ETH_MEDIAN,
) -> dict[str, np.ndarray]:
    """Return the samples of a simulated history behind :func:`history_calibration_stats`.

    Parameters
    ----------
    history
        The simulated history.
    token_decimals, fee_bps, gap_stride_blocks, arb_gas_used, era_base_fee_eth
        See :func:`history_calibration_stats`.

    Returns
    -------
    dict[str, np.ndarray]
        Float64 arrays keyed by :data:`SAMPLE_KEYS` plus ``gap_bps[A-B]`` per pair with
        a gap series; the real-only keys (``arbs_per_block``, ``bot_contract_tx_share``)
        and the keys of missing columns or tables are empty.

    Raises
    ------
    ValueError
        If a gap pool's token has no decimals, or an argument is out of range.
    """
    return dict(
        _history_samples(
            history, token_decimals, fee_bps, gap_stride_blocks, arb_gas_used, era_base_fee_eth
        )[0]
    )


def history_calibration_stats(
    history: MarketHistory,
    *,
    token_decimals: Mapping[str, int] = TOKEN_DECIMALS,
    fee_bps: int = 30,
    gap_stride_blocks: int | None = None,
    arb_gas_used: int | None = None,
    era_base_fee_eth: float | None = REAL_ARB_BASE_FEE_ETH_MEDIAN,
) -> CalibrationStats:
    """Compute the calibration statistics of a simulated history, as for the real data.

    - Gap: every two pools of the same token pair (either token order) on different
      venues, both with ``fee_bps``, give one series ``|p_a / p_b - 1| * 1e4`` per block,
      ``p`` the price of pool ``a``'s token0 in whole units of its token1, ``(a, b)``
      ordered by ``(venue, pool)``. (Decimals cancel in the ratio; they make ``p`` a
      whole-unit price.) ``gap_bps`` and ``gap_bps[A-B]`` sample every
      ``gap_stride_blocks``-th block from the first, like the real snapshots;
      ``gap_bps_every_block`` every block.
    - Base fee and gas use from ``blocks``.
    - Competitors, per block and only for the columns present: ``competitor_tip_wei``
      gives ``priority_fee_gwei`` and ``tip_over_base_fee`` (tip / ``base_fee_wei``);
      ``competitor_bribe_wei`` gives ``cb_transfer_eth``; priced at ``arb_gas_used``
      gas per arbitrage, the tip gives ``priority_fee_eth`` and with the bribe
      ``bribe_eth`` and ``cb_share_of_bribe``, comparable to the real per-transaction
      ETH amounts; with the base fee times ``arb_gas_used``, ``bribe_share_of_total_fee``
      and, with ``era_base_fee_eth`` instead, ``bribe_share_of_total_fee_2023_base_fee``.
    - Rival arbitrages, in the blocks with ``kind == "rival"`` swaps: ``bribe_over_volume``
      (the block's bribe at its ETH/USDC mid over the USD value of the rival swaps'
      inputs: USDC = 1 USD, WETH at ETH/USDC, USDT at ETH/USDC / ETH/USDT) and, from
      ``competitor_bot``, ``bot_tx_share`` and ``bot_sender_tx_share`` (the share of
      those blocks won by each bot).

    Parameters
    ----------
    history
        The simulated history.
    token_decimals
        Decimals by token symbol of the pools in gap series.
    fee_bps
        Only pools with this fee enter gap series (30: the real pools' fee).
    gap_stride_blocks
        Stride of the snapshot-cadence gap sample. ``None`` (default): the real
        snapshot interval :data:`REAL_SNAPSHOT_INTERVAL_S` divided by the history's
        median block time (12 s gives 1,115 blocks).
    arb_gas_used
        Gas of one arbitrage, to turn per-gas bids into ETH per arbitrage. ``None``
        (default): the simulator's ``gas_per_arb`` from ``history.meta["params"]`` (the
        gas the rival bids were calibrated with), else :data:`DEFAULT_ARB_GAS_USED`.
    era_base_fee_eth
        Base fee paid per arbitrage (ETH) for ``bribe_share_of_total_fee_2023_base_fee``;
        ``None`` leaves that quantity out.

    Returns
    -------
    CalibrationStats
        One row per (quantity, stat); ``source`` names the history columns.

    Raises
    ------
    ValueError
        If a gap pool's token has no decimals, or an argument is out of range.
    """
    return _stats_from_samples(
        *_history_samples(
            history, token_decimals, fee_bps, gap_stride_blocks, arb_gas_used, era_base_fee_eth
        )
    )


# ----------------------------------------------------------------------------- comparison


def _order(quantity: str, stat: str) -> tuple[int, str, int]:
    base = _base_key(quantity)
    q_rank = SAMPLE_KEYS.index(base) if base in SAMPLE_KEYS else len(SAMPLE_KEYS)
    stats = _SPECS[base].stats if base in _SPECS else ()
    s_rank = stats.index(stat) if stat in stats else len(stats)
    return q_rank, quantity, s_rank


def compare_calibration(sim: CalibrationStats, real: CalibrationStats) -> pl.DataFrame:
    """Put simulated and real statistics side by side.

    Parameters
    ----------
    sim, real
        Statistics of a simulated history and of the real data.

    Returns
    -------
    pl.DataFrame
        Columns ``quantity, stat, unit, sim, real, ratio`` (``ratio = sim / real``), one
        row per (quantity, stat) of either side (full outer join; the missing side is
        null, and so is ``ratio`` then or when ``real`` is 0), ordered by quantity as in
        :data:`SAMPLE_KEYS`, per-pair gaps after the pooled gap.
    """
    s = sim.table.select("quantity", "stat", pl.col("value").alias("sim"), "unit")
    r = real.table.select(
        "quantity", "stat", pl.col("value").alias("real"), pl.col("unit").alias("unit_real")
    )
    joined = r.join(s, on=["quantity", "stat"], how="full", coalesce=True).with_columns(
        pl.coalesce("unit_real", "unit").alias("unit"),
        pl.when(pl.col("real").is_not_null() & (pl.col("real") != 0))
        .then(pl.col("sim") / pl.col("real"))
        .otherwise(None)
        .alias("ratio"),
    )
    keys = [_order(q, st) for q, st in joined.select("quantity", "stat").iter_rows()]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return joined[order].select("quantity", "stat", "unit", "sim", "real", "ratio")


# ----------------------------------------------------------------------------- report


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4g}"


_SERIES_STYLE = {"real": "black", "sim": "tab:blue", "sim every block": "tab:orange"}


def _ecdf(ax: Axes, x: FloatArray, label: str, *, log: bool) -> None:
    color = _SERIES_STYLE[label]
    xs = np.sort(x)
    ys = np.arange(1, xs.size + 1) / xs.size
    if log:
        zeros = float(np.mean(xs <= 0))
        keep = xs > 0
        xs, ys = xs[keep], ys[keep]
        if zeros > 0:
            label = f"{label} ({zeros:.1%} zero)"
    if xs.size:
        ax.step(xs, ys, where="post", label=f"{label}, n={x.size}", color=color)
    else:  # nothing positive to draw on a log axis: keep the legend entry
        ax.plot([], [], label=f"{label}, n={x.size}", color=color)


def _panel(
    ax: Axes,
    series: Mapping[str, FloatArray],
    title: str,
    xlabel: str,
    *,
    log: bool,
    hist: bool = False,
    vline: float | None = None,
) -> None:
    present = {k: v for k, v in series.items() if v.size}
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    if not present:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        return
    if hist:
        lo = min(float(v.min()) for v in present.values())
        hi = max(float(v.max()) for v in present.values())
        bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 51).tolist()
        for name, v in present.items():
            ax.hist(
                v,
                bins=bins,
                density=True,
                histtype="step",
                label=f"{name}, n={v.size}",
                color=_SERIES_STYLE[name],
            )
        ax.set_ylabel("density")
    else:
        for name, v in present.items():
            _ecdf(ax, v, name, log=log)
        if log:
            ax.set_xscale("log")
        ax.set_ylabel("ECDF")
        ax.set_ylim(0, 1.02)
    if vline is not None:
        ax.axvline(vline, color="grey", linestyle="--", linewidth=0.8)
    ax.legend(fontsize=7)


def _write_plots(
    out: Path, sim: Mapping[str, FloatArray], real: Mapping[str, FloatArray]
) -> list[tuple[str, str]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def get(samples: Mapping[str, FloatArray], key: str) -> FloatArray:
        return np.asarray(samples.get(key, _EMPTY), dtype=np.float64)

    def pair(key: str) -> dict[str, FloatArray]:
        return {"real": get(real, key), "sim": get(sim, key)}

    def save(fig: Figure, name: str) -> None:
        FigureCanvasAgg(fig)  # the Agg canvas, local to this figure: no global backend
        fig.tight_layout()
        with open_atomic(out / name) as fh:
            fig.savefig(fh, format="png", dpi=110)

    written: list[tuple[str, str]] = []

    fig = Figure(figsize=(7, 4.5))
    gaps = {**pair("gap_bps"), "sim every block": get(sim, "gap_bps_every_block")}
    _panel(
        fig.add_subplot(),
        gaps,
        "Cross-venue gap, equal 30 bp fees (dashed: 60 bp band)",
        "|p_a / p_b - 1| (bps)",
        log=True,
        vline=NO_ARB_BAND_BPS,
    )
    save(fig, "gap_bps.png")
    written.append(("gap_bps.png", "Cross-venue price gap (ECDF, log x)"))

    fig = Figure(figsize=(11, 4.5))
    _panel(
        fig.add_subplot(1, 2, 1),
        pair("base_fee_change"),
        "Base-fee change per block",
        "base_fee[t+1] / base_fee[t] - 1",
        log=False,
        hist=True,
    )
    _panel(
        fig.add_subplot(1, 2, 2),
        pair("gas_used_ratio"),
        "Block gas used / gas limit",
        "gas_used / gas_limit",
        log=False,
        hist=True,
    )
    save(fig, "base_fee.png")
    written.append(("base_fee.png", "Base-fee change and gas use (histograms)"))

    fig = Figure(figsize=(11, 8))
    panels = (
        ("priority_fee_gwei", "Priority fee per gas", "gwei"),
        ("tip_over_base_fee", "Priority fee / base fee (per gas)", "ratio"),
        ("cb_transfer_eth", "Coinbase transfer per arbitrage", "ETH"),
        ("bribe_eth", "Priority fee + coinbase transfer per arbitrage", "ETH"),
    )
    for i, (key, title, unit) in enumerate(panels, start=1):
        _panel(fig.add_subplot(2, 2, i), pair(key), title, f"{unit} (log)", log=True)
    save(fig, "tips_bribes.png")
    written.append(("tips_bribes.png", "Tips and bribes (ECDF, log x; zeros counted)"))
    return written


def _markdown(
    table: pl.DataFrame,
    sim: CalibrationStats,
    real: CalibrationStats,
    plots: list[tuple[str, str]],
) -> str:
    lines = [
        "# Calibration: simulated history vs real data",
        "",
        "Each row is one statistic of one quantity, computed by the same code from the "
        "simulated history (`sim`) and from the real datasets (`real`); `sim/real` near 1 "
        "means the simulator matches on that statistic, `-` means that side cannot measure "
        "it. The real data come from different eras (gaps 2020-22, base fee 2026-01, "
        "arbitrage fees 2023-08-08) and real tips/bribes are per included arbitrage while "
        "simulated ones are per block, so match shapes and dimensionless ratios "
        "(`gap_bps`, `base_fee_change`, `tip_over_base_fee`, `cb_share_of_bribe`) before "
        "absolute levels.",
        "",
        "Rival bids: the simulator draws each block's total rival payment (priority fee per "
        "gas x the simulated `gas_per_arb` + coinbase transfer) from the real 2023 "
        "`mev_value` distribution in ETH, so `bribe_eth` and `cb_share_of_bribe` compare "
        "like with like. Rows that divide a bid by the simulated base fee "
        "(`tip_over_base_fee`, `bribe_share_of_total_fee`) set a 2023-level bid against a "
        "2026-era base fee about 100x lower than 2023's, so they differ by construction; "
        "`bribe_share_of_total_fee_2023_base_fee` (sim only) divides by the real sample's "
        "median base fee paid per arbitrage in ETH instead (the 2023 base fee per gas "
        "cannot be derived: the sample has no gas used). `bribe_over_volume` prices the "
        "simulated bid at the simulated ETH/USD (about 3,000) and the real one at the "
        "sample's implied 1,851.5, so equal ETH bids on equal USD volumes differ by that "
        "price ratio. The real `bot_tx_share` counts labelled bots only (its `hhi` is a "
        "lower bound); `bot_sender_tx_share` groups every transaction (label, else sender) "
        "and is what the simulated `competitor_bot` shares are calibrated to.",
        "",
        "| quantity | stat | unit | sim | real | sim/real |",
        "|---|---|---|---:|---:|---:|",
    ]
    for q, st, unit, s, r, ratio in table.iter_rows():
        lines.append(f"| {q} | {st} | {unit} | {_fmt(s)} | {_fmt(r)} | {_fmt(ratio)} |")
    lines += ["", "## Sources", "", "| quantity | sim | real |", "|---|---|---|"]
    src_sim = dict(sim.table.select("quantity", "source").unique(maintain_order=True).iter_rows())
    src_real = dict(real.table.select("quantity", "source").unique(maintain_order=True).iter_rows())
    for q in table["quantity"].unique(maintain_order=True).to_list():
        lines.append(f"| {q} | {src_sim.get(q, '-')} | {src_real.get(q, '-')} |")
    if plots:
        lines += ["", "## Plots", ""]
        for name, caption in plots:
            lines += [f"![{caption}]({name})", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_calibration_report(
    sim: CalibrationStats,
    real: CalibrationStats,
    out_dir: Path,
    *,
    sim_samples: Mapping[str, np.ndarray] | None = None,
    real_samples: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write ``calibration.md`` (the comparison table) and, given samples, PNG plots.

    Every file is written to a temporary name in ``out_dir`` and renamed into place.
    Plots use matplotlib's Agg canvas on local figures (no global backend change):
    ``gap_bps.png`` (ECDF, log x, sim at snapshot cadence and every block),
    ``base_fee.png`` (histograms of the base-fee change and of gas used / gas limit)
    and ``tips_bribes.png`` (ECDFs, log x, of priority fee per gas, tip / base fee,
    coinbase transfer and total bribe). Panels without data say so.

    Parameters
    ----------
    sim, real
        Statistics from :func:`history_calibration_stats` and
        :func:`real_calibration_stats`.
    out_dir
        Output folder, created if needed.
    sim_samples, real_samples
        Samples from :func:`history_calibration_samples` and
        :func:`real_calibration_samples`; without either, no plots are written.

    Returns
    -------
    Path
        The path of ``calibration.md``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = compare_calibration(sim, real)
    plots: list[tuple[str, str]] = []
    if sim_samples is not None or real_samples is not None:

        def as_float(samples: Mapping[str, np.ndarray] | None) -> dict[str, FloatArray]:
            return {k: np.asarray(v, dtype=np.float64) for k, v in (samples or {}).items()}

        plots = _write_plots(out, as_float(sim_samples), as_float(real_samples))
    path = out / "calibration.md"
    with open_atomic(path) as fh:
        fh.write(_markdown(table, sim, real, plots).encode())
    return path
