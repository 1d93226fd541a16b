from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from arbkit.errors import DataError
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market


def test_head_is_the_history_up_to_a_block() -> None:
    h = simulate_market(seed=0, n_blocks=60)
    head = h[:25]
    assert head.n_blocks == 25
    assert head.block_numbers.tolist() == h.block_numbers[:25].tolist()
    assert head.pool_states.equals(h.pool_states.filter(pl.col("block") < h.block_numbers[25]))
    r0, _ = h.reserves()
    assert (head.reserves()[0] == r0[:25]).all()
    assert h.slice(10, 20).block_numbers[0] == h.block_numbers[10]


def test_a_history_must_be_dense_and_consecutive() -> None:
    h = simulate_market(seed=0, n_blocks=10)
    with pytest.raises(DataError, match="every pool's state at every block"):
        MarketHistory(h.blocks, h.pool_states.head(50), h.cex_quotes, h.aqua_events)
    gap = h.blocks.with_columns(pl.col("block") * 2)
    with pytest.raises(DataError, match="consecutive"):
        MarketHistory(gap, h.pool_states, h.cex_quotes, h.aqua_events)
    with pytest.raises(DataError, match="'block' column"):
        MarketHistory(h.blocks, h.pool_states, h.cex_quotes.drop("block"), h.aqua_events)


def test_only_contiguous_slices_are_supported() -> None:
    h = simulate_market(seed=0, n_blocks=10)
    with pytest.raises(TypeError):
        h[::2]
    with pytest.raises(DataError, match="empty"):
        h[5:5]


def test_save_never_deletes_what_is_not_a_saved_history(tmp_path: Path) -> None:
    h = simulate_market(seed=0, n_blocks=10)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="refusing to overwrite"):
        h.save(folder)
    assert (folder / "keep.txt").read_text() == "mine"
    afile = tmp_path / "f"
    afile.write_text("x")
    with pytest.raises(DataError, match="not a folder"):
        h.save(afile)
    # a saved history is replaced in place
    dest = h.save(tmp_path / "h")
    h2 = simulate_market(seed=1, n_blocks=10)
    assert MarketHistory.load(h2.save(dest)).meta["seed"] == 1
