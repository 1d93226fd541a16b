from __future__ import annotations

import numpy as np

from arbkit.backtest import BacktestConfig, prepare_candidates
from arbkit.decider import CandidateBatch
from arbkit.market.sim import simulate_market


def test_take_equals_building_the_batch_from_those_rows() -> None:
    cands = prepare_candidates(simulate_market(seed=3, n_blocks=1_500), BacktestConfig().scan)
    assert cands.height > 20
    full = CandidateBatch.from_table(cands)
    idx = [7, 2, 19, 3]
    taken = full.take(idx)
    direct = CandidateBatch.from_table(cands[idx])
    np.testing.assert_array_equal(taken.values, direct.values)
    assert taken.route_keys == direct.route_keys
    assert taken.symbols == direct.symbols
    for i in range(len(idx)):
        assert taken.candidate(i) == direct.candidate(i)
