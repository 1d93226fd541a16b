"""The execution log: recorded by the backtest, loaded as the route model's training table."""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from arbkit.backtest import BacktestConfig, BlockView, Order, Simulator
from arbkit.backtest.protocol import PolicyBase
from arbkit.decider import (
    RouteSuccessPredictor,
    build_route_dataset,
    executions_table,
    load_execution_history,
    record_executions,
)
from arbkit.decider.history import EXECUTION_LOG_SCHEMA, EXECUTIONS_DIR_ENV, LOG_FORMAT
from arbkit.errors import ConfigError, DataError
from arbkit.execution import Outcome
from arbkit.features import ROUTE_FEATURE_NAMES, FeatureConfig, make_route_key
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market

SEED = 3
EMA_FEATURE = "route_success_ema"
CANDIDATE_FEATURES = [f for f in ROUTE_FEATURE_NAMES if f != EMA_FEATURE]


class _Mixed(PolicyBase):
    """Trades a candidate at every block (sometimes the second best, sometimes half size)
    and buys spot now and then (spot trades have no candidate and are not logged)."""

    every_block = False

    def __init__(self) -> None:
        super().__init__()
        self.name = "mixed policy/v1"

    def on_block(self, view: BlockView) -> Sequence[Order]:
        c = view.candidates
        i = 1 if view.block % 3 == 0 and c.height > 1 else 0
        own = int(c["amount_in"][i])
        amount = own // 2 if view.block % 5 == 0 else None
        orders = [Order(cand_id=int(c["cand_id"][i]), amount_in=amount)]
        if view.block % 7 == 0:
            orders.append(Order(side="buy", amount_quote=500.0))
        return orders

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        """Learn nothing."""


@pytest.fixture(scope="module")
def history() -> MarketHistory:
    return simulate_market(seed=5, n_blocks=4_000)


@pytest.fixture(scope="module")
def recorded(history: MarketHistory, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("executions")
    sim = Simulator(_Mixed(), history, BacktestConfig(seed=SEED), record_executions=folder)
    result = sim.run_sync()
    return sim, result, folder


@pytest.fixture(scope="module")
def log(recorded) -> pl.DataFrame:
    _, _, folder = recorded
    return load_execution_history(folder)


def _executed(result) -> pl.DataFrame:
    return result.trades.filter(pl.col("cand_id").is_not_null())


# -- recording ------------------------------------------------------------------------------
def test_backtest_writes_one_log_file_named_after_the_run(recorded) -> None:
    _, result, folder = recorded
    files = sorted(folder.iterdir())
    assert len(files) == 1
    assert re.fullmatch(r"backtest-mixed_policy_v1-seed3-\d{8}T\d{12}Z\.parquet", files[0].name)
    assert result.extras["executions_path"] == str(files[0])
    assert pl.read_parquet_metadata(files[0])["arbkit_format"] == LOG_FORMAT
    frame = pl.read_parquet(files[0])
    assert frame.schema == EXECUTION_LOG_SCHEMA
    assert set(frame["source"]) == {"backtest"}
    assert set(frame["run_id"]) == {files[0].stem}


def test_recording_does_not_change_the_backtest(
    history: MarketHistory, recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, result, _ = recorded
    monkeypatch.chdir(tmp_path)
    plain = Simulator(_Mixed(), history, BacktestConfig(seed=SEED)).run_sync()
    assert "executions_path" not in plain.extras
    assert list(tmp_path.iterdir()) == []  # nothing written by default
    assert plain.trades.equals(result.trades)
    assert plain.to_dict() == result.to_dict()


def test_log_rows_are_the_executed_candidate_trades_with_their_outcomes(recorded, log) -> None:
    sim, result, _ = recorded
    trades = result.trades
    executed = _executed(result)
    assert trades.filter(pl.col("cand_id").is_null()).height > 0  # spot trades were skipped
    assert log.height == executed.height > 300
    # one run: load_execution_history's stable sort by block keeps the trades' order
    assert log["block"].to_list() == executed["block"].to_list()
    assert log["success"].to_list() == executed["success"].to_list()
    assert log["reason"].to_list() == executed["reason"].to_list()
    assert log["realized_net_quote"].to_list() == executed["net_profit_quote"].to_list()
    assert log["included_block"].to_list() == executed["included_block"].to_list()
    assert log["kind"].to_list() == executed["kind"].to_list()
    assert log["symbol"].to_list() == executed["symbol"].to_list()
    cands = sim.replay.candidates[executed["cand_id"].to_list()]
    keys = [
        make_route_key(r, s, y)
        for r, s, y in zip(
            cands["route"].to_list(),
            cands["start_token"].to_list(),
            cands["symbol"].to_list(),
            strict=True,
        )
    ]
    assert log["route_key"].to_list() == keys
    # both outcomes occur
    assert 0.0 < log["success"].mean() < 1.0  # type: ignore[operator]


def test_candidate_features_equal_build_route_datasets(history, recorded, log) -> None:
    _, result, _ = recorded
    ids = _executed(result)["cand_id"].to_list()
    # the default BacktestConfig and build_route_dataset's defaults give the same replay;
    # the dataset's row i is the replay's candidate i (cand_id)
    dataset = build_route_dataset(history, seed=0)
    assert dataset.candidates.height == recorded[0].replay.candidates.height
    expected = dataset.table[ids]
    for col in ("block", "route_key", "kind", "symbol", *CANDIDATE_FEATURES):
        assert log[col].equals(expected[col]), col


def _naive_ema(log: pl.DataFrame, delay: int, alpha: float, prior: float) -> list[float]:
    """Each row's route EMA over the log's outcomes decided at blocks <= block - delay."""
    rows = list(zip(log["route_key"], log["block"], log["success"], strict=True))
    out = []
    for key, block, _ in rows:
        ema = prior
        for k2, _, won in sorted(
            ((k, b, s) for k, b, s in rows if k == key and b <= block - delay),
            key=lambda r: r[1],
        ):
            assert k2 == key
            ema = (1 - alpha) * ema + alpha * float(won)
        out.append(ema)
    return out


def test_route_ema_folds_only_the_runs_own_outcomes_known_at_the_block(recorded, log) -> None:
    sim, _, _ = recorded
    cfg = FeatureConfig().for_execution(sim.replay.execution, sim.replay.latency_ms)
    delay = cfg.label_delay_blocks
    assert delay == sim.replay.label_delay_blocks == 3
    expected = _naive_ema(log, delay, cfg.route_ema_alpha, cfg.route_prior_success)
    np.testing.assert_allclose(log[EMA_FEATURE].to_numpy(), expected, rtol=0, atol=1e-12)
    assert log[EMA_FEATURE].n_unique() > 5


def test_features_do_not_change_when_later_outcomes_change(recorded) -> None:
    sim, result, _ = recorded
    trades = result.trades
    table = executions_table(sim.replay, trades)
    cut = int(table["block"].median())  # type: ignore[arg-type]
    flipped = trades.with_columns(
        pl.when(pl.col("block") > cut)
        .then(~pl.col("success"))
        .otherwise(pl.col("success"))
        .alias("success")
    )
    other = executions_table(sim.replay, flipped)
    delay = sim.replay.label_delay_blocks
    before = pl.col("block") <= cut + delay
    for col in ROUTE_FEATURE_NAMES:
        assert other.filter(before)[col].equals(table.filter(before)[col]), col
    after = ~before
    assert not other.filter(after)[EMA_FEATURE].equals(table.filter(after)[EMA_FEATURE])
    assert not other["success"].equals(table["success"])


def test_executions_table_refuses_trades_of_another_replay(recorded) -> None:
    sim, result, _ = recorded
    shifted = result.trades.with_columns((pl.col("cand_id") - 1).clip(0))
    with pytest.raises(DataError, match="another replay"):
        executions_table(sim.replay, shifted)
    with pytest.raises(DataError, match="cand_id"):
        executions_table(sim.replay, result.trades.with_columns(pl.col("cand_id") + 10**9))
    with pytest.raises(DataError, match="reason"):
        executions_table(sim.replay, result.trades.drop("reason"))
    empty = executions_table(sim.replay, result.trades.filter(pl.col("cand_id").is_null()))
    assert empty.height == 0
    assert empty.columns == [c for c in EXECUTION_LOG_SCHEMA if c not in ("source", "run_id")]


# -- training -------------------------------------------------------------------------------
def test_the_log_trains_and_saves_the_route_model(log, tmp_path: Path) -> None:
    predictor = RouteSuccessPredictor()
    metrics = predictor.train_model(log)
    assert metrics["n_samples"] == log.height
    path = predictor.save_model(tmp_path / "route_success_model.txt")
    assert path.is_file()
    loaded = RouteSuccessPredictor().load_model(path)
    x = log.select(ROUTE_FEATURE_NAMES)
    np.testing.assert_array_equal(loaded.predict_proba(x), predictor.predict_proba(x))


def test_guide_model_training_example_runs_with_only_its_import_changed(
    guide: Path, recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, folder = recorded
    text = guide.read_text()
    start = text.index("### 1. Model Training", text.index("## Performance Optimization"))
    block = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert block is not None
    old = "from src.ai.advanced_decider import RouteSuccessPredictor"
    assert old in block.group(1)
    code = block.group(1).replace(
        old, "from arbkit.decider import RouteSuccessPredictor, load_execution_history"
    )
    # the default model path is relative (models/route_success_model.txt): run in tmp
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(EXECUTIONS_DIR_ENV, str(folder))
    namespace: dict[str, object] = {}
    exec(compile(code, "guide-model-training", "exec"), namespace)
    model = tmp_path / "models" / "route_success_model.txt"
    assert model.is_file()
    predictor = RouteSuccessPredictor().load_model(model)
    assert predictor.metadata is not None
    history = namespace["history"]
    assert isinstance(history, pl.DataFrame)
    assert predictor.metadata.n_samples == history.height > 300


# -- loading --------------------------------------------------------------------------------
def test_load_concatenates_runs_sorted_by_block_and_filters(recorded, tmp_path: Path) -> None:
    _, _, folder = recorded
    (src,) = folder.iterdir()
    one = load_execution_history(src)  # a single file
    shutil.copy(src, tmp_path / src.name)
    second = one.head(40).drop("source", "run_id")
    record_executions(tmp_path, second, source="dry_run", run_id="a-dry-run")
    record_executions(tmp_path / "zz-live.parquet", second.head(5), source="live", run_id="zz")
    table = load_execution_history(tmp_path)
    assert table.height == one.height + 45
    assert table["block"].is_sorted()
    # equal blocks keep the files' name order: a-dry-run, backtest-..., zz-live
    first_block = table.filter(pl.col("block") == one["block"][0])
    assert first_block["source"].to_list() == ["dry_run", "backtest", "live"]
    assert load_execution_history(tmp_path, sources="live").height == 5
    both = load_execution_history(tmp_path, sources=["live", "dry_run"])
    assert both.height == 45
    assert set(both["source"]) == {"live", "dry_run"}
    cut = int(one["block"][100])
    late = load_execution_history(tmp_path, sources=("backtest",), since_block=cut)
    assert late.equals(one.filter(pl.col("block") >= cut))
    with pytest.raises(ConfigError, match="source"):
        load_execution_history(tmp_path, sources="paper")
    with pytest.raises(DataError, match="no executions"):
        load_execution_history(tmp_path, since_block=10**12)


def test_load_uses_the_environment_variable(
    recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, folder = recorded
    monkeypatch.setenv(EXECUTIONS_DIR_ENV, str(folder))
    assert load_execution_history().equals(load_execution_history(folder))
    monkeypatch.delenv(EXECUTIONS_DIR_ENV)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=re.escape(str(Path("data") / "executions"))):
        load_execution_history()


def test_missing_or_empty_folders_say_how_to_record(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="does not exist") as err:
        load_execution_history(missing)
    assert str(missing) in str(err.value)
    assert "record_executions=" in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="has no") as err:
        load_execution_history(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(err.value)
    assert "Simulator(" in str(err.value)


def test_malformed_files_are_refused_naming_them(log, tmp_path: Path) -> None:
    garbage = tmp_path / "a" / "run.parquet"
    garbage.parent.mkdir()
    garbage.write_bytes(b"not parquet")
    with pytest.raises(DataError, match=re.escape(str(garbage))):
        load_execution_history(garbage.parent)

    foreign = tmp_path / "b" / "run.parquet"
    foreign.parent.mkdir()
    log.write_parquet(foreign)  # right columns, not written by record_executions
    with pytest.raises(DataError, match=re.escape(str(foreign)) + ".*not an execution log"):
        load_execution_history(foreign.parent)

    lacking = tmp_path / "c" / "run.parquet"
    lacking.parent.mkdir()
    log.drop("success").write_parquet(lacking, metadata={"arbkit_format": LOG_FORMAT})
    with pytest.raises(DataError, match=re.escape(str(lacking)) + ".*'success'"):
        load_execution_history(lacking.parent)

    typed = tmp_path / "d" / "run.parquet"
    typed.parent.mkdir()
    log.with_columns(pl.col("block").cast(pl.String)).write_parquet(
        typed, metadata={"arbkit_format": LOG_FORMAT}
    )
    with pytest.raises(DataError, match=re.escape(str(typed)) + ".*'block'"):
        load_execution_history(typed.parent)

    # a valid file beside a bad one does not hide it
    good = tmp_path / "e"
    record_executions(good, log.head(3), source="backtest", run_id=log["run_id"][0])
    shutil.copy(garbage, good / "zz.parquet")
    with pytest.raises(DataError, match=r"zz\.parquet"):
        load_execution_history(good)


def test_record_executions_validates_its_input(log, tmp_path: Path) -> None:
    rows = log.head(10).drop("source", "run_id")
    with pytest.raises(DataError, match="'realized_net_quote'"):
        record_executions(tmp_path, rows.drop("realized_net_quote"), source="live", run_id="r1")
    with pytest.raises(DataError, match="'block'"):
        record_executions(
            tmp_path, rows.with_columns(pl.lit("x").alias("block")), source="live", run_id="r1"
        )
    with pytest.raises(DataError, match="'success' is null"):
        record_executions(
            tmp_path,
            rows.with_columns(pl.lit(None, dtype=pl.Boolean).alias("success")),
            source="live",
            run_id="r1",
        )
    with pytest.raises(ConfigError, match="source"):
        record_executions(tmp_path, rows, source="paper", run_id="r1")
    with pytest.raises(ConfigError, match="run_id"):
        record_executions(tmp_path, rows, source="live", run_id="../escape")
    with pytest.raises(DataError, match="'source' differs"):
        record_executions(tmp_path, log.head(3), source="live", run_id=log["run_id"][0])
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    path = record_executions(tmp_path, rows, source="live", run_id="r1")
    assert path == tmp_path / "r1.parquet"
    with pytest.raises(DataError, match="already recorded"):
        record_executions(tmp_path, rows, source="live", run_id="r1")
    back = load_execution_history(tmp_path)
    assert back.drop("source", "run_id").equals(rows)
    assert [p.name for p in tmp_path.iterdir()] == ["r1.parquet"]  # no temporary files left
