"""The simulator's Aqua flows: allocations, strategy bytes, balances, spread, informed tilts."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from arbkit.aqua.events import (
    Shipped,
    decode_aqua_log,
    encode_aqua_log,
    events_from_history,
    token_address,
)
from arbkit.errors import ConfigError
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market
from arbkit.market.tokens import TOKEN_DECIMALS

N = 10_000
SEED = 11
PARAMS: dict[str, Any] = {"aqua_ship_rate": 0.01}  # ~100 strategies in N blocks
STABLES = {"USDC", "USDT", "DAI"}
STRATEGY_TYPES = ["address", "address", "uint256", "uint256", "uint256"]


@pytest.fixture(scope="module")
def plain() -> MarketHistory:
    return simulate_market(PARAMS, seed=SEED, n_blocks=N)


@pytest.fixture(scope="module")
def informed() -> MarketHistory:
    return simulate_market({**PARAMS, "aqua_informed_share": 1.0}, seed=SEED, n_blocks=N)


def _usd(h: MarketHistory) -> dict[str, np.ndarray]:
    """USD price of each simulated token per block position, from the CEX quotes."""
    eth = h.cex_mid("ETH/USDC")
    return {"USDC": np.ones(h.n_blocks), "USDT": eth / h.cex_mid("ETH/USDT"), "WETH": eth}


def _rows(h: MarketHistory) -> list[dict[str, Any]]:
    return list(h.aqua_events.sort(["block", "log_index"]).iter_rows(named=True))


def _tilt_token(t0: str, t1: str) -> str:
    return t1 if t0 in STABLES and t1 not in STABLES else t0


def _strategies(h: MarketHistory) -> list[dict[str, Any]]:
    """Per Shipped row: its decoded strategy, allocation and the USD tilt they imply."""
    usd, first = _usd(h), int(h.block_numbers[0])
    by_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in _rows(h):
        by_tx[r["tx_hash"]].append(r)
    out = []
    for r in _rows(h):
        if r["event"] != "Shipped":
            continue
        raw = bytes.fromhex(r["strategy"][2:])
        a0, a1, spread, tilt_scaled, nonce = abi_decode(STRATEGY_TYPES, raw)
        tx = by_tx[r["tx_hash"]]
        pushes = [x for x in tx if x["event"] == "Pushed"]
        t = r["block"] - first
        value = {
            x["token"]: x["amount"] / 10 ** TOKEN_DECIMALS[x["token"]] * usd[x["token"]][t]
            for x in pushes
        }
        t0, t1 = (x["token"] for x in pushes)
        tilt_tok = _tilt_token(t0, t1)
        out.append(
            {
                "row": r,
                "tx": tx,
                "raw": raw,
                "addresses": (a0.lower(), a1.lower()),
                "pair": (t0, t1),
                "spread": spread,
                "tilt_bytes": tilt_scaled / 1e6,
                "nonce": nonce,
                "tilt": value[tilt_tok] / sum(value.values()),
                "tilt_token": tilt_tok,
                "other_token": t1 if tilt_tok == t0 else t0,
                "pos": t,
            }
        )
    return out


def test_shipped_rows_carry_their_strategy_and_are_followed_by_the_allocation(
    plain: MarketHistory,
) -> None:
    ev = plain.aqua_events
    assert ev.schema["strategy"] == pl.String()
    assert (
        ev.filter(pl.col("event") != "Shipped")["strategy"].null_count()
        == ev.filter(pl.col("event") != "Shipped").height
    )
    strategies = _strategies(plain)
    assert len(strategies) > 50
    assert len({s["row"]["strategy_hash"] for s in strategies}) == len(strategies)
    for s in strategies:
        r = s["row"]
        assert "0x" + keccak(s["raw"]).hex() == r["strategy_hash"]
        # Shipped, then one Pushed per pair token, in one tx with consecutive log indexes
        assert [x["event"] for x in s["tx"]] == ["Shipped", "Pushed", "Pushed"]
        assert [x["log_index"] for x in s["tx"]] == [r["log_index"] + i for i in range(3)]
        assert all(x["strategy_hash"] == r["strategy_hash"] for x in s["tx"])
        assert all(x["maker"] == r["maker"] for x in s["tx"])
        assert all(x["amount"] > 0 for x in s["tx"][1:])
        assert s["addresses"] == tuple(token_address(t) for t in s["pair"])
        assert s["pair"] in {(p.token0, p.token1) for p in plain.pools}
        assert s["spread"] == 800  # 8 bps in hundredths of a bp
        # the allocation's USD split is the tilt the strategy bytes state
        assert s["tilt"] == pytest.approx(s["tilt_bytes"], abs=1e-5)
        assert 0.1 - 1e-5 <= s["tilt"] <= 0.9 + 1e-5  # uninformed makers only


def test_replayed_balances_stay_non_negative_and_nothing_follows_a_dock(
    plain: MarketHistory,
) -> None:
    balance: dict[tuple[str, str], int] = defaultdict(int)
    shipped_at: dict[str, int] = {}
    docked: set[str] = set()
    ship_txs = {r["tx_hash"] for r in _rows(plain) if r["event"] == "Shipped"}
    n_docked = 0
    for r in _rows(plain):
        h = r["strategy_hash"]
        assert h not in docked, "an event after the strategy's Docked"
        if r["event"] == "Shipped":
            assert h not in shipped_at
            shipped_at[h] = r["block"]
            continue
        assert h in shipped_at, "an event before the strategy's Shipped"
        if r["event"] == "Docked":
            assert r["token"] is None and r["amount"] is None
            docked.add(h)
            n_docked += 1
            continue
        if r["tx_hash"] not in ship_txs:  # a trade: strictly after the ship block
            assert r["block"] > shipped_at[h]
        sign = 1 if r["event"] == "Pushed" else -1
        balance[(h, r["token"])] += sign * r["amount"]
        assert balance[(h, r["token"])] >= 0, f"negative balance: {r}"
    assert n_docked > 10


def test_trades_are_push_then_pull_at_the_makers_spread(plain: MarketHistory) -> None:
    usd, first = _usd(plain), int(plain.block_numbers[0])
    ship_txs = set(plain.aqua_events.filter(pl.col("event") == "Shipped")["tx_hash"])
    pair_of = {s["row"]["strategy_hash"]: set(s["pair"]) for s in _strategies(plain)}
    by_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in _rows(plain):
        if r["event"] in ("Pushed", "Pulled") and r["tx_hash"] not in ship_txs:
            by_tx[r["tx_hash"]].append(r)
    assert len(by_tx) > 500
    gains = []
    for rows in by_tx.values():
        push, pull = rows
        assert (push["event"], pull["event"]) == ("Pushed", "Pulled")
        assert pull["log_index"] == push["log_index"] + 1
        assert push["block"] == pull["block"]
        assert push["strategy_hash"] == pull["strategy_hash"]
        assert {push["token"], pull["token"]} == pair_of[push["strategy_hash"]]
        t = push["block"] - first
        v_in = push["amount"] / 10 ** TOKEN_DECIMALS[push["token"]] * usd[push["token"]][t]
        v_out = pull["amount"] / 10 ** TOKEN_DECIMALS[pull["token"]] * usd[pull["token"]][t]
        gains.append((v_in - v_out) / v_in * 1e4)
    g = np.asarray(gains)
    assert np.all(np.abs(g - 8.0) < 0.05)  # the spread, to integer rounding
    assert np.median(g) == pytest.approx(8.0, abs=1e-3)


def test_the_same_seed_gives_the_same_events_and_the_tilt_touches_nothing_else(
    plain: MarketHistory, informed: MarketHistory
) -> None:
    again = simulate_market(PARAMS, seed=SEED, n_blocks=N)
    assert again.aqua_events.equals(plain.aqua_events)
    assert again.content_hash() == plain.content_hash()
    for name in ("blocks", "pool_states", "cex_quotes", "swaps"):
        assert getattr(informed, name).equals(getattr(plain, name)), name
    # the informed coin and both tilt uniforms are always drawn: same ships either way
    cols = ["block", "tx_hash", "log_index", "maker"]
    ships = [
        h.aqua_events.filter(pl.col("event") == "Shipped").select(cols) for h in (plain, informed)
    ]
    assert ships[0].equals(ships[1])
    assert not plain.aqua_events.equals(informed.aqua_events)
    other = simulate_market(PARAMS, seed=SEED + 1, n_blocks=N)
    assert not other.aqua_events.equals(plain.aqua_events)


def _sign_agreement(h: MarketHistory, horizon: int = 300) -> tuple[float, list[float]]:
    usd = _usd(h)
    hits, tilts = [], []
    for s in _strategies(h):
        t = s["pos"]
        if t + horizon >= h.n_blocks:
            continue
        a, b = usd[s["tilt_token"]], usd[s["other_token"]]
        r = (a[t + horizon] / b[t + horizon]) / (a[t] / b[t]) - 1
        if r == 0:
            continue
        hits.append((s["tilt"] > 0.5) == (r > 0))
        tilts.append(s["tilt"])
    assert len(hits) > 50
    return float(np.mean(hits)), tilts


def test_informed_makers_tilt_towards_the_future_winner(
    plain: MarketHistory, informed: MarketHistory
) -> None:
    agree, tilts = _sign_agreement(informed)
    assert agree >= 0.98
    assert all(0.1 - 1e-5 <= w <= 0.3 + 1e-5 or 0.7 - 1e-5 <= w <= 0.9 + 1e-5 for w in tilts)
    agree_plain, _ = _sign_agreement(plain)
    assert 0.3 <= agree_plain <= 0.7


def test_the_strategy_column_survives_save_load_and_slicing(
    plain: MarketHistory, tmp_path: Path
) -> None:
    back = MarketHistory.load(plain.save(tmp_path / "h"))
    assert back.aqua_events.equals(plain.aqua_events)
    assert back.content_hash() == plain.content_hash()
    part = plain[: N // 2]
    assert part.aqua_events.schema == plain.aqua_events.schema
    assert part.aqua_events.equals(
        plain.aqua_events.filter(pl.col("block") <= int(plain.block_numbers[N // 2 - 1]))
    )
    none = simulate_market({"aqua_makers": 0}, seed=SEED, n_blocks=50).aqua_events
    assert none.height == 0 and none.schema["strategy"] == pl.String()


def test_rows_decode_to_aqua_logs_and_back(plain: MarketHistory) -> None:
    events = events_from_history(plain.aqua_events)
    assert len(events) == plain.aqua_events.height
    assert sum(isinstance(e, Shipped) for e in events) > 50
    for e in events[:300]:
        assert decode_aqua_log(encode_aqua_log(e), addresses=None) == e


def test_bad_informed_params_are_refused() -> None:
    with pytest.raises(ConfigError, match="aqua_informed_share"):
        simulate_market({"aqua_informed_share": 1.5}, n_blocks=10)
    with pytest.raises(ConfigError, match="aqua_info_horizon_blocks"):
        simulate_market({"aqua_info_horizon_blocks": 0}, n_blocks=10)


def test_informedness_belongs_to_the_maker() -> None:
    """With a share of 0.5, each maker is right (nearly) always or about half the time."""
    h = simulate_market({**PARAMS, "aqua_informed_share": 0.5}, seed=SEED, n_blocks=N)
    usd = _usd(h)
    by_maker: dict[str, list[bool]] = {}
    rows = h.aqua_events.filter(pl.col("event") == "Shipped")["maker"].to_list()
    for maker, s in zip(rows, _strategies(h), strict=True):
        t = s["pos"]
        if t + 300 >= h.n_blocks:
            continue
        a, b = usd[s["tilt_token"]], usd[s["other_token"]]
        r = (a[t + 300] / b[t + 300]) / (a[t] / b[t]) - 1
        if r != 0:
            by_maker.setdefault(maker, []).append((s["tilt"] > 0.5) == (r > 0))
    rates = [float(np.mean(v)) for v in by_maker.values() if len(v) >= 8]
    assert len(rates) >= 4
    assert any(r >= 0.98 for r in rates) and any(r <= 0.8 for r in rates)
    assert all(r >= 0.98 or r <= 0.85 for r in rates)
