from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from arbkit.decider import AICandidate, CandidateBatch, DeciderError


def test_ai_candidate_derives_route_key_hops_and_net() -> None:
    c = AICandidate(
        "WETH/USDC",
        edge_bps=20.0,
        notional_quote=10_000.0,
        gas_cost_quote=3.0,
        flash_fee_quote=1.0,
        slippage_quote=6.0,
        route=["p1", "p2"],  # type: ignore[arg-type]  # lists are accepted
        start_token="USDC",
    )
    assert c.route == ("p1", "p2")
    assert c.route_key == "USDC:p1>p2"
    assert c.n_hops == 2 and c.is_flash
    assert c.net_quote == pytest.approx(10.0)
    assert AICandidate("ETH/USDC", 1.0, 1.0, 0.0).route_key == "ETH/USDC"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"notional_quote": 0.0}, "notional_quote must be > 0"),
        ({"edge_bps": math.nan}, "edge_bps must be finite"),
        ({"gas_cost_quote": -1.0}, "gas_cost_quote must be >= 0"),
        ({"confidence": 1.2}, "confidence must lie in"),
        ({"kind": "sandwich"}, "unknown route kind"),
        ({"amount_in": 0}, "amount_in must be a positive int"),
        ({"liquidity_quote": -5.0}, "liquidity_quote must be a number >= 0"),
        ({"age_blocks": -1}, "age_blocks must be >= 0"),
        ({"edge_bps": "65"}, "edge_bps must be a number"),
    ],
)
def test_ai_candidate_rejects_bad_values_naming_the_field(kwargs, match) -> None:
    base = {"symbol": "ETH/USDC", "edge_bps": 65.0, "notional_quote": 1e4, "gas_cost_quote": 5.0}
    with pytest.raises(DeciderError, match=f"AICandidate 'ETH/USDC': {match}"):
        AICandidate(**{**base, **kwargs})


def test_batch_from_candidates_holds_their_columns() -> None:
    cs = [
        AICandidate("A", 10.0, 100.0, 1.0, liquidity_quote=5e5, age_blocks=2),
        AICandidate("B", 20.0, 200.0, 2.0, kind="cex_dex", eth_price_quote=3_000.0),
    ]
    b = CandidateBatch.from_candidates(cs)
    assert len(b) == 2
    assert b.edge_bps.tolist() == [10.0, 20.0]
    assert b.notional_quote.tolist() == [100.0, 200.0]
    assert b.liquidity_quote[0] == 5e5 and math.isnan(b.liquidity_quote[1])
    assert math.isnan(b.eth_price_quote[0]) and b.eth_price_quote[1] == 3_000.0
    assert b.is_flash.tolist() == [True, False]
    assert b.n_hops.tolist() == [2.0, 1.0]
    assert b.age_blocks.tolist() == [2.0, 0.0]
    assert b.symbols == ["A", "B"]
    assert b.candidate(1) is cs[1]
    assert len(CandidateBatch.from_candidates([])) == 0


def _table() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "block": [7, 7],
            "route": [["a", "b"], ["c"]],
            "kind": ["dex_dex", "cex_dex"],
            "symbol": ["WETH/USDC", "WETH/USDC"],
            "start_token": ["USDC", "WETH"],
            "amount_in": pl.Series([10**9, 10**18], dtype=pl.Int128),
            "edge_bps": [12.0, 8.0],
            "notional_quote": [1_000.0, 3_000.0],
            "gas_cost_quote": [0.4, 0.3],
            "flash_fee_quote": [0.0, 0.0],
            "slippage_quote": [0.5, 1.0],
            "liquidity_quote": [1e6, 2e6],
            "age_blocks": [0, 3],
        }
    )


def test_batch_from_table_matches_the_candidates_it_rebuilds() -> None:
    b = CandidateBatch.from_table(_table(), default_confidence=0.6, eth_price_quote=3_000.0)
    assert b.route_keys == ["USDC:a>b", "WETH:c"]
    assert b.is_flash.tolist() == [True, False]
    c = b.candidate(1)
    assert c.route == ("c",) and c.kind == "cex_dex" and c.amount_in == 10**18
    assert c.confidence == 0.6 and c.eth_price_quote == 3_000.0 and c.age_blocks == 3
    again = CandidateBatch.from_candidates([b.candidate(0), b.candidate(1)])
    np.testing.assert_array_equal(again.values, b.values)


def test_batch_from_table_names_the_bad_row() -> None:
    bad = _table().with_columns(pl.Series("notional_quote", [1_000.0, -1.0]))
    with pytest.raises(DeciderError, match=r"row 1 \('WETH/USDC'\): notional_quote"):
        CandidateBatch.from_table(bad)
    with pytest.raises(DeciderError, match="lacks column"):
        CandidateBatch.from_table(_table().drop("kind"))
