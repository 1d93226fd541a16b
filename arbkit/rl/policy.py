"""Tabular Q-learning arbitrage policy with experience replay (user guide section 3)."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from arbkit.errors import ConfigError, ModelIntegrityError
from arbkit.io import sha256_file, write_atomic
from arbkit.rl.config import RLPolicyConfig
from arbkit.rl.state import (
    ACTIONS,
    BUY,
    FLASH_ARB,
    SELL,
    MarketSnapshot,
    PortfolioState,
    SymbolOrder,
    encode_states,
    state_index,
    state_index_one,
)

__all__ = ["MODEL_FORMAT", "RLArbitragePolicy", "sha256_file"]

MODEL_FORMAT = "arbkit.rl.q_table/1"
FloatArray = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def _atomic_write(path: Path, data: bytes) -> None:
    write_atomic(path, data)


class RLArbitragePolicy:
    """Epsilon-greedy tabular Q-learning over the guide's discretised 6-D state.

    The state (see :mod:`arbkit.rl.state`) is the env's observation: a policy trained in
    :class:`~arbkit.rl.ArbitrageEnv` with :meth:`act` and :meth:`record_experience`
    reads live :class:`MarketSnapshot` s in :meth:`decide` through the same
    normalisation (``config.state_scales``). Each state maps to a Q-table row through
    ``config.n_bins``; one table is shared by all symbols.

    Learning: every :meth:`record_experience` applies the one-step Q-learning update to
    the new transition, stores it in a ring buffer of ``replay_buffer_size`` transitions,
    and replays a uniform minibatch of ``batch_size`` stored transitions (a batch
    update against the current table). :meth:`end_episode` decays epsilon and saves the
    table every ``save_every_episodes`` episodes.

    Parameters
    ----------
    config
        Options; ``config.seed`` seeds the generator unless ``rng`` is given.
    rng
        Source of every random choice (exploration and replay sampling).
    """

    def __init__(
        self, config: RLPolicyConfig | None = None, *, rng: np.random.Generator | None = None
    ) -> None:
        self.config = cfg = config or RLPolicyConfig()
        self.rng = rng if rng is not None else np.random.default_rng(cfg.seed)
        self.n_states = cfg.n_bins.n_states
        self.q_table: FloatArray = np.zeros((self.n_states, len(ACTIONS)))
        self.epsilon = cfg.epsilon_start
        self.episodes = 0
        self.episode_rewards: list[float] = []
        self.symbol_rewards: dict[str, float] = {}
        cap = cfg.replay_buffer_size
        self._s = np.zeros(cap, dtype=np.int64)
        self._a = np.zeros(cap, dtype=np.int64)
        self._r = np.zeros(cap)
        self._s2 = np.zeros(cap, dtype=np.int64)
        self._done = np.zeros(cap, dtype=bool)
        self._n = 0
        self._next = 0

    # -- states and actions ------------------------------------------------------------------
    def state_of(
        self, portfolio: PortfolioState, snapshot: MarketSnapshot, symbol: str
    ) -> F32Array:
        """Return the normalised 6-D state of ``symbol``."""
        position = float(portfolio.positions.get(symbol, 0.0))
        return encode_states(
            edge_bps=snapshot.edge_bps.get(symbol, 0.0),
            position_frac=position / self.config.max_position_size,
            portfolio_health=portfolio.health,
            volatility_bps=snapshot.volatility_bps.get(symbol, 0.0),
            gas_percentile=snapshot.gas_percentile,
            liquidity_quote=snapshot.liquidity_quote.get(symbol, 0.0),
            scales=self.config.state_scales,
        )

    def state_index(self, state: npt.ArrayLike) -> int:
        """Return the Q-table row of a normalised state."""
        return state_index_one(state, self.config.n_bins)

    def act(self, state: npt.ArrayLike, *, explore: bool = True) -> int:
        """Return an action id for a normalised state (epsilon-greedy when ``explore``).

        Ties between equal Q-values go to the lowest action id, except that ``hold``
        is preferred when every Q-value is equal (an untrained row does nothing).
        """
        if explore and self.rng.random() < self.epsilon:
            return int(self.rng.integers(len(ACTIONS)))
        row = self.q_table[self.state_index(state)]
        if row.min() == row.max():
            return ACTIONS.index("hold")
        return int(np.argmax(row))

    def greedy_actions(self, states: npt.ArrayLike) -> IntArray:
        """Return the greedy action of many states at once (no exploration)."""
        rows = self.q_table[state_index(states, self.config.n_bins)]
        best = np.argmax(rows, axis=-1)
        flat = rows.min(axis=-1) == rows.max(axis=-1)
        return np.where(flat, ACTIONS.index("hold"), best).astype(np.int64)

    def decide(self, portfolio: PortfolioState, snapshot: MarketSnapshot) -> list[SymbolOrder]:
        """Return the orders for every target symbol quoted in ``snapshot``.

        A buy or sell of ``trade_size`` is issued only if the position stays within
        ``max_position_size``; ``hold`` issues nothing; ``flash_arb`` asks for the
        symbol's best arbitrage candidate to be executed.
        """
        orders: list[SymbolOrder] = []
        cfg = self.config
        for symbol in cfg.target_symbols:
            if symbol not in snapshot.prices:
                continue
            state = self.state_of(portfolio, snapshot, symbol)
            action = self.act(state)
            position = float(portfolio.positions.get(symbol, 0.0))
            key = tuple(float(x) for x in state)
            if action == BUY and abs(position + cfg.trade_size) <= cfg.max_position_size:
                orders.append(SymbolOrder(symbol, "buy", cfg.trade_size, key))
            elif action == SELL and abs(position - cfg.trade_size) <= cfg.max_position_size:
                orders.append(SymbolOrder(symbol, "sell", cfg.trade_size, key))
            elif action == FLASH_ARB:
                orders.append(SymbolOrder(symbol, "flash_arb", 0.0, key))
        return orders

    # -- learning ----------------------------------------------------------------------------
    def _action_id(self, action: str | int) -> int:
        if isinstance(action, str):
            if action not in ACTIONS:
                raise ConfigError(f"action {action!r}: expected one of {ACTIONS}")
            return ACTIONS.index(action)
        a = int(action)
        if not 0 <= a < len(ACTIONS):
            raise ConfigError(f"action {action!r}: expected 0..{len(ACTIONS) - 1}")
        return a

    def record_experience(
        self,
        state: npt.ArrayLike,
        action: str | int,
        reward: float,
        next_state: npt.ArrayLike,
        done: bool,
        symbol: str | None = None,
    ) -> None:
        """Learn from one transition and replay a minibatch of stored ones.

        Parameters
        ----------
        state, next_state
            Normalised 6-D states (an env observation or :meth:`state_of`).
        action
            Action name (``"buy"``, ...) or id.
        reward
            Reward of the transition.
        done
            Whether ``next_state`` ends the episode (no bootstrapping from it).
        symbol
            Symbol the transition belongs to (tracked in ``symbol_rewards``).
        """
        r = float(reward)
        if not np.isfinite(r):
            raise ConfigError(f"reward {reward!r}: must be finite")
        s = self.state_index(state)
        s2 = self.state_index(next_state)
        a = self._action_id(action)
        i = self._next
        self._s[i], self._a[i], self._r[i], self._s2[i], self._done[i] = s, a, r, s2, bool(done)
        self._next = (i + 1) % self.config.replay_buffer_size
        self._n = min(self._n + 1, self.config.replay_buffer_size)
        if symbol is not None:
            self.symbol_rewards[symbol] = self.symbol_rewards.get(symbol, 0.0) + r
        self._update(np.array([s]), np.array([a]), np.array([r]), np.array([s2]), np.array([done]))
        if self._n >= self.config.batch_size:
            j = self.rng.integers(0, self._n, size=self.config.batch_size)
            self._update(self._s[j], self._a[j], self._r[j], self._s2[j], self._done[j])

    def _update(
        self,
        s: IntArray,
        a: IntArray,
        r: FloatArray,
        s2: IntArray,
        done: npt.NDArray[np.bool_],
    ) -> None:
        q = self.q_table
        gamma = self.config.discount_factor
        target = r + np.where(done, 0.0, gamma * q[s2].max(axis=1))
        td = target - q[s, a]
        np.add.at(q, (s, a), self.config.learning_rate * td)

    def end_episode(self, total_reward: float) -> Path | None:
        """Close an episode: decay epsilon, and save every ``save_every_episodes`` episodes.

        Returns
        -------
        pathlib.Path or None
            Where the policy was saved, when it was.
        """
        cfg = self.config
        self.episodes += 1
        self.episode_rewards.append(float(total_reward))
        self.epsilon = max(cfg.epsilon_end, self.epsilon * cfg.epsilon_decay)
        if self.episodes % cfg.save_every_episodes == 0:
            return self.save()
        return None

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the Q-table and state as ``.npz`` (atomic) plus a ``.sha256`` sidecar.

        Parameters
        ----------
        path
            Destination; ``config.model_path`` by default.
        """
        dest = Path(path) if path is not None else Path(self.config.model_path)
        meta = {
            "format": MODEL_FORMAT,
            "episodes": self.episodes,
            "epsilon": self.epsilon,
            "config": json.loads(self.config.model_dump_json()),
        }
        buf = io.BytesIO()
        np.savez(
            buf,
            q_table=self.q_table,
            episode_rewards=np.asarray(self.episode_rewards, dtype=np.float64),
            meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8),
        )
        data = buf.getvalue()
        _atomic_write(dest, data)
        digest = hashlib.sha256(data).hexdigest()
        _atomic_write(_sidecar(dest), f"{digest}  {dest.name}\n".encode())
        return dest

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        config: RLPolicyConfig | None = None,
        rng: np.random.Generator | None = None,
    ) -> RLArbitragePolicy:
        """Read a policy written by :meth:`save` after checking its sha256 sidecar.

        Parameters
        ----------
        path
            The ``.npz`` file.
        config
            Options to use instead of the saved ones (the bins must match the table).
        rng
            Generator of the loaded policy.

        Raises
        ------
        ModelIntegrityError
            If the sidecar is missing or malformed, or the file's sha256 differs from it.
        ConfigError
            If the file is not a policy of this format or does not fit ``config``.
        """
        src = Path(path)
        side = _sidecar(src)
        try:
            expected = side.read_text().split()[0]
        except FileNotFoundError:
            raise ModelIntegrityError(
                f"{src}: no sha256 sidecar {side.name}; refusing to load an unverified model"
            ) from None
        except IndexError:
            raise ModelIntegrityError(f"{side}: empty sha256 sidecar") from None
        data = src.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected:
            raise ModelIntegrityError(
                f"{src}: sha256 {digest[:12]}... does not match {side.name} "
                f"({expected[:12]}...); the file was changed"
            )
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                q = np.array(npz["q_table"], dtype=np.float64)
                rewards = np.array(npz["episode_rewards"], dtype=np.float64)
                meta: dict[str, Any] = json.loads(bytes(npz["meta"]).decode())
        except (ValueError, KeyError, OSError) as exc:
            raise ConfigError(f"{src}: not an arbkit Q-table ({exc})") from None
        if meta.get("format") != MODEL_FORMAT:
            raise ConfigError(f"{src}: format {meta.get('format')!r}, expected {MODEL_FORMAT!r}")
        cfg = config or RLPolicyConfig.model_validate(_as_mapping(meta["config"]))
        policy = cls(cfg, rng=rng)
        if q.shape != policy.q_table.shape:
            raise ConfigError(
                f"{src}: Q-table of shape {q.shape} does not fit n_bins "
                f"({policy.q_table.shape[0]} states x {len(ACTIONS)} actions)"
            )
        policy.q_table = q
        policy.episode_rewards = rewards.tolist()
        policy.episodes = int(meta["episodes"])
        policy.epsilon = float(meta["epsilon"])
        return policy


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _as_mapping(value: object) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"saved config is {type(value).__name__}, expected an object")
    return value
