from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from gymnasium.error import InvalidAction
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from arbkit.errors import ConfigError
from arbkit.rl import ArbitrageEnv, ArbitrageVectorEnv

INFO_KEYS = (
    "block",
    "position_base",
    "equity_quote",
    "reward_trade",
    "reward_gas",
    "reward_flash",
    "reward_mtm",
    "executed",
    "flash_outcome",
    "flash_candidate",
    "expected_net_quote",
)
KW: dict[str, Any] = {"window_blocks": 24, "max_drawdown_frac": 0.002, "prefetch_episodes": 3}


def assert_same(a: tuple[Any, ...], b: tuple[Any, ...], where: str) -> None:
    for x, y, name in zip(
        a[:-1], b[:-1], ("obs", "reward", "terminated", "truncated"), strict=True
    ):
        assert np.array_equal(x, y), f"{where}: {name} differs"
    for key in INFO_KEYS:
        assert np.array_equal(a[-1][key], b[-1][key]), f"{where}: info[{key!r}] differs"


@pytest.mark.parametrize(
    ("n", "extra"),
    [
        (1, {}),
        (5, {}),
        # outcomes computed per window at reset instead of read from the cells at the step
        (3, {"flash_outcomes": "batch"}),
    ],
)
def test_vector_env_matches_n_single_envs(n: int, extra: dict[str, Any]) -> None:
    kw = {**KW, **extra}
    venv = ArbitrageVectorEnv(n, **kw)
    ref = SyncVectorEnv([lambda: ArbitrageEnv(**kw) for _ in range(n)])
    assert venv.metadata["autoreset_mode"] == ref.metadata["autoreset_mode"]
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert venv.single_observation_space == ref.single_observation_space
    assert venv.action_space == ref.action_space
    o1, i1 = venv.reset(seed=21)
    o2, i2 = ref.reset(seed=21)
    assert np.array_equal(o1, o2)
    for key in INFO_KEYS:
        assert np.array_equal(i1[key], i2[key])
    rng = np.random.default_rng(0)
    ends = 0
    for step in range(300):
        # mostly round trips, so that the small drawdown limit ends some episodes early
        actions = rng.choice(4, size=n, p=[0.4, 0.4, 0.1, 0.1])
        r1 = venv.step(actions)
        r2 = ref.step(actions)
        assert_same(r1, r2, f"step {step}")
        ends += int(np.sum(r1[2] | r1[3]))
    assert ends > n  # several autoresets, by truncation and by termination
    # reseeding mid-run with explicit starts
    o1, _ = venv.reset(seed=5, options={"start": 150})
    o2, _ = ref.reset(seed=5, options={"start": 150})
    assert np.array_equal(o1, o2)
    for step in range(40):
        actions = rng.integers(0, 4, n)
        assert_same(venv.step(actions), ref.step(actions), f"after reseed, step {step}")


def test_reset_mask_resets_only_those_lanes() -> None:
    venv = ArbitrageVectorEnv(3, **KW)
    venv.reset(seed=1)
    venv.step(np.array([0, 0, 0]))
    mask = np.array([True, False, True])
    obs, info = venv.reset(seed=[7, None, 9], options={"reset_mask": mask})
    assert info["_block"].tolist() == [True, False, True]
    single = ArbitrageEnv(**KW)
    o, _ = single.reset(seed=9)
    assert np.array_equal(obs[2], o)
    assert obs[1, 1] != 0.0  # lane 1 kept its position


def test_vector_env_rejects_bad_input() -> None:
    venv = ArbitrageVectorEnv(2, **KW)
    with pytest.raises(ConfigError, match="reset"):
        venv.step(np.array([0, 0]))
    venv.reset(seed=0)
    with pytest.raises(InvalidAction):
        venv.step(np.array([0, 7]))
    with pytest.raises(InvalidAction):
        venv.step(np.array([0]))
    with pytest.raises(ConfigError, match="lanes"):
        venv.reset(seed=[1, 2, 3])
    with pytest.raises(ConfigError, match="num_envs"):
        ArbitrageVectorEnv(0)


def test_make_vec_with_the_vector_entry_point_gives_the_batched_env() -> None:
    import gymnasium as gym

    import arbkit.rl  # noqa: F401

    venv = gym.make_vec(
        "arbkit/Arbitrage-v0", num_envs=3, vectorization_mode="vector_entry_point", **KW
    )
    assert isinstance(venv.unwrapped, ArbitrageVectorEnv)
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (3, 6)
    venv.step(np.array([0, 1, 3]))


def test_the_compiled_and_the_numpy_uniforms_give_the_same_bits() -> None:
    from arbkit.rl._uniforms import uniform, uniforms

    for key in (0, 1, 2**62 + 12345, 2**63 - 1):
        got = uniforms(key, 64)
        assert np.array_equal(got, [uniform(key, k) for k in range(64)])
        assert ((got >= 0.0) & (got < 1.0)).all()
    u = uniforms(7, 200_000)
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    # neighbouring keys and counters are unrelated
    assert abs(np.corrcoef(uniforms(7, 10_000), uniforms(8, 10_000))[0, 1]) < 0.05
