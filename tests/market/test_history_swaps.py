"""The swaps a simulated history records: they make its pool states, and they persist."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest

from arbkit.errors import DataError
from arbkit.market.amm import get_amount_out
from arbkit.market.history import MarketHistory, empty_swaps
from arbkit.market.sim import simulate_market


@pytest.fixture(scope="module")
def history() -> MarketHistory:
    return simulate_market(seed=9, n_blocks=400)


def test_recorded_swaps_replayed_in_order_give_every_pool_state(history: MarketHistory) -> None:
    states = history.pool_states.partition_by("block", as_dict=True)
    swaps = history.swaps.partition_by("block", as_dict=True)
    first = states[(int(history.block_numbers[0]),)]
    pools = {r["pool"]: [r["reserve0"], r["reserve1"], r["fee_bps"]] for r in first.to_dicts()}
    kinds: set[str] = set()
    for b in history.block_numbers[1:].tolist():
        block = swaps.get((b,))
        if block is not None:
            assert block["seq"].to_list() == list(range(block.height))
            for s in block.iter_rows(named=True):
                r0, r1, fee = pools[s["pool"]]
                kinds.add(s["kind"])
                if s["sells_token0"]:
                    assert get_amount_out(s["amount_in"], r0, r1, fee) == s["amount_out"]
                    pools[s["pool"]][:2] = [r0 + s["amount_in"], r1 - s["amount_out"]]
                else:
                    assert get_amount_out(s["amount_in"], r1, r0, fee) == s["amount_out"]
                    pools[s["pool"]][:2] = [r0 - s["amount_out"], r1 + s["amount_in"]]
        for r in states[(b,)].to_dicts():
            assert pools[r["pool"]][:2] == [r["reserve0"], r["reserve1"]], (b, r["pool"])
    assert kinds == {"noise", "rival"}


def test_swaps_survive_save_load_and_slicing(history: MarketHistory, tmp_path: Path) -> None:
    back = MarketHistory.load(history.save(tmp_path / "h"))
    assert back.swaps.equals(history.swaps)
    assert back.content_hash() == history.content_hash()
    part = history[100:200]
    lo, hi = int(part.block_numbers[0]), int(part.block_numbers[-1])
    assert part.swaps.equals(history.swaps.filter(pl.col("block").is_between(lo, hi)))


def test_a_history_without_swaps_saves_and_loads_as_before(
    history: MarketHistory, tmp_path: Path
) -> None:
    bare = dataclasses.replace(history, swaps=empty_swaps())
    folder = bare.save(tmp_path / "bare")
    assert not (folder / "swaps.parquet").exists()
    back = MarketHistory.load(folder)
    assert back.swaps.height == 0 and back.content_hash() == bare.content_hash()
    assert bare.content_hash() != history.content_hash()


def test_swaps_of_an_unknown_pool_are_refused(history: MarketHistory) -> None:
    bad = history.swaps.head(1).with_columns(pl.lit("nowhere:A-B").alias("pool"))
    with pytest.raises(DataError, match="nowhere"):
        dataclasses.replace(history, swaps=bad)
