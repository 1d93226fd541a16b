"""Model registry and promotion gates of the research workspace.

A trained model reaches ``models/promoted/`` only through :meth:`ModelRegistry.promote`,
and only when every promotion gate passed. The gates are comparisons of evaluation
metrics with a number or with another metric, read from ``params.yaml``::

    gates:
      accuracy_min: {metric: accuracy, op: ">", threshold: 0.6}
      accuracy_vs_majority: {metric: accuracy, op: ">", threshold: majority_rate}

Files
-----
``<root>/registry.json``
    The list of promoted models (:class:`ModelRecord`), written atomically.
``<root>/promoted/<kind>/v<version>/``
    One folder per promoted version holding the byte-exact copy of the model file and
    of its sidecar **under their original names**, so that the loaders' conventions
    (the LightGBM metadata ``<model>.meta.json`` of
    :func:`arbkit.decider.predictor.sidecar_path`, the RL ``<model>.sha256``) keep
    working on the copy and no sidecar has to be rewritten.

Loading a promoted model (:meth:`ModelRegistry.load_route_model`,
:meth:`ModelRegistry.load_rl_policy`) first recomputes the sha256 of the files and
compares it with the registry (:meth:`ModelRegistry.verify`); a changed file is refused
with :class:`arbkit.errors.ModelIntegrityError` before anything is deserialised.

Examples
--------
>>> gates = gates_from_params({"auc_min": {"metric": "auc", "op": ">=", "threshold": 0.7}})
>>> results = check_gates({"auc": 0.74}, gates)
>>> results[0].passed
True
>>> registry = ModelRegistry("models")  # doctest: +SKIP
>>> registry.promote(  # doctest: +SKIP
...     "route_model", "models/route_success_model.txt", gates=results,
...     metrics={"auc": 0.74}, data_hash=hash_paths(["data/routes"]), params={},
... )
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import numbers
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

from arbkit.errors import ArbkitError, ConfigError, DataError, ModelIntegrityError
from arbkit.io import sha256_file, write_atomic

if TYPE_CHECKING:
    from arbkit.decider.predictor import RouteSuccessPredictor
    from arbkit.rl.policy import RLArbitragePolicy

__all__ = [
    "REGISTRY_FILE",
    "RL_POLICY",
    "ROUTE_MODEL",
    "GateOp",
    "GateResult",
    "GateSpec",
    "ModelRecord",
    "ModelRegistry",
    "PromotionRefused",
    "check_gates",
    "format_gates",
    "gates_from_params",
    "hash_paths",
    "sha256_file",
]

GateOp = Literal[">", ">=", "<", "<="]
_OPS: Final[tuple[str, ...]] = get_args(GateOp)
_SPEC_KEYS: Final = frozenset({"metric", "op", "threshold"})

REGISTRY_FILE: Final = "registry.json"
ROUTE_MODEL: Final = "route_model"
RL_POLICY: Final = "rl_policy"
_PROMOTED: Final = "promoted"
_KIND_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_HEX64_RE: Final = re.compile(r"[0-9a-f]{64}")
_VERSION_DIR_RE: Final = re.compile(r"v([0-9]+)")


class PromotionRefused(ArbkitError):  # noqa: N818 (the name the pipeline uses)
    """A model was not promoted because a gate failed or no gate was checked.

    Parameters
    ----------
    message
        Lists every failed gate with its reason.
    failed
        The failed gates (empty when no gate was checked at all).
    """

    def __init__(self, message: str, failed: Sequence[GateResult] = ()) -> None:
        super().__init__(message)
        self.failed: tuple[GateResult, ...] = tuple(failed)


# -- number formatting ---------------------------------------------------------------------
def _fmt(value: float | None) -> str:
    """Format a metric value with six significant digits (``0.05``, not ``0.0499999...``)."""
    if value is None:
        return "None"
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.6g}"
    return "0" if text == "-0" else text


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _as_number(value: object) -> float | None:
    """Return ``value`` as a float if it is a real number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


# -- gates ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class GateSpec:
    """One promotion gate: ``metric op threshold``.

    Attributes
    ----------
    metric
        Name of the metric compared (a key of the metrics mapping).
    op
        Comparison the metric must satisfy: ``">"``, ``">="``, ``"<"`` or ``"<="``.
    threshold
        A finite number, or the name of another metric (``accuracy > majority_rate``).

    Raises
    ------
    ConfigError
        If a field is invalid.
    """

    metric: str
    op: GateOp
    threshold: float | str

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise ConfigError(f"gate metric must be a non-empty string, got {self.metric!r}")
        if self.op not in _OPS:
            raise ConfigError(f"gate op {self.op!r}: expected one of {', '.join(_OPS)}")
        if isinstance(self.threshold, str):
            if not self.threshold:
                raise ConfigError("gate threshold must be a number or a metric name, got ''")
            return
        number = _as_number(self.threshold)
        if number is None or not math.isfinite(number):
            raise ConfigError(
                f"gate threshold must be a finite number or a metric name, got {self.threshold!r}"
            )
        object.__setattr__(self, "threshold", number)

    def describe(self) -> str:
        """Return the gate as text, e.g. ``accuracy > 0.6``."""
        threshold = self.threshold if isinstance(self.threshold, str) else _fmt(self.threshold)
        return f"{self.metric} {self.op} {threshold}"


def gates_from_params(spec: Mapping[str, Mapping[str, Any]]) -> dict[str, GateSpec]:
    """Read and validate the promotion gates of a ``params.yaml``-style mapping.

    Parameters
    ----------
    spec
        Gate name -> ``{"metric": str, "op": ">"|">="|"<"|"<=", "threshold": float|str}``;
        a string threshold names another metric.

    Returns
    -------
    dict[str, GateSpec]
        The gates, in the order of ``spec``.

    Raises
    ------
    ConfigError
        Naming the gate, if an entry is not a mapping, lacks or adds a key, has an
        unknown op, a non-finite number or a threshold that is neither a number nor a
        metric name (a quoted number such as ``"0.6"`` is refused as ambiguous).
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"gates: expected a mapping of gate name -> spec, got {type(spec).__name__}"
        )
    gates: dict[str, GateSpec] = {}
    for name, entry in spec.items():
        where = f"gate {name!r}"
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: gate names must be non-empty strings")
        if not isinstance(entry, Mapping):
            raise ConfigError(
                f"{where}: expected a mapping with keys metric, op, threshold, "
                f"got {type(entry).__name__}"
            )
        missing = sorted(_SPEC_KEYS - set(entry))
        if missing:
            raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")
        extra = sorted(str(k) for k in set(entry) - _SPEC_KEYS)
        if extra:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(extra)}; expected metric, op, threshold"
            )
        metric, op, threshold = entry["metric"], entry["op"], entry["threshold"]
        if not isinstance(metric, str) or not metric:
            raise ConfigError(f"{where}: metric must be a non-empty string, got {metric!r}")
        if op not in _OPS:
            raise ConfigError(f"{where}: unknown op {op!r}; expected one of {', '.join(_OPS)}")
        if isinstance(threshold, str):
            if _looks_numeric(threshold):
                raise ConfigError(
                    f"{where}: threshold {threshold!r} is a quoted number; write it unquoted, "
                    "or name a metric"
                )
            if not threshold:
                raise ConfigError(f"{where}: threshold is an empty string")
        else:
            number = _as_number(threshold)
            if number is None:
                raise ConfigError(
                    f"{where}: threshold must be a number or a metric name, got "
                    f"{threshold!r} ({type(threshold).__name__})"
                )
            if not math.isfinite(number):
                raise ConfigError(f"{where}: threshold {threshold!r} is not finite")
            threshold = number
        gates[name] = GateSpec(metric, op, threshold)
    return gates


@dataclass(frozen=True)
class GateResult:
    """Outcome of one gate on one set of metrics.

    Attributes
    ----------
    name
        Gate name.
    metric
        Metric compared.
    op
        Comparison.
    value
        The metric's value (NaN when missing or not a number).
    threshold
        The threshold's value (NaN when it names a missing metric).
    passed
        Whether ``value op threshold`` held.
    margin
        How far ``value`` is on the passing side: ``value - threshold`` for ``>``/``>=``,
        ``threshold - value`` for ``<``/``<=`` (negative when failed; NaN when a value
        is missing).
    reason
        ``""`` when passed, else why not (``"accuracy 0.55 is not > 0.6 (short by
        0.05)"``, ``"metric 'auc' is missing"``).
    threshold_metric
        The metric named by the threshold, or ``None`` for a numeric threshold.
    """

    name: str
    metric: str
    op: GateOp
    value: float
    threshold: float
    passed: bool
    margin: float
    reason: str = ""
    threshold_metric: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (non-finite numbers become ``None``)."""
        out = asdict(self)
        for key in ("value", "threshold", "margin"):
            if not math.isfinite(out[key]):
                out[key] = None
        return out


def _lookup(metrics: Mapping[str, float | None], name: str) -> tuple[float, str]:
    """Return ``(value, problem)`` of a metric; ``problem`` is ``""`` when it is usable."""
    if name not in metrics:
        return math.nan, f"metric {name!r} is missing"
    raw = metrics[name]
    number = _as_number(raw)
    if number is None:
        return math.nan, f"metric {name!r} is not a number ({raw!r})"
    if not math.isfinite(number):
        return number, f"metric {name!r} is not finite ({_fmt(number)})"
    return number, ""


def _compare(value: float, op: str, threshold: float) -> tuple[bool, float]:
    if op == ">":
        return value > threshold, value - threshold
    if op == ">=":
        return value >= threshold, value - threshold
    if op == "<":
        return value < threshold, threshold - value
    return value <= threshold, threshold - value


def check_gates(
    metrics: Mapping[str, float | None], gates: Mapping[str, GateSpec]
) -> list[GateResult]:
    """Evaluate every gate on a set of metrics.

    Parameters
    ----------
    metrics
        Metric name -> value. A missing, ``None``, non-numeric or non-finite value
        fails every gate that reads it (as metric or as threshold).
    gates
        Gate name -> spec (see :func:`gates_from_params`).

    Returns
    -------
    list[GateResult]
        One result per gate, in the order of ``gates``.
    """
    results: list[GateResult] = []
    for name, gate in gates.items():
        value, problem = _lookup(metrics, gate.metric)
        threshold_metric: str | None = None
        if isinstance(gate.threshold, str):
            threshold_metric = gate.threshold
            threshold, threshold_problem = _lookup(metrics, threshold_metric)
            problem = problem or threshold_problem
        else:
            threshold = float(gate.threshold)
        if problem:
            results.append(
                GateResult(
                    name=name,
                    metric=gate.metric,
                    op=gate.op,
                    value=value,
                    threshold=threshold,
                    passed=False,
                    margin=math.nan,
                    reason=problem,
                    threshold_metric=threshold_metric,
                )
            )
            continue
        passed, margin = _compare(value, gate.op, threshold)
        reason = ""
        if not passed:
            against = _fmt(threshold)
            if threshold_metric is not None:
                against = f"{threshold_metric} {against}"
            gap = "equal to it" if margin == 0 else f"short by {_fmt(-margin)}"
            reason = f"{gate.metric} {_fmt(value)} is not {gate.op} {against} ({gap})"
        results.append(
            GateResult(
                name=name,
                metric=gate.metric,
                op=gate.op,
                value=value,
                threshold=threshold,
                passed=passed,
                margin=margin,
                reason=reason,
                threshold_metric=threshold_metric,
            )
        )
    return results


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def format_gates(results: Sequence[GateResult]) -> str:
    """Return the gate results as a Markdown table for reports.

    Parameters
    ----------
    results
        Output of :func:`check_gates`.

    Returns
    -------
    str
        Columns gate, metric, value, op, threshold, margin, passed (``yes`` or
        ``**no**``, with the reason of a failure after it); ends with a newline.
    """
    lines = [
        "| gate | metric | value | op | threshold | margin | passed |",
        "|---|---|---:|:---:|---:|---:|:---:|",
    ]
    for r in results:
        threshold = _fmt(r.threshold)
        if r.threshold_metric is not None:
            threshold = f"{r.threshold_metric} ({threshold})"
        passed = "yes" if r.passed else f"**no**: {r.reason}"
        cells = (r.name, r.metric, _fmt(r.value), r.op, threshold, _fmt(r.margin), passed)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


# -- hashing -------------------------------------------------------------------------------
def hash_paths(paths: Sequence[str | os.PathLike[str]]) -> str:
    """Return a stable sha256 of files and directory trees (the training-data hash).

    Every file contributes its name and its bytes: a file given directly is named by
    its base name, a file inside a given directory by ``<dir name>/<relative posix
    path>``; directories are walked recursively in sorted order and the given paths are
    taken in sorted order, so the hash depends neither on where the data lives nor on
    the order of ``paths``. Names and contents are length-prefixed (no ambiguity
    between ``ab`` + ``c`` and ``a`` + ``bc``). Hidden files count like any other.

    Parameters
    ----------
    paths
        Files and directories.

    Returns
    -------
    str
        Hex sha256.

    Raises
    ------
    ConfigError
        If ``paths`` is empty.
    DataError
        If a path does not exist.
    """
    if isinstance(paths, str | os.PathLike) or not paths:
        raise ConfigError("hash_paths: give a non-empty sequence of files or directories")
    entries: list[tuple[tuple[str, ...], Path]] = []
    for given in paths:
        top = Path(given)
        if top.is_file():
            entries.append(((top.name,), top))
        elif top.is_dir():
            entries.extend(
                ((top.name, *p.relative_to(top).parts), p) for p in top.rglob("*") if p.is_file()
            )
        else:
            raise DataError(f"hash_paths: {top} does not exist (or is not a file or directory)")
    entries.sort(key=lambda e: e[0])
    digest = hashlib.sha256(b"arbkit.hash_paths/1\0")
    for parts, path in entries:
        name = "/".join(parts).encode("utf-8")
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(path.stat().st_size.to_bytes(8, "big"))
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


# -- records -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelRecord:
    """One promoted model in ``registry.json``.

    Attributes
    ----------
    kind
        Model family, e.g. ``"route_model"`` or ``"rl_policy"``.
    version
        1, 2, ... per kind.
    file
        The promoted model file, relative to the registry root (posix).
    sha256
        sha256 of the promoted model file.
    sidecar
        The promoted sidecar (relative posix path), or ``None``.
    sidecar_sha256
        sha256 of the sidecar, or ``None``.
    metrics
        Evaluation metrics (finite values only).
    gates
        The passed gates (:meth:`GateResult.to_dict`).
    data_hash
        Hash of the training data (e.g. :func:`hash_paths`).
    params
        Training parameters.
    git_revision
        Commit of the code that produced the model, or ``"unknown"``.
    promoted_utc
        ISO time of the promotion.
    """

    kind: str
    version: int
    file: str
    sha256: str
    sidecar: str | None
    sidecar_sha256: str | None
    metrics: dict[str, float]
    gates: list[dict[str, Any]]
    data_hash: str
    params: dict[str, Any]
    git_revision: str
    promoted_utc: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (the form stored in ``registry.json``)."""
        return json.loads(json.dumps(asdict(self), allow_nan=False))  # type: ignore[no-any-return]

    @classmethod
    def from_dict(
        cls,
        data: object,
        *,
        source: str | os.PathLike[str] = REGISTRY_FILE,
        index: int | None = None,
    ) -> ModelRecord:
        """Rebuild and validate a record.

        Parameters
        ----------
        data
            A dict as written by :meth:`to_dict` (unknown keys are ignored).
        source
            Registry file, named in errors.
        index
            Position of the record in the file, named in errors.

        Returns
        -------
        ModelRecord
            The record.

        Raises
        ------
        DataError
            Naming ``source`` and ``index``, if a key is missing or a value has the
            wrong type or form (e.g. a path outside the root, a malformed sha256).
        """
        where = f"{source}: record {index}" if index is not None else f"{source}: record"

        def bad(message: str) -> DataError:
            return DataError(f"{where}: {message}")

        if not isinstance(data, Mapping):
            raise bad(f"expected an object, got {type(data).__name__}")
        missing = [f for f in _RECORD_FIELDS if f not in data]
        if missing:
            raise bad(f"missing key(s) {', '.join(missing)}")

        def text(key: str, *, optional: bool = False) -> str | None:
            value = data[key]
            if value is None and optional:
                return None
            if not isinstance(value, str) or not value:
                raise bad(f"{key} must be a non-empty string, got {value!r}")
            return value

        def sha(key: str, *, optional: bool = False) -> str | None:
            value = text(key, optional=optional)
            if value is not None and _HEX64_RE.fullmatch(value) is None:
                raise bad(f"{key} {value!r} is not a sha256 (64 lower-case hex digits)")
            return value

        def rel_path(key: str, *, optional: bool = False) -> str | None:
            value = text(key, optional=optional)
            if value is not None:
                pure = PurePosixPath(value)
                if pure.is_absolute() or ".." in pure.parts or "\\" in value:
                    raise bad(f"{key} {value!r} must be a relative posix path inside the root")
            return value

        kind = text("kind")
        assert kind is not None
        if _KIND_RE.fullmatch(kind) is None:
            raise bad(f"kind {kind!r} is not a valid kind name")
        version = data["version"]
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise bad(f"version must be an integer >= 1, got {version!r}")
        file = rel_path("file")
        digest = sha("sha256")
        sidecar = rel_path("sidecar", optional=True)
        sidecar_sha = sha("sidecar_sha256", optional=True)
        if (sidecar is None) != (sidecar_sha is None):
            raise bad("sidecar and sidecar_sha256 must both be set or both be null")
        metrics_raw = data["metrics"]
        if not isinstance(metrics_raw, Mapping):
            raise bad(f"metrics must be an object, got {type(metrics_raw).__name__}")
        metrics: dict[str, float] = {}
        for key, raw in metrics_raw.items():
            number = _as_number(raw)
            if not isinstance(key, str) or number is None or not math.isfinite(number):
                raise bad(f"metric {key!r} must be a finite number, got {raw!r}")
            metrics[key] = number
        gates = data["gates"]
        if not isinstance(gates, list) or not all(isinstance(g, Mapping) for g in gates):
            raise bad("gates must be a list of objects")
        data_hash = text("data_hash")
        params = data["params"]
        if not isinstance(params, Mapping):
            raise bad(f"params must be an object, got {type(params).__name__}")
        git_revision = text("git_revision")
        promoted_utc = text("promoted_utc")
        assert promoted_utc is not None
        try:
            datetime.fromisoformat(promoted_utc)
        except ValueError:
            raise bad(f"promoted_utc {promoted_utc!r} is not an ISO time") from None
        assert file is not None and digest is not None
        assert data_hash is not None and git_revision is not None
        return cls(
            kind=kind,
            version=version,
            file=file,
            sha256=digest,
            sidecar=sidecar,
            sidecar_sha256=sidecar_sha,
            metrics=metrics,
            gates=[dict(g) for g in gates],
            data_hash=data_hash,
            params=dict(params),
            git_revision=git_revision,
            promoted_utc=promoted_utc,
        )


_RECORD_FIELDS: Final = tuple(ModelRecord.__dataclass_fields__)


# -- sidecar conventions of the known kinds ------------------------------------------------
def _conventional_sidecar(kind: str, model_file: Path) -> Path | None:
    """Return where the loader of ``kind`` looks for the sidecar of ``model_file``."""
    if kind == ROUTE_MODEL:
        from arbkit.decider.predictor import sidecar_path

        return sidecar_path(model_file)
    if kind == RL_POLICY:  # RLArbitragePolicy.save / load: "<file>.sha256"
        return model_file.with_name(model_file.name + ".sha256")
    return None


def _trial_load(kind: str, model_file: Path, digest: str) -> None:
    """Load a model of a known kind with its own loader (hash checks included)."""
    if kind == ROUTE_MODEL:
        from arbkit.decider.predictor import RouteSuccessPredictor

        RouteSuccessPredictor(model_path=model_file).load_model(model_file, expected_sha256=digest)
    elif kind == RL_POLICY:
        from arbkit.rl.policy import RLArbitragePolicy

        RLArbitragePolicy.load(model_file)


def _git_revision(start: Path) -> str:
    """Return ``git rev-parse HEAD`` run in ``start`` (or its nearest existing parent)."""
    cwd = start.absolute()
    while not cwd.is_dir() and cwd != cwd.parent:
        cwd = cwd.parent
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    revision = proc.stdout.strip()
    if proc.returncode != 0 or re.fullmatch(r"[0-9a-f]{40,64}", revision) is None:
        return "unknown"
    return revision


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- the registry --------------------------------------------------------------------------
class ModelRegistry:
    """Promoted models with their hashes, metrics, gates and provenance.

    Parameters
    ----------
    root
        Folder of ``registry.json`` and ``promoted/`` (``models`` by default).

    Examples
    --------
    >>> registry = ModelRegistry("models")  # doctest: +SKIP
    >>> predictor = registry.load_route_model()  # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike[str] = "models") -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ModelRegistry({str(self.root)!r})"

    @property
    def registry_file(self) -> Path:
        """The record list, ``<root>/registry.json``."""
        return self.root / REGISTRY_FILE

    # -- reading ----------------------------------------------------------------------------
    def _read(self) -> list[ModelRecord]:
        path = self.registry_file
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return []
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, list):
            raise DataError(
                f"{path}: expected a JSON list of model records, got {type(data).__name__}"
            )
        records = [ModelRecord.from_dict(item, source=path, index=i) for i, item in enumerate(data)]
        seen: dict[tuple[str, int], int] = {}
        for i, rec in enumerate(records):
            key = (rec.kind, rec.version)
            if key in seen:
                raise DataError(
                    f"{path}: record {i}: {rec.kind} v{rec.version} is also record {seen[key]}"
                )
            seen[key] = i
        return records

    def records(self, kind: str | None = None) -> list[ModelRecord]:
        """Return the promoted models, in promotion order.

        Parameters
        ----------
        kind
            Only this kind; all kinds when ``None``.

        Returns
        -------
        list[ModelRecord]
            Empty when the registry file does not exist yet.

        Raises
        ------
        DataError
            If ``registry.json`` is not valid JSON, not a list, or holds a malformed
            record (the file and the record index are named).
        """
        records = self._read()
        return records if kind is None else [r for r in records if r.kind == kind]

    def latest(self, kind: str) -> ModelRecord | None:
        """Return the newest (highest version) record of ``kind``, or ``None``.

        Raises
        ------
        DataError
            As :meth:`records`.
        """
        records = self.records(kind)
        return max(records, key=lambda r: r.version) if records else None

    # -- promotion --------------------------------------------------------------------------
    def promote(
        self,
        kind: str,
        model_file: str | os.PathLike[str],
        *,
        gates: Sequence[GateResult],
        metrics: Mapping[str, float | None],
        data_hash: str,
        params: Mapping[str, Any],
        sidecar: str | os.PathLike[str] | None = None,
        git_revision: str | None = None,
    ) -> ModelRecord:
        """Copy a model that passed its gates into ``promoted/`` and record it.

        The model file and its sidecar are copied byte for byte, under their original
        names, into a new folder ``<root>/promoted/<kind>/v<version>/`` (written as a
        temporary folder, then renamed); for ``route_model`` and ``rl_policy`` the copy
        is then loaded once with its own loader (which checks the sidecar's hashes), and
        finally the record is appended to ``registry.json`` atomically. When any step
        fails the new folder is removed and ``registry.json`` is unchanged.

        Parameters
        ----------
        kind
            Model family (``"route_model"``, ``"rl_policy"``, or another name of
            letters, digits, ``_``, ``.``, ``-``).
        model_file
            The trained model.
        gates
            Results of :func:`check_gates`; all must have passed.
        metrics
            Evaluation metrics to record (values that are ``None`` or not finite are
            left out; the gates record what they saw).
        data_hash
            Hash of the training data (e.g. :func:`hash_paths`).
        params
            Training parameters (JSON-serialisable).
        sidecar
            The model's sidecar. For ``route_model`` and ``rl_policy`` it defaults to
            the loader's convention (``<model>.meta.json``, ``<model>.sha256``), must
            exist and must carry that name.
        git_revision
            Commit to record; default ``git rev-parse HEAD`` run in the root's
            repository, or ``"unknown"``.

        Returns
        -------
        ModelRecord
            The new record.

        Raises
        ------
        PromotionRefused
            If ``gates`` is empty or a gate failed (every failed gate is listed).
        ConfigError
            If ``kind``, ``data_hash``, ``params`` or the sidecar name is invalid.
        DataError
            If the model file or sidecar is missing, or ``registry.json`` is malformed.
        ModelIntegrityError
            If the copy does not load with its sidecar (e.g. a changed model file).
        """
        if not gates:
            raise PromotionRefused(
                f"refusing to promote {kind} from {model_file}: no gate was checked; "
                "a model is promoted only when its gates pass"
            )
        failed = [g for g in gates if not g.passed]
        if failed:
            lines = "\n".join(f"  - {g.name}: {g.reason or 'failed'}" for g in failed)
            raise PromotionRefused(
                f"refusing to promote {kind} from {model_file}: {len(failed)} of {len(gates)} "
                f"gate(s) failed:\n{lines}",
                failed,
            )
        if not isinstance(kind, str) or _KIND_RE.fullmatch(kind) is None:
            raise ConfigError(
                f"kind {kind!r}: use 1-64 letters, digits, '_', '.', '-' (starting with a "
                "letter or digit)"
            )
        if not isinstance(data_hash, str) or not data_hash:
            raise ConfigError(f"data_hash must be a non-empty string, got {data_hash!r}")
        try:
            params_json = json.loads(json.dumps(dict(params), allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"params of {kind} are not JSON-serialisable ({exc})") from None
        clean_metrics: dict[str, float] = {}
        for key, raw in metrics.items():
            number = _as_number(raw)
            if number is not None and math.isfinite(number):
                clean_metrics[str(key)] = number

        source = Path(model_file)
        convention = _conventional_sidecar(kind, source)
        side_source = Path(sidecar) if sidecar is not None else convention
        if side_source is not None and side_source.name == source.name:
            raise ConfigError(f"sidecar {side_source} has the model file's name")
        if (
            side_source is not None
            and convention is not None
            and side_source.name != convention.name
        ):
            raise ConfigError(
                f"sidecar {side_source}: the {kind} loader looks for {convention.name} "
                f"beside {source.name}; save the model with its own save method"
            )
        try:
            model_bytes = source.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise DataError(f"{source}: no such model file to promote") from None
        side_bytes: bytes | None = None
        if side_source is not None:
            try:
                side_bytes = side_source.read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                raise DataError(
                    f"{side_source}: no sidecar of {source}; cannot promote an unverifiable {kind}"
                ) from None

        revision = git_revision if git_revision is not None else _git_revision(self.root)
        existing = self._read()  # a malformed registry stops us before any copy
        kind_dir = self.root / _PROMOTED / kind
        version = 1 + max(
            [r.version for r in existing if r.kind == kind] + self._version_dirs(kind_dir),
            default=0,
        )
        final_dir = kind_dir / f"v{version}"
        kind_dir.mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(tempfile.mkdtemp(dir=kind_dir, prefix=f".v{version}.", suffix=".tmp"))
        moved = False
        try:
            os.chmod(tmp_dir, 0o755)
            _write_synced(tmp_dir / source.name, model_bytes)
            digest = sha256_file(tmp_dir / source.name)
            if digest != hashlib.sha256(model_bytes).hexdigest():
                raise ModelIntegrityError(f"{tmp_dir / source.name}: copy differs from {source}")
            side_digest: str | None = None
            if side_source is not None and side_bytes is not None:
                _write_synced(tmp_dir / side_source.name, side_bytes)
                side_digest = sha256_file(tmp_dir / side_source.name)
            try:
                _trial_load(kind, tmp_dir / source.name, digest)
            except (ModelIntegrityError, DataError, ConfigError) as exc:
                raise type(exc)(
                    f"refusing to promote {source} as {kind} v{version}: its copy does not "
                    f"load ({exc})"
                ) from exc
            _fsync_dir(tmp_dir)
            os.rename(tmp_dir, final_dir)
            moved = True
            _fsync_dir(kind_dir)
            rel_dir = PurePosixPath(_PROMOTED, kind, f"v{version}")
            record = ModelRecord(
                kind=kind,
                version=version,
                file=str(rel_dir / source.name),
                sha256=digest,
                sidecar=str(rel_dir / side_source.name) if side_source is not None else None,
                sidecar_sha256=side_digest,
                metrics=clean_metrics,
                gates=[g.to_dict() for g in gates],
                data_hash=data_hash,
                params=params_json,
                git_revision=revision,
                promoted_utc=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            self._write([*existing, record])
        except BaseException:
            shutil.rmtree(final_dir if moved else tmp_dir, ignore_errors=True)
            raise
        return record

    @staticmethod
    def _version_dirs(kind_dir: Path) -> list[int]:
        """Return the versions of the existing ``v<N>`` folders (also unrecorded ones)."""
        if not kind_dir.is_dir():
            return []
        return [
            int(m.group(1))
            for p in kind_dir.iterdir()
            if (m := _VERSION_DIR_RE.fullmatch(p.name)) is not None
        ]

    def _write(self, records: Sequence[ModelRecord]) -> None:
        data = [r.to_dict() for r in records]
        text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"
        write_atomic(self.registry_file, text.encode("utf-8"))

    # -- verification and loading -----------------------------------------------------------
    def verify(self, record: ModelRecord) -> Path:
        """Check the promoted file (and sidecar) of a record against its sha256.

        Parameters
        ----------
        record
            A record of this registry.

        Returns
        -------
        Path
            Absolute path of the promoted model file.

        Raises
        ------
        ModelIntegrityError
            If a file is missing or its sha256 differs from the record (the file and
            the first 12 hex digits of both hashes are named).
        """
        checks = [(record.file, record.sha256)]
        if record.sidecar is not None and record.sidecar_sha256 is not None:
            checks.append((record.sidecar, record.sidecar_sha256))
        for rel, expected in checks:
            path = self.root / rel
            try:
                actual = sha256_file(path)
            except (FileNotFoundError, IsADirectoryError):
                raise ModelIntegrityError(
                    f"{path}: promoted file of {record.kind} v{record.version} is missing "
                    f"(recorded in {self.registry_file}); refusing to load it"
                ) from None
            if actual != expected:
                raise ModelIntegrityError(
                    f"{path}: sha256 {actual[:12]}... does not match {expected[:12]}... "
                    f"recorded in {self.registry_file} for {record.kind} v{record.version}; "
                    "the file was changed, refusing to load it"
                )
        return (self.root / record.file).absolute()

    def _record_of(self, kind: str, record: ModelRecord | None) -> ModelRecord:
        if record is None:
            record = self.latest(kind)
            if record is None:
                raise DataError(
                    f"no promoted {kind} in {self.registry_file}; run the pipeline "
                    "(dvc repro) to train, gate and promote one"
                )
        if record.kind != kind:
            raise ConfigError(f"record {record.kind} v{record.version} is not a {kind}")
        return record

    def load_route_model(self, record: ModelRecord | None = None) -> RouteSuccessPredictor:
        """Load a promoted route-success model after verifying its hashes.

        Parameters
        ----------
        record
            The record to load; the latest ``route_model`` when ``None``.

        Returns
        -------
        RouteSuccessPredictor
            The loaded predictor.

        Raises
        ------
        DataError
            If no ``route_model`` was promoted.
        ModelIntegrityError
            If a promoted file changed; nothing is deserialised then.
        """
        from arbkit.decider.predictor import RouteSuccessPredictor

        rec = self._record_of(ROUTE_MODEL, record)
        path = self.verify(rec)
        return RouteSuccessPredictor(model_path=path).load_model(path, expected_sha256=rec.sha256)

    def load_rl_policy(self, record: ModelRecord | None = None) -> RLArbitragePolicy:
        """Load a promoted RL policy after verifying its hashes.

        Parameters
        ----------
        record
            The record to load; the latest ``rl_policy`` when ``None``.

        Returns
        -------
        RLArbitragePolicy
            The loaded policy (with its saved configuration).

        Raises
        ------
        DataError
            If no ``rl_policy`` was promoted.
        ModelIntegrityError
            If a promoted file changed; nothing is deserialised then.
        """
        from arbkit.rl.policy import RLArbitragePolicy

        rec = self._record_of(RL_POLICY, record)
        path = self.verify(rec)
        return RLArbitragePolicy.load(path)
