from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbkit.decider.sizing import (
    BINDING_NAMES,
    REJECT_REASONS,
    amm_net_profit,
    size_one,
    size_trades,
)

CAPS = {
    "portfolio_quote": 300_000.0,
    "kelly_fraction": 0.25,
    "max_flash_borrow_quote": 300_000.0,
    "leverage": 3.0,
    "max_position_fraction": 0.2,
    "min_profit_quote": 0.0,
}


def _size(p, notional, edge, gas, flash, slip, revert, flash_loan=True, **caps):
    kw = {**CAPS, **caps}
    return size_trades(
        np.array([p]),
        np.array([notional]),
        np.array([edge]),
        np.array([gas]),
        np.array([flash]),
        np.array([slip]),
        np.array([revert]),
        np.array([flash_loan]),
        **kw,
    )


def test_kelly_golden_example_is_capped_by_the_amm_size() -> None:
    # 10k notional at 60 bps: gross 60, slippage 20, flash 5 -> net 35 - gas 10 = 25
    s = _size(0.8, 10_000.0, 60.0, 10.0, 5.0, 20.0, 10.0)
    # f* = S (p / G - q / N) = 10_000 * (0.8 / 10 - 0.2 / 25) = 720 (x portfolio!)
    assert s.kelly_full[0] == pytest.approx(720.0)
    assert s.size_quote[0] == pytest.approx(10_000.0)
    assert BINDING_NAMES[s.binding[0]] == "amm"
    assert s.net_quote[0] == pytest.approx(25.0)
    assert s.ev_quote[0] == pytest.approx(0.8 * 25 - 0.2 * 10)


def test_a_small_portfolio_makes_kelly_bind_and_shrinks_the_net() -> None:
    s = _size(
        0.8,
        10_000.0,
        60.0,
        10.0,
        5.0,
        20.0,
        10.0,
        portfolio_quote=40.0,
        leverage=1_000.0,
        max_position_fraction=1.0,
    )
    stake = 0.25 * 720.0 * 40.0  # 7,200
    assert BINDING_NAMES[s.binding[0]] == "kelly"
    assert s.size_quote[0] == pytest.approx(stake)
    expected = amm_net_profit(
        np.array([stake]),
        np.array([10_000.0]),
        np.array([60.0]),
        np.array([10.0]),
        np.array([5.0]),
        np.array([20.0]),
    )[0]
    assert s.net_quote[0] == pytest.approx(expected)


def test_a_hand_made_oversized_candidate_is_cut_to_the_amm_optimum() -> None:
    # edge 65 bps, flash 5 bps, slippage 15 at 10k: optimum (e - phi) / 2c = 20k > 10k
    s = _size(0.9, 10_000.0, 65.0, 1.0, 5.0, 15.0, 1.0)
    assert s.amm_size_quote[0] == pytest.approx(10_000.0)
    # slippage 60 at 10k: optimum 5k
    s = _size(0.9, 10_000.0, 65.0, 1.0, 5.0, 60.0, 1.0)
    assert s.amm_size_quote[0] == pytest.approx(5_000.0)
    assert s.size_quote[0] == pytest.approx(5_000.0)


def test_inventory_trades_are_capped_by_the_position_fraction() -> None:
    s = _size(0.9, 100_000.0, 30.0, 1.0, 0.0, 50.0, 1.0, flash_loan=False)
    assert BINDING_NAMES[s.binding[0]] == "position"
    assert s.size_quote[0] == pytest.approx(0.2 * 300_000.0)


@pytest.mark.parametrize(
    ("p", "gas", "reason"),
    [
        (0.5, 40.0, "unprofitable_after_costs"),  # net at any size <= 0
        (0.1, 10.0, "negative_ev"),  # 0.1 * 25 - 0.9 * 10 < 0
    ],
)
def test_unprofitable_or_negative_ev_trades_get_size_zero(p, gas, reason) -> None:
    s = _size(p, 10_000.0, 60.0, gas, 5.0, 20.0, 10.0)
    assert s.size_quote[0] == 0.0
    assert REJECT_REASONS[s.reject[0]] == reason
    assert not s.accepted[0]


def test_min_profit_refuses_a_small_trade() -> None:
    s = _size(0.9, 10_000.0, 60.0, 10.0, 5.0, 20.0, 10.0, min_profit_quote=30.0)
    assert REJECT_REASONS[s.reject[0]] == "below_min_profit"


def test_revert_gas_above_the_health_limit_is_refused() -> None:
    s = _size(0.99, 10_000.0, 60.0, 1.0, 5.0, 20.0, 100.0, portfolio_quote=400.0)
    assert REJECT_REASONS[s.reject[0]] == "revert_gas_over_health"


candidates = st.fixed_dictionaries(
    {
        "p": st.floats(0.0, 1.0),
        "notional": st.floats(1.0, 1e7),
        "edge": st.floats(-20.0, 300.0),
        "gas": st.floats(0.0, 500.0),
        "flash": st.floats(0.0, 100.0),
        "slip": st.floats(0.0, 1e4),
        "revert": st.floats(0.0, 500.0),
        "flash_loan": st.booleans(),
        "portfolio_quote": st.floats(1.0, 1e7),
        "kelly_fraction": st.floats(0.01, 1.0),
        "max_flash_borrow_quote": st.floats(1.0, 1e7),
        "leverage": st.floats(1.0, 5.0),
        "max_position_fraction": st.floats(0.01, 1.0),
        "min_profit_quote": st.floats(0.0, 100.0),
    }
)


def _call(c, one=False):
    args = (c["p"], c["notional"], c["edge"], c["gas"], c["flash"], c["slip"], c["revert"])
    kw = {
        k: c[k]
        for k in (
            "portfolio_quote",
            "kelly_fraction",
            "max_flash_borrow_quote",
            "leverage",
            "max_position_fraction",
            "min_profit_quote",
        )
    }
    if one:
        return size_one(*args, c["flash_loan"], **kw)
    return size_trades(*(np.array([a]) for a in args), np.array([c["flash_loan"]]), **kw)


@settings(max_examples=400, deadline=None)
@given(c=candidates)
def test_size_never_exceeds_the_caps_or_the_amm_optimal_size(c) -> None:
    s = _call(c)
    size = s.size_quote[0]
    w = c["portfolio_quote"]
    assert 0.0 <= size <= s.amm_size_quote[0] * (1 + 1e-12)
    assert s.amm_size_quote[0] <= c["notional"]
    assert size <= c["leverage"] * w * (1 + 1e-12)
    if c["flash_loan"]:
        assert size <= c["max_flash_borrow_quote"] * (1 + 1e-12)
    else:
        assert size <= c["max_position_fraction"] * w * (1 + 1e-12)
    if size > 0:
        assert s.ev_quote[0] > 0
        assert s.net_quote[0] >= c["min_profit_quote"]
        assert c["revert"] <= c["max_position_fraction"] * w


@settings(max_examples=400, deadline=None)
@given(c=candidates)
def test_size_is_zero_when_the_expected_value_is_not_positive(c) -> None:
    s = _call(c)
    p = c["p"]
    full_net = amm_net_profit(
        np.array([s.amm_size_quote[0]]),
        np.array([c["notional"]]),
        np.array([c["edge"]]),
        np.array([c["gas"]]),
        np.array([c["flash"]]),
        np.array([c["slip"]]),
    )[0]
    if p * full_net - (1 - p) * c["revert"] <= 0:
        assert s.size_quote[0] == 0.0


@settings(max_examples=400, deadline=None)
@given(c=candidates)
def test_size_one_matches_size_trades(c) -> None:
    many, one = _call(c), _call(c, one=True)
    assert one.reject == many.reject[0]
    assert one.binding == many.binding[0]
    for name in ("size_quote", "net_quote", "ev_quote", "amm_size_quote", "kelly_full"):
        a, b = getattr(one, name), getattr(many, name)[0]
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-9)
