"""Candidates as the decider sees them: one :class:`AICandidate`, or a columnar batch.

All money is in the quote token (USDC by default); ``edge_bps`` is the zero-size edge
after pool fees, so that at the candidate's own size

``net_quote = notional_quote * edge_bps / 1e4 - slippage_quote - flash_fee_quote - gas_cost_quote``

(the scanner's decomposition, see :mod:`arbkit.opportunities.scanner`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Self, cast

import numpy as np
import numpy.typing as npt
import polars as pl

from arbkit.decider.errors import DeciderError
from arbkit.features.route import hops_of_kind, make_route_key

__all__ = ["COLUMNS", "FLASH_KINDS", "AICandidate", "CandidateBatch"]

FloatArray = npt.NDArray[np.float64]
FLASH_KINDS: Final = frozenset({"dex_dex", "triangular"})
"""Route kinds funded by a flash loan (``cex_dex`` trades from inventory)."""

_NUMERIC: Final = (
    "edge_bps",
    "notional_quote",
    "gas_cost_quote",
    "flash_fee_quote",
    "slippage_quote",
    "confidence",
)
_OPTIONAL: Final = ("liquidity_quote", "revert_gas_quote", "eth_price_quote")
COLUMNS: Final = (*_NUMERIC, *_OPTIONAL, "n_hops", "is_flash", "age_blocks", "amm_optimal")
"""Rows of :attr:`CandidateBatch.values`."""
_ROW = struct.Struct(f"<{len(COLUMNS)}d")
_NAN = float("nan")


@dataclass(frozen=True, slots=True)
class AICandidate:
    """One arbitrage opportunity offered to the decider.

    Parameters
    ----------
    symbol
        Pair or path, e.g. ``"ETH/USDC"``.
    edge_bps
        Zero-size edge after pool fees, in bps.
    notional_quote
        Value of the input at the candidate's size (the profit-maximising AMM size
        when the candidate comes from the scanner), in quote; > 0.
    gas_cost_quote
        Gas of a successful execution, in quote.
    flash_fee_quote
        Flash-loan fee at the candidate's size, in quote.
    slippage_quote
        Price impact at the candidate's size, in quote.
    confidence
        The caller's own success probability for the trade, in ``[0, 1]``.
    route
        Pool ids in hop order (empty: keyed by ``symbol``).
    kind
        ``dex_dex``, ``triangular`` (flash loan) or ``cex_dex`` (inventory).
    start_token
        Token the route starts from (distinguishes the two sides of a ``cex_dex`` pool).
    liquidity_quote
        Depth of the route's shallowest pool, in quote, if known.
    revert_gas_quote
        Gas paid when the trade fails, in quote; default
        ``revert_gas_fraction * gas_cost_quote``.
    amount_in
        Input at the candidate's size, in base units of ``start_token``, if known.
    block
        Block the candidate was scanned at, if known.
    eth_price_quote
        Price of ETH in quote at the candidate's block (overrides the regime's).
    age_blocks
        Blocks the edge had already existed at decision (0: new), see
        :func:`arbkit.features.add_edge_age`.
    amm_optimal
        Whether ``notional_quote`` is the exact profit-maximising AMM size (the
        scanner's candidates are); otherwise the sizing's quadratic model may cut it.

    Raises
    ------
    DeciderError
        If a number is not finite, ``notional_quote`` is not positive, a cost is
        negative, ``confidence`` lies outside ``[0, 1]`` or ``kind`` is unknown.
    """

    symbol: str
    edge_bps: float
    notional_quote: float
    gas_cost_quote: float
    flash_fee_quote: float = 0.0
    slippage_quote: float = 0.0
    confidence: float = 0.5
    route: tuple[str, ...] = ()
    kind: str = "dex_dex"
    start_token: str = ""
    liquidity_quote: float | None = None
    revert_gas_quote: float | None = None
    amount_in: int | None = None
    block: int | None = None
    eth_price_quote: float | None = None
    age_blocks: int = 0
    amm_optimal: bool = False
    _key: str = field(init=False, repr=False, compare=False)
    _packed: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.route, tuple):
            object.__setattr__(self, "route", tuple(self.route))
        where = f"AICandidate {self.symbol!r}"
        for name in _NUMERIC:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DeciderError(f"{where}: {name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise DeciderError(f"{where}: {name} must be finite, got {value!r}")
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and value >= 0):
                raise DeciderError(f"{where}: {name} must be a number >= 0, got {value!r}")
        if not self.notional_quote > 0:
            raise DeciderError(f"{where}: notional_quote must be > 0, got {self.notional_quote!r}")
        for name in ("gas_cost_quote", "flash_fee_quote", "slippage_quote"):
            if getattr(self, name) < 0:
                raise DeciderError(f"{where}: {name} must be >= 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.confidence <= 1.0:
            raise DeciderError(f"{where}: confidence must lie in [0, 1], got {self.confidence!r}")
        try:
            hops_of_kind(self.kind)
        except ValueError as exc:
            raise DeciderError(f"{where}: {exc}") from None
        if self.amount_in is not None and (
            isinstance(self.amount_in, bool)
            or not isinstance(self.amount_in, int)
            or self.amount_in <= 0
        ):
            raise DeciderError(f"{where}: amount_in must be a positive int, got {self.amount_in!r}")
        if isinstance(self.age_blocks, bool) or not isinstance(self.age_blocks, int):
            raise DeciderError(f"{where}: age_blocks must be an int, got {self.age_blocks!r}")
        if self.age_blocks < 0:
            raise DeciderError(f"{where}: age_blocks must be >= 0, got {self.age_blocks!r}")
        # Packed once here so that a batch of candidates becomes arrays without a Python
        # loop over fields (see CandidateBatch.from_candidates).
        object.__setattr__(self, "_key", make_route_key(self.route, self.start_token, self.symbol))
        object.__setattr__(
            self,
            "_packed",
            _ROW.pack(
                self.edge_bps,
                self.notional_quote,
                self.gas_cost_quote,
                self.flash_fee_quote,
                self.slippage_quote,
                self.confidence,
                _NAN if self.liquidity_quote is None else self.liquidity_quote,
                _NAN if self.revert_gas_quote is None else self.revert_gas_quote,
                _NAN if self.eth_price_quote is None else self.eth_price_quote,
                len(self.route) if self.route else hops_of_kind(self.kind),
                1.0 if self.kind in FLASH_KINDS else 0.0,
                float(self.age_blocks),
                1.0 if self.amm_optimal else 0.0,
            ),
        )

    @property
    def route_key(self) -> str:
        """Key of the route in the decider's success statistics."""
        return self._key

    @property
    def n_hops(self) -> int:
        """Pools in the route (from ``route``, else from ``kind``)."""
        return len(self.route) if self.route else hops_of_kind(self.kind)

    @property
    def is_flash(self) -> bool:
        """Whether the trade is funded by a flash loan."""
        return self.kind in FLASH_KINDS

    @property
    def net_quote(self) -> float:
        """Net profit after gas at the candidate's own size, in quote."""
        gross = self.notional_quote * self.edge_bps * 1e-4
        return gross - self.slippage_quote - self.flash_fee_quote - self.gas_cost_quote


# the numeric columns a candidates table may carry (n_hops and is_flash come from kind)
_NUMERIC_COLUMNS: Final = (*_NUMERIC, *_OPTIONAL, "age_blocks", "amm_optimal")


@dataclass(frozen=True, eq=False)
class CandidateBatch:
    """Candidates as columns, the decider's vectorised input.

    Build one with :meth:`from_candidates` or :meth:`from_table`; scoring and sizing a
    batch costs a few numpy operations whatever its length.

    Attributes
    ----------
    values
        ``float64`` array of shape ``(len(COLUMNS), n)``: one row per entry of
        :data:`COLUMNS` (unknown optional values are NaN, ``is_flash`` is 0/1).
    route_keys
        Route key per candidate.
    source
        The candidates the batch was built from, or the candidates table.
    """

    values: FloatArray
    route_keys: list[str]
    source: Sequence[AICandidate] | pl.DataFrame
    # per-row Python values of a table source (route, start_token, ...), for candidate(i)
    _rows: dict[str, list[Any]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.route_keys)

    @property
    def edge_bps(self) -> FloatArray:
        """Zero-size edge, bps."""
        return cast(FloatArray, self.values[0])

    @property
    def notional_quote(self) -> FloatArray:
        """Notional, quote."""
        return cast(FloatArray, self.values[1])

    @property
    def gas_cost_quote(self) -> FloatArray:
        """Gas on success, quote."""
        return cast(FloatArray, self.values[2])

    @property
    def flash_fee_quote(self) -> FloatArray:
        """Flash fee, quote."""
        return cast(FloatArray, self.values[3])

    @property
    def slippage_quote(self) -> FloatArray:
        """Slippage, quote."""
        return cast(FloatArray, self.values[4])

    @property
    def confidence(self) -> FloatArray:
        """Caller's confidence."""
        return cast(FloatArray, self.values[5])

    @property
    def liquidity_quote(self) -> FloatArray:
        """Route depth, quote (NaN)."""
        return cast(FloatArray, self.values[6])

    @property
    def revert_gas_quote(self) -> FloatArray:
        """Revert gas, quote (NaN)."""
        return cast(FloatArray, self.values[7])

    @property
    def eth_price_quote(self) -> FloatArray:
        """ETH price, quote (NaN)."""
        return cast(FloatArray, self.values[8])

    @property
    def n_hops(self) -> FloatArray:
        """Pools per route."""
        return cast(FloatArray, self.values[9])

    @property
    def age_blocks(self) -> FloatArray:
        """Blocks each edge had already existed."""
        return cast(FloatArray, self.values[11])

    @property
    def amm_optimal(self) -> npt.NDArray[np.bool_]:
        """Whether each notional is the exact profit-maximising AMM size."""
        return np.asarray(self.values[12] > 0.5, dtype=np.bool_)

    @property
    def is_flash(self) -> npt.NDArray[np.bool_]:
        """Whether each trade is funded by a flash loan."""
        return np.asarray(self.values[10] > 0.5, dtype=np.bool_)

    @property
    def symbols(self) -> list[str]:
        """Symbol per candidate."""
        if "symbol" in self._rows:
            return list(self._rows["symbol"])
        if isinstance(self.source, pl.DataFrame):
            return list(self.source["symbol"].to_list())
        return [c.symbol for c in self.source]

    @classmethod
    def from_candidates(cls, candidates: Sequence[AICandidate]) -> Self:
        """Build a batch from :class:`AICandidate` objects (validated at their construction).

        Parameters
        ----------
        candidates
            The candidates.

        Returns
        -------
        CandidateBatch
        """
        packed = b"".join([c._packed for c in candidates])
        values = np.frombuffer(packed, dtype="<f8").reshape(-1, len(COLUMNS)).T.copy()
        return cls(values, [c._key for c in candidates], candidates)

    @classmethod
    def from_table(
        cls,
        table: pl.DataFrame,
        *,
        default_confidence: float = 0.5,
        eth_price_quote: float | None = None,
    ) -> Self:
        """Build a batch from the scanner's candidates table.

        The scanner sizes every candidate at its exact profit-maximising amount, so the
        rows are ``amm_optimal`` unless the table has an ``amm_optimal`` column.

        Parameters
        ----------
        table
            Rows of the candidates table (``CANDIDATES_SCHEMA``); a ``confidence``,
            ``revert_gas_quote`` or ``eth_price_quote`` column is used when present.
        default_confidence
            Confidence of rows without a ``confidence`` column.
        eth_price_quote
            ETH price for rows without an ``eth_price_quote`` column (``None``: the
            regime's).

        Returns
        -------
        CandidateBatch

        Raises
        ------
        DeciderError
            If a column is missing or a value is invalid.
        """
        needed = ("symbol", "route", "kind", "edge_bps", "notional_quote", "gas_cost_quote")
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise DeciderError(f"candidates table lacks column(s) {missing}")
        n = table.height
        # every numeric column in one polars call (one call each costs more than the math)
        present = [c for c in _NUMERIC_COLUMNS if c in table.columns]
        block = (
            table.select(pl.col(present).cast(pl.Float64)).to_numpy().astype(np.float64)
            if present
            else np.zeros((n, 0))
        )
        col_of: dict[str, FloatArray] = {name: block[:, j] for j, name in enumerate(present)}

        def f64(name: str, default: float) -> FloatArray:
            got = col_of.get(name)
            if got is None:
                return np.full(n, default)
            return got  # nulls arrive as NaN

        kinds: list[str] = table["kind"].to_list()
        try:
            n_hops = [float(hops_of_kind(k)) for k in kinds]
        except ValueError as exc:
            raise DeciderError(f"candidates table: {exc}") from None
        routes: list[list[str] | None] = table["route"].to_list()
        starts = table["start_token"].to_list() if "start_token" in table.columns else [""] * n
        symbols: list[str] = table["symbol"].to_list()
        keys = [
            make_route_key(r or (), s or "", y)
            for r, s, y in zip(routes, starts, symbols, strict=True)
        ]
        price = np.nan if eth_price_quote is None else float(eth_price_quote)
        values = np.vstack(
            [
                f64("edge_bps", np.nan),
                f64("notional_quote", np.nan),
                f64("gas_cost_quote", np.nan),
                f64("flash_fee_quote", 0.0),
                f64("slippage_quote", 0.0),
                f64("confidence", default_confidence),
                f64("liquidity_quote", np.nan),
                f64("revert_gas_quote", np.nan),
                f64("eth_price_quote", price),
                np.asarray(n_hops, dtype=np.float64).reshape(n),
                np.array([k in FLASH_KINDS for k in kinds], dtype=np.float64).reshape(n),
                f64("age_blocks", 0.0),
                np.ones(n) if "amm_optimal" not in table.columns else f64("amm_optimal", 0.0),
            ]
        )
        rows: dict[str, list[Any]] = {
            "symbol": symbols,
            "route": routes,
            "start_token": starts,
            "kind": kinds,
        }
        for name in ("amount_in", "block"):
            rows[name] = table[name].to_list() if name in table.columns else [None] * n
        batch = cls(values, keys, table, rows)
        batch._validate()
        return batch

    def _validate(self) -> None:
        checks = (
            ("edge_bps", np.isfinite(self.edge_bps)),
            ("notional_quote", np.isfinite(self.notional_quote) & (self.notional_quote > 0)),
            ("gas_cost_quote", np.isfinite(self.gas_cost_quote) & (self.gas_cost_quote >= 0)),
            ("flash_fee_quote", np.isfinite(self.flash_fee_quote) & (self.flash_fee_quote >= 0)),
            ("slippage_quote", np.isfinite(self.slippage_quote) & (self.slippage_quote >= 0)),
            ("confidence", (self.confidence >= 0) & (self.confidence <= 1)),
            ("age_blocks", self.age_blocks >= 0),
        )
        for name, ok in checks:
            if not ok.all():
                row = int(np.flatnonzero(~ok)[0])
                value = getattr(self, name)[row]
                raise DeciderError(
                    f"candidates table row {row} ({self.symbols[row]!r}): {name} = {value!r} "
                    "is invalid"
                )

    def take(self, indices: Sequence[int] | npt.NDArray[np.int64]) -> CandidateBatch:
        """Return the sub-batch of the given rows, in that order (no re-validation).

        Building one batch for a whole candidates table and taking each block's rows is
        much cheaper than :meth:`from_table` per block. A batch built from a table keeps
        that whole table as its ``source`` (its rows are read from the batch's own
        columns, not from ``source``).
        """
        idx = np.asarray(indices, dtype=np.int64)
        picks = idx.tolist()
        source: Sequence[AICandidate] | pl.DataFrame
        if isinstance(self.source, pl.DataFrame):
            source = self.source
        else:
            source = [self.source[i] for i in picks]
        rows = {k: [v[i] for i in picks] for k, v in self._rows.items()}
        return type(self)(self.values[:, idx], [self.route_keys[i] for i in picks], source, rows)

    def candidate(self, i: int) -> AICandidate:
        """Return candidate ``i`` as an :class:`AICandidate`."""
        if not isinstance(self.source, pl.DataFrame):
            return self.source[i]
        row = {name: values[i] for name, values in self._rows.items()}

        def opt(name: str) -> float | None:
            value = float(getattr(self, name)[i])
            return value if math.isfinite(value) else None

        amount = row.get("amount_in")
        return AICandidate(
            symbol=str(row["symbol"]),
            edge_bps=float(self.edge_bps[i]),
            notional_quote=float(self.notional_quote[i]),
            gas_cost_quote=float(self.gas_cost_quote[i]),
            flash_fee_quote=float(self.flash_fee_quote[i]),
            slippage_quote=float(self.slippage_quote[i]),
            confidence=float(self.confidence[i]),
            route=tuple(row.get("route") or ()),
            kind=str(row["kind"]),
            start_token=str(row.get("start_token") or ""),
            liquidity_quote=opt("liquidity_quote"),
            revert_gas_quote=opt("revert_gas_quote"),
            amount_in=int(amount) if amount is not None and amount > 0 else None,
            block=int(row["block"]) if row.get("block") is not None else None,
            eth_price_quote=opt("eth_price_quote"),
            age_blocks=int(self.age_blocks[i]),
            amm_optimal=bool(self.amm_optimal[i]),
        )
