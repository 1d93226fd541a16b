"""Advanced AI decider (user guide section 1): scoring, route-success model, Kelly sizing, learning.

Public names: :class:`AdvancedAIDecider`, :class:`AdvancedAIConfig`, :class:`MarketRegime`,
:class:`AICandidate`, :class:`RouteSuccessPredictor`, the bid (:class:`WinProbabilityModel`,
:class:`BidConfig`, :func:`choose_bids`, :func:`candidate_bids`), the training entry
:func:`train_route_model`, the execution log (:func:`load_execution_history`,
:func:`record_executions`, :func:`executions_table`), and their helpers. Runners (they
write files): ``python -m arbkit.decider.report`` (walk-forward holdout) and
``python -m arbkit.decider.evaluate`` (policy comparison). Importing this package does no
I/O.
"""

from __future__ import annotations

from arbkit.decider.bidding import BidConfig, WinProbabilityModel, candidate_bids, choose_bids
from arbkit.decider.candidates import FLASH_KINDS, AICandidate, CandidateBatch
from arbkit.decider.config import (
    AdvancedAIConfig,
    FactorWeights,
    RoutePredictorConfig,
    ScoringParams,
)
from arbkit.decider.decider import AdvancedAIDecider, AIDecision, RouteRecord
from arbkit.decider.errors import DeciderError, ModelNotTrainedError
from arbkit.decider.history import (
    executions_table,
    load_execution_history,
    record_executions,
)
from arbkit.decider.predictor import (
    DEFAULT_MODEL_PATH,
    Calibrator,
    ModelMetadata,
    RouteSuccessPredictor,
    sidecar_path,
)
from arbkit.decider.scoring import FACTOR_NAMES, factor_matrix, score_candidates
from arbkit.decider.sizing import Sizing, amm_net_profit, size_trades
from arbkit.decider.training import (
    CrossValidationResult,
    RouteDataset,
    TradePolicy,
    build_route_dataset,
    cross_validate_route_model,
    train_route_model,
)
from arbkit.features.regime import MarketRegime

__all__ = [
    "DEFAULT_MODEL_PATH",
    "FACTOR_NAMES",
    "FLASH_KINDS",
    "AICandidate",
    "AIDecision",
    "AdvancedAIConfig",
    "AdvancedAIDecider",
    "BidConfig",
    "Calibrator",
    "CandidateBatch",
    "CrossValidationResult",
    "DeciderError",
    "FactorWeights",
    "MarketRegime",
    "ModelMetadata",
    "ModelNotTrainedError",
    "RouteDataset",
    "RoutePredictorConfig",
    "RouteRecord",
    "RouteSuccessPredictor",
    "ScoringParams",
    "Sizing",
    "TradePolicy",
    "WinProbabilityModel",
    "amm_net_profit",
    "build_route_dataset",
    "candidate_bids",
    "choose_bids",
    "cross_validate_route_model",
    "executions_table",
    "factor_matrix",
    "load_execution_history",
    "record_executions",
    "score_candidates",
    "sidecar_path",
    "size_trades",
    "train_route_model",
]
