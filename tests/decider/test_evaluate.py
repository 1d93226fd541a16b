from __future__ import annotations

import polars as pl
import pytest

from arbkit.decider import evaluate as ev
from arbkit.decider.evaluate import ComparisonConfig, compare_policies, format_comparison

SMALL = ComparisonConfig(seeds=(0,), n_blocks=4_000)


@pytest.fixture(scope="module")
def comparison():
    return compare_policies(0, SMALL)


def test_compare_policies_runs_the_three_policies(comparison) -> None:
    results, info = comparison
    assert set(results) == set(ev.POLICIES)
    for res in results.values():
        t = res.trades
        assert t.height > 0
        assert (t["block"] >= info["train_rows"] * 0).all()
        assert t["size_fraction"].is_between(0, 1).all()
    assert results["edge_threshold"].trades["size_fraction"].to_list() == [1.0] * (
        results["edge_threshold"].trades.height
    )
    assert info["edge_threshold_bps"] in SMALL.edge_thresholds_bps


def test_no_policy_trades_a_pool_twice_within_the_cooldown(comparison) -> None:
    results, _ = comparison
    for res in results.values():
        last: dict[str, int] = {}
        for block, key in res.trades.select("block", "route_key").iter_rows():
            pools = key.split(":", 1)[1].split(">")
            for p in pools:
                assert block > last.get(p, -(10**9)) + SMALL.pool_cooldown_blocks
                last[p] = block


def test_common_random_numbers_give_one_outcome_per_candidate(comparison) -> None:
    results, _ = comparison
    a = results["decider_without_model"].trades
    b = results["edge_threshold"].trades
    same = a.join(b, on=["block", "route_key"], suffix="_b")
    assert same.height > 0
    assert same["size_fraction"].to_list() == same["size_fraction_b"].to_list()
    assert same["reason"].to_list() == same["reason_b"].to_list()
    assert same["net_profit_quote"].to_list() == same["net_profit_quote_b"].to_list()


def test_policies_learn_an_outcome_only_after_the_label_delay() -> None:
    seen: list[tuple[int, int]] = []  # (decision block, block of the next choice)
    learnt: list[int] = []

    class Spy(ev._ThresholdPolicy):
        def __init__(self) -> None:
            super().__init__(0.0)

        def choose(self, rows, regime_row):
            now = int(regime_row["block"])
            seen.extend((decided, now) for decided in learnt)
            learnt.clear()
            choice = super().choose(rows, regime_row)
            if choice is None:
                return None
            return choice[0], choice[1], now

        def learn(self, token, success, net_quote) -> None:
            learnt.append(int(token))

    from arbkit.decider.training import build_route_dataset
    from arbkit.execution import ExecutionModel
    from arbkit.market.sim import simulate_market

    history = simulate_market(seed=9, n_blocks=1_500)
    data = build_route_dataset(history, seed=9)
    cands = data.candidates.with_columns(pl.Series("route_key", data.table["route_key"]))
    regime = {int(r["block"]): r for r in data.regime.iter_rows(named=True)}
    import numpy as np

    draws = np.random.default_rng(0).random((cands.height, 2))
    ev._replay(Spy(), cands, draws, regime, ExecutionModel(history), SMALL)
    assert seen
    delay = SMALL.features.label_delay_blocks
    # learnt before the choice at block `now`, from a decision at block `decided`
    assert all(now >= decided + delay for decided, now in seen)


def test_format_comparison_reports_mean_and_std(comparison) -> None:
    results, info = comparison
    result = ev.ComparisonResult(per_seed={0: results, 1: results}, info={0: info, 1: info})
    text = format_comparison(result, SMALL)
    assert "| decider_with_model |" in text and "±" in text
    assert result.aggregate().height == 3


def test_write_comparison_writes_the_tables_as_json(comparison, tmp_path) -> None:
    import json

    results, info = comparison
    result = ev.ComparisonResult(per_seed={0: results}, info={0: info})
    path = ev.write_comparison(result, SMALL, json_path=tmp_path / "c.json")
    data = json.loads(path.read_text())
    assert {row["policy"] for row in data["aggregate"]} == set(ev.POLICIES)
    assert data["config"]["n_blocks"] == SMALL.n_blocks


def test_gap_decomposition_adds_up_to_the_paired_difference(comparison) -> None:
    results, info = comparison
    result = ev.ComparisonResult(per_seed={0: results}, info={0: info})
    gap = result.gap_decomposition().row(0, named=True)
    parts = gap["only_other"] + gap["only_decider"] + gap["same_trade_size"]
    assert parts + gap["different_pick"] == pytest.approx(gap["total"])
    diff = result.paired_differences()["model_minus_threshold"][0]
    assert gap["total"] == pytest.approx(diff)


def test_comparison_config_refuses_a_route_ema_that_differs_from_training() -> None:
    from pydantic import ValidationError

    from arbkit.features import FeatureConfig

    with pytest.raises(ValidationError, match="route_ema_alpha"):
        ComparisonConfig(features=FeatureConfig(route_ema_alpha=0.3))
