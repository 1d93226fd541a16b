from __future__ import annotations

import itertools
import json

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbkit.market.gas import (
    GasError,
    effective_gas_price,
    fee_paid_wei,
    gas_cost_in_quote,
    next_base_fee,
    next_base_fees,
)


def test_next_base_fee_reproduces_every_mainnet_block(real_data) -> None:
    folder = real_data / "gas_eth_mainnet_basefee_blocks"
    df = pl.read_csv(folder / "blocks_24337593_24338592_jan2026.csv")
    assert df.height == 1_000
    assert (df["number"].diff().drop_nulls() == 1).all()
    base, used, limit = (df[c].to_list() for c in ("base_fee_per_gas", "gas_used", "gas_limit"))
    predicted = [next_base_fee(base[i], used[i], limit[i]) for i in range(df.height - 1)]
    assert predicted == base[1:]
    vectorised = next_base_fees(np.array(base), np.array(used), np.array(limit))
    assert vectorised[:-1].tolist() == base[1:]


def test_next_base_fee_reproduces_the_json_copy_too(real_data) -> None:
    rows = json.loads(
        (
            real_data / "gas_eth_mainnet_basefee_blocks" / "elakiya_blocks_24337593_24338592.json"
        ).read_text()
    )
    for parent, child in itertools.pairwise(rows):
        assert (
            next_base_fee(parent["base_fee_per_gas"], parent["gas_used"], parent["gas_limit"])
            == child["base_fee_per_gas"]
        )


def test_base_fee_changes_stay_within_the_eip1559_bound(real_data) -> None:
    df = pl.read_csv(
        real_data
        / "gas_eth_mainnet_basefee_blocks"
        / "blocks_21527387_21527726_jan2025_basefee_gwei.csv"
    )
    ratio = (df["base_fee_gwei"] / df["base_fee_gwei"].shift(1)).drop_nulls()
    # 6-decimal gwei rounding allows a hair over 12.5 %
    assert ratio.max() <= 1.125 + 1e-5 and ratio.min() >= 0.875 - 1e-5


def test_next_base_fee_rules() -> None:
    assert next_base_fee(100, 15, 30) == 100  # at target
    assert next_base_fee(7, 16, 30) == 8  # above target: at least +1
    assert next_base_fee(10**9, 30_000_000, 30_000_000) == 1_125_000_000  # full block: +12.5 %
    assert next_base_fee(10**9, 0, 30_000_000) == 875_000_000  # empty: -12.5 %


@given(
    base=st.integers(min_value=0, max_value=10**13),
    limit=st.integers(min_value=2, max_value=10**8),
    frac=st.floats(min_value=0, max_value=1),
)
def test_next_base_fee_is_bounded_and_monotone_in_gas_used(
    base: int, limit: int, frac: float
) -> None:
    used = int(frac * limit)
    nxt = next_base_fee(base, used, limit)
    target = limit // 2
    # with an odd limit, gas_used can exceed twice the target by one unit
    assert base - base // 8 <= nxt <= base + max(base * (limit - target) // target // 8, 1)
    if used < limit:
        assert next_base_fee(base, used + 1, limit) >= nxt


def test_gas_inputs_are_validated() -> None:
    with pytest.raises(GasError, match="exceeds"):
        next_base_fee(10, 31, 30)
    with pytest.raises(GasError, match="non-negative"):
        next_base_fee(-1, 10, 30)
    with pytest.raises(GasError, match="integer"):
        next_base_fee(1.5, 10, 30)  # type: ignore[arg-type]
    with pytest.raises(GasError, match="not includable"):
        effective_gas_price(100, 2, max_fee_wei=99)
    with pytest.raises(GasError, match="finite"):
        gas_cost_in_quote(10**15, float("nan"), 6)
    with pytest.raises(GasError, match="positive"):
        gas_cost_in_quote(10**15, -3000.0, 6)


def test_fee_paid_is_gas_used_times_effective_price_and_converts_up() -> None:
    price = effective_gas_price(30 * 10**9, 2 * 10**9, max_fee_wei=31 * 10**9)
    assert price == 31 * 10**9  # capped by max fee
    assert effective_gas_price(30 * 10**9, 2 * 10**9) == 32 * 10**9
    fee = fee_paid_wei(150_000, price)
    assert fee == 150_000 * 31 * 10**9
    # 0.00465 ETH at 3000.5 USDC = 13.952325 USDC exactly
    assert gas_cost_in_quote(fee, 3000.5, 6) == 13_952_325
    assert gas_cost_in_quote(1, 3000.0, 6) == 1  # rounds a cost up


def test_next_base_fees_handles_products_beyond_int64() -> None:
    base = np.array([300 * 10**9, 10**9])
    used = np.array([36_000_000, 0])
    limit = np.array([36_000_000, 36_000_000])
    assert next_base_fees(base, used, limit).tolist() == [
        next_base_fee(300 * 10**9, 36_000_000, 36_000_000),
        next_base_fee(10**9, 0, 36_000_000),
    ]
