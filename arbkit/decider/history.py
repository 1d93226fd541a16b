"""The execution log: outcomes of a backtest, a dry-run or a live run, as training data.

The user guide trains the route-success model on "historical executions"::

    predictor = RouteSuccessPredictor()
    history = load_execution_history()
    predictor.train_model(history)
    predictor.save_model()

:func:`load_execution_history` returns that table, read from the execution log.

The log
-------
A folder (default ``data/executions/``; the environment variable
``ARBKIT_EXECUTIONS_DIR`` or an argument overrides it) holding one parquet file per
run, named after the run, e.g. ``backtest-rule-seed0-20250101T120000123456Z.parquet``.
:func:`record_executions` writes one run's file atomically
(:func:`arbkit.io.open_atomic`); its parquet key-value metadata holds
``arbkit_format`` = :data:`LOG_FORMAT`. One row per executed candidate trade, with the
columns of :data:`EXECUTION_LOG_SCHEMA`:

=======================  =========  ==================================================
column                   type       meaning
=======================  =========  ==================================================
``source``               str        ``"backtest"``, ``"dry_run"`` or ``"live"``
``run_id``               str        the run (also the file name)
``block``                int64      decision block of the trade
``route_key``            str        :func:`arbkit.features.make_route_key` of the route
``kind``                 str        ``cex_dex``, ``dex_dex`` or ``triangular``
``symbol``               str        the candidate's symbol
the 12 route features    float64    :data:`arbkit.features.ROUTE_FEATURE_NAMES`, as the
                                    decision could see them at ``block``
``success``              bool       the realised outcome (landed and cleared its minimum)
``realized_net_quote``   float64    realised net profit after gas and bribe, in quote
``reason``               str        the execution model's reason (``ok``, ...)
``included_block``       int64      block the trade landed in (null: not included)
=======================  =========  ==================================================

Causality of the features
-------------------------
:func:`executions_table` computes the features of an executed candidate with the
training pipeline's own functions (:func:`arbkit.features.build_regime_features`,
:func:`arbkit.features.build_labels`, :func:`arbkit.features.build_training_table`),
on the replay's candidate row, so that features 1-11 are exactly those
:func:`arbkit.decider.build_route_dataset` gives the same candidate: the candidate as
scanned at its block, its edge age over blocks ``<= t`` and the regime's trailing
windows ending at ``t``. Feature 12, the route's success EMA, folds the outcomes the
run itself observed (its executed trades, with their realised labels) that were
decided at blocks ``<= t - label_delay_blocks``, the delay after which every outcome of
a decision is known (``FeatureConfig().for_execution(replay.execution,
replay.latency_ms)``); a row's own label never enters its features. The route dataset
instead folds the counterfactual outcome of every candidate, which a run that traded
only some of them never observes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from arbkit.errors import ConfigError, DataError
from arbkit.execution import Replay
from arbkit.features import (
    ROUTE_FEATURE_NAMES,
    FeatureConfig,
    build_labels,
    build_regime_features,
    build_training_table,
)
from arbkit.io import open_atomic

__all__ = [
    "DEFAULT_EXECUTIONS_DIR",
    "EXECUTIONS_DIR_ENV",
    "EXECUTION_LOG_SCHEMA",
    "EXECUTION_SOURCES",
    "LOG_FORMAT",
    "executions_dir",
    "executions_table",
    "load_execution_history",
    "new_run_id",
    "record_executions",
]

LOG_FORMAT: Final = "arbkit.executions/1"
"""Value of the ``arbkit_format`` parquet metadata key of every log file."""

EXECUTION_SOURCES: Final = ("backtest", "dry_run", "live")
"""Where logged executions come from."""

EXECUTIONS_DIR_ENV: Final = "ARBKIT_EXECUTIONS_DIR"
"""Environment variable naming the log folder."""

DEFAULT_EXECUTIONS_DIR: Final = Path("data") / "executions"
"""Log folder when neither an argument nor ``ARBKIT_EXECUTIONS_DIR`` names one."""

EXECUTION_LOG_SCHEMA: Final = pl.Schema(
    {
        "source": pl.String(),
        "run_id": pl.String(),
        "block": pl.Int64(),
        "route_key": pl.String(),
        "kind": pl.String(),
        "symbol": pl.String(),
        **{name: pl.Float64() for name in ROUTE_FEATURE_NAMES},
        "success": pl.Boolean(),
        "realized_net_quote": pl.Float64(),
        "reason": pl.String(),
        "included_block": pl.Int64(),
    }
)
"""Columns of a log file, in order, and their types."""

_META_KEY: Final = "arbkit_format"
_RUN_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")
_NOT_NULL: Final = ("source", "run_id", "block", "route_key", "success")
_TRADE_COLUMNS: Final = ("cand_id", "block", "success", "reason", "included_block")
_NET_COLUMNS: Final = ("net_profit_quote", "realized_net_quote")


def executions_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the log folder: ``path``, else ``$ARBKIT_EXECUTIONS_DIR``, else the default."""
    if path is not None:
        return Path(path)
    env = os.environ.get(EXECUTIONS_DIR_ENV)
    return Path(env) if env else DEFAULT_EXECUTIONS_DIR


def new_run_id(source: str, *parts: str | int) -> str:
    """Return a run id ``<source>-<parts>-<UTC time to the microsecond>Z``.

    Characters other than letters, digits, ``.``, ``_`` and ``-`` in ``parts`` become
    ``_``, so that the id is a file name.

    Examples
    --------
    >>> new_run_id("backtest", "rule", "seed0")  # doctest: +SKIP
    'backtest-rule-seed0-20250101T120000123456Z'
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    words = [_UNSAFE.sub("_", str(p)).strip("_") for p in (source, *parts)]
    return "-".join([w for w in words if w] + [stamp])


def executions_table(
    replay: Replay,
    trades: pl.DataFrame,
    *,
    feature_config: FeatureConfig | None = None,
) -> pl.DataFrame:
    """Return a backtest's executed candidates with their features and realised outcomes.

    Parameters
    ----------
    replay
        The replay the backtest ran on (``Simulator.replay``); ``trades``' ``cand_id``
        index its candidates.
    trades
        The backtest's trades (``BacktestResult.trades``): ``cand_id``, ``block``,
        ``success``, ``reason``, ``included_block`` and ``net_profit_quote`` (or
        ``realized_net_quote``). Rows with a null ``cand_id`` (spot trades) are skipped.
    feature_config
        Feature options; its label delay is fixed for the replay's execution settings
        (``for_execution(replay.execution, replay.latency_ms)``), as
        :func:`arbkit.decider.build_route_dataset` does.

    Returns
    -------
    polars.DataFrame
        One row per executed candidate, in the trades' order: ``block``,
        ``route_key``, ``kind``, ``symbol``, the 12 route features (see the module
        docstring for what they may see), ``success``, ``realized_net_quote``,
        ``reason``, ``included_block``. :func:`record_executions` adds ``source`` and
        ``run_id``.

    Raises
    ------
    DataError
        If a column is missing, a ``cand_id`` is not a candidate of the replay, or a
        trade's block is not its candidate's (trades of another replay).
    """
    missing = [c for c in _TRADE_COLUMNS if c not in trades.columns]
    net_col = next((c for c in _NET_COLUMNS if c in trades.columns), None)
    if net_col is None:
        missing.append(_NET_COLUMNS[0])
    if missing:
        raise DataError(f"executions_table: trades lack column(s) {missing}")
    assert net_col is not None
    executed = trades.filter(pl.col("cand_id").is_not_null())
    base = pl.Schema(
        {k: v for k, v in EXECUTION_LOG_SCHEMA.items() if k not in ("source", "run_id")}
    )
    if executed.height == 0:
        return pl.DataFrame(schema=base)
    cands_all = replay.candidates
    ids = executed["cand_id"].cast(pl.Int64)
    bad = executed.filter((ids < 0) | (ids >= cands_all.height))
    if bad.height:
        raise DataError(
            f"executions_table: trade at block {bad['block'][0]} names cand_id "
            f"{bad['cand_id'][0]}, but the replay has {cands_all.height} candidates"
        )
    cands = cands_all[ids.to_list()]
    same = cands["block"].cast(pl.Int64) == executed["block"].cast(pl.Int64)
    if not bool(same.all()):
        row = int(np.flatnonzero(~same.to_numpy())[0])
        raise DataError(
            f"executions_table: trade row {row} (cand_id {ids[row]}) is at block "
            f"{executed['block'][row]}, but the replay's candidate {ids[row]} is at block "
            f"{cands['block'][row]}; the trades come from another replay"
        )
    cfg = (feature_config or FeatureConfig()).for_execution(replay.execution, replay.latency_ms)
    regime = build_regime_features(replay.history, cfg)
    outcomes = pl.DataFrame(
        {
            "block": cands["block"],
            "route": cands["route"],
            "success": executed["success"],
            "net_profit_quote": executed[net_col],
            "reason": executed["reason"],
        }
    )
    # the run's own realised outcomes are the labels, and the only outcomes the route EMA
    # folds (those known by each row's block: build_route_features' label delay)
    labels = build_labels(cands, outcomes)
    table = build_training_table(cands, labels, regime, cfg)
    return table.with_columns(executed["included_block"].cast(pl.Int64)).cast(base)


def _conform(table: pl.DataFrame, where: str) -> pl.DataFrame:
    """Return ``table`` as the log's columns and types, or raise naming ``where``."""
    missing = [c for c in EXECUTION_LOG_SCHEMA if c not in table.columns]
    if missing:
        raise DataError(f"{where}: missing column(s) {missing}")
    cols = []
    for name, dtype in EXECUTION_LOG_SCHEMA.items():
        try:
            cols.append(table[name].cast(dtype, strict=True))
        except pl.exceptions.PolarsError:
            raise DataError(
                f"{where}: column {name!r} has type {table[name].dtype}, expected {dtype}"
            ) from None
    frame = pl.DataFrame(cols)
    _check_values(frame, where)
    return frame


def _check_values(frame: pl.DataFrame, where: str) -> None:
    for name in _NOT_NULL:
        if frame[name].null_count():
            row = int(np.flatnonzero(frame[name].is_null().to_numpy())[0])
            raise DataError(f"{where}: column {name!r} is null at row {row}")
    unknown = frame.filter(~pl.col("source").is_in(EXECUTION_SOURCES))
    if unknown.height:
        raise DataError(
            f"{where}: source {unknown['source'][0]!r}; expected one of {EXECUTION_SOURCES}"
        )


def _check_source(source: str, where: str) -> None:
    if source not in EXECUTION_SOURCES:
        raise ConfigError(f"{where}: source={source!r}; expected one of {EXECUTION_SOURCES}")


def record_executions(
    path_or_dir: str | os.PathLike[str],
    table: pl.DataFrame,
    *,
    source: str,
    run_id: str,
) -> Path:
    """Write one run's executions to the log, atomically.

    Parameters
    ----------
    path_or_dir
        The log folder (the file is ``<path_or_dir>/<run_id>.parquet``; an existing one
        is refused), or a file ending in ``.parquet`` (replaced if it exists).
    table
        The run's executions: every column of :data:`EXECUTION_LOG_SCHEMA` except
        ``source`` and ``run_id`` (e.g. :func:`executions_table`); other columns are not
        recorded. Values are cast to the log's types.
    source
        ``"backtest"``, ``"dry_run"`` or ``"live"``.
    run_id
        Name of the run: letters, digits, ``.``, ``_``, ``-`` (see :func:`new_run_id`).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ConfigError
        If ``source`` or ``run_id`` is invalid.
    DataError
        If a column is missing or of the wrong type, a required value is null, the
        table's own ``source``/``run_id`` differ from the arguments, or the run's file
        already exists in the folder.
    """
    _check_source(source, "record_executions")
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise ConfigError(
            f"record_executions: run_id={run_id!r}; use letters, digits, '.', '_' and '-' "
            "(it names the file), e.g. new_run_id('backtest', policy, 'seed0')"
        )
    target = Path(path_or_dir)
    if target.suffix != ".parquet":
        target = target / f"{run_id}.parquet"
        if target.exists():
            raise DataError(
                f"record_executions: {target} exists; run {run_id!r} was already recorded "
                "(run ids must be unique, see new_run_id)"
            )
    where = f"record_executions({target})"
    if not isinstance(table, pl.DataFrame):
        raise DataError(f"{where}: expected a polars DataFrame, got {type(table).__name__}")
    for name, value in (("source", source), ("run_id", run_id)):
        if name in table.columns and not bool((table[name] == value).all()):
            raise DataError(f"{where}: the table's column {name!r} differs from {name}={value!r}")
    full = table.with_columns(
        pl.lit(source, dtype=pl.String).alias("source"),
        pl.lit(run_id, dtype=pl.String).alias("run_id"),
    )
    frame = _conform(full, where)
    with open_atomic(target) as handle:
        frame.write_parquet(handle, metadata={_META_KEY: LOG_FORMAT})
    return target


def _read_log(path: Path) -> pl.DataFrame:
    """Read one log file, refusing anything :func:`record_executions` did not write."""
    try:
        meta = pl.read_parquet_metadata(path)
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"{path}: not a readable parquet execution log ({exc})") from None
    if meta.get(_META_KEY) != LOG_FORMAT:
        raise DataError(
            f"{path}: not an execution log (parquet metadata {_META_KEY}="
            f"{meta.get(_META_KEY)!r}, expected {LOG_FORMAT!r}); write logs with "
            "record_executions"
        )
    missing = [c for c in EXECUTION_LOG_SCHEMA if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: execution log lacks column(s) {missing}")
    for name, dtype in EXECUTION_LOG_SCHEMA.items():
        if frame[name].dtype != dtype:
            raise DataError(
                f"{path}: column {name!r} has type {frame[name].dtype}, expected {dtype}"
            )
    frame = frame.select(EXECUTION_LOG_SCHEMA.names())
    _check_values(frame, str(path))
    return frame


def load_execution_history(
    path: str | os.PathLike[str] | None = None,
    *,
    sources: str | Sequence[str] | None = None,
    since_block: int | None = None,
) -> pl.DataFrame:
    """Return the recorded executions as the route-success model's training table.

    Parameters
    ----------
    path
        The log folder (or one log file); default ``$ARBKIT_EXECUTIONS_DIR``, else
        ``data/executions``.
    sources
        Keep only these sources (``"backtest"``, ``"dry_run"``, ``"live"``); default all.
    since_block
        Keep only decisions at blocks ``>= since_block``.

    Returns
    -------
    polars.DataFrame
        Every run file's rows (files in name order), sorted by ``block`` (stable), with
        the columns of :data:`EXECUTION_LOG_SCHEMA`: what
        :meth:`RouteSuccessPredictor.train_model` takes.

    Raises
    ------
    DataError
        If the folder is missing or holds no log file (the message says how to record
        one), a file is not a valid log (the message names it), or no row is left.
    ConfigError
        If a source is unknown.
    """
    folder = executions_dir(path)
    wanted: list[str] | None = None
    if sources is not None:
        wanted = [sources] if isinstance(sources, str) else list(sources)
        for s in wanted:
            _check_source(s, "load_execution_history")
    if folder.is_file():
        files = [folder]
    elif folder.is_dir():
        files = sorted(p for p in folder.glob("*.parquet") if p.is_file())
    else:
        files = []
    if not files:
        state = "has no *.parquet execution log" if folder.is_dir() else "does not exist"
        raise DataError(
            f"load_execution_history: {folder} {state}. Record executions first, e.g. run a "
            f'backtest with Simulator(..., record_executions="{folder}"), or point '
            f"{EXECUTIONS_DIR_ENV} (or the path argument) at a folder of logs"
        )
    table = pl.concat([_read_log(f) for f in files], how="vertical").sort(
        "block", maintain_order=True
    )
    if wanted is not None:
        table = table.filter(pl.col("source").is_in(wanted))
    if since_block is not None:
        table = table.filter(pl.col("block") >= int(since_block))
    if table.height == 0:
        raise DataError(
            f"load_execution_history: the {len(files)} log file(s) in {folder} hold no "
            f"executions (sources={wanted}, since_block={since_block})"
        )
    return table
