"""The Ray executor: tasks as Ray remote functions (the only module that imports Ray).

Local by default: ``ray.init()`` on this machine with ``workers`` CPUs (default every
core). With an ``address`` (or ``RAY_ADDRESS``) it joins that cluster instead and uses
``workers`` of its CPUs at a time (default all of them).

A task whose worker process dies (killed, out of memory, node lost) is resubmitted by
Ray up to ``max_retries`` times. Tasks are pure functions of their arguments (every seed
travels with the task), so a retried task returns what the first attempt would have.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from arbkit.errors import ArbkitError, ConfigError

__all__ = ["WORKER_ENV", "RayExecutor"]

WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "POLARS_MAX_THREADS": "1",
    "RAY_DEDUP_LOGS": "0",
}
"""Environment of Ray's workers: one thread each, so that ``workers`` tasks use
``workers`` cores (the libraries' own pools would otherwise fight over them)."""


class RayExecutor:
    """Run tasks on Ray workers.

    Parameters
    ----------
    address
        A cluster's address (``host:port`` of its head, as ``ray start --head`` prints
        it, or ``auto``); default ``RAY_ADDRESS``, else a Ray of its own on this machine
        (even when a ``ray start`` cluster runs here too).
    workers
        Tasks at a time; default every CPU of the local Ray or of the cluster.
    max_retries
        Resubmissions of a task whose worker died.
    init_kwargs
        More arguments of ``ray.init`` (e.g. ``_temp_dir``).

    Attributes
    ----------
    startup_seconds
        Time ``ray.init`` took (start-up overhead, apart from the tasks).
    """

    name = "ray"

    def __init__(
        self,
        *,
        address: str | None = None,
        workers: int | None = None,
        max_retries: int = 3,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        # `ray start` clusters require token authentication, but a driver sends its
        # token only in token mode, read when Ray is first imported (a cluster without
        # tokens: RAY_AUTH_MODE=disabled). Not once Ray is imported: the driver would stay
        # in its mode while the processes it starts took the other.
        if "ray" not in sys.modules:
            os.environ.setdefault("RAY_AUTH_MODE", "token")
        try:
            import ray
        except ImportError as exc:
            raise ArbkitError(
                "the ray executor needs Ray: pip install -e '.[scale]' (make setup installs it)"
            ) from exc
        if workers is not None and workers < 1:
            raise ConfigError(f"workers={workers}: need at least 1")
        if max_retries < 0:
            raise ConfigError(f"max_retries={max_retries}: must be >= 0")
        self._ray = ray
        self.max_retries = max_retries
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self._owns = False
        t0 = time.perf_counter()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
                "runtime_env": {"env_vars": dict(WORKER_ENV)},
                **(init_kwargs or {}),
            }
            if self.address is None:
                kwargs["num_cpus"] = workers or os.cpu_count() or 1
            try:
                # "local": a Ray of our own even when `ray start` runs on this machine
                ray.init(address=self.address or "local", **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = self.address or "this machine"
                raise ArbkitError(f"could not start or join Ray at {where}: {exc}") from exc
            self._owns = True
        self.startup_seconds = time.perf_counter() - t0
        cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        self._workers = min(workers, cpus) if workers else cpus
        # tasks handed to Ray at a time: a queue of one more per worker keeps every worker
        # busy between a result and the next submission; Ray itself runs at most one task
        # per CPU, so the queue may only be deeper when the workers are all of Ray's CPUs
        self._in_flight = 2 * self._workers if self._workers == cpus else self._workers
        self._remotes: dict[Callable[..., Any], Any] = {}

    @property
    def workers(self) -> int:
        """Tasks at a time."""
        return self._workers

    @property
    def nodes(self) -> int:
        """Live nodes of the Ray cluster."""
        alive = [n for n in self._ray.nodes() if n.get("Alive")]  # type: ignore[no-untyped-call]
        return len(alive)

    def _remote(self, fn: Callable[[Any], Any]) -> Any:
        if fn not in self._remotes:
            self._remotes[fn] = self._ray.remote(num_cpus=1, max_retries=self.max_retries)(fn)
        return self._remotes[fn]

    def imap_unordered(
        self, fn: Callable[[Any], Any], items: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(items[index]))`` as tasks finish, ``workers`` running at a time.

        A task that raises re-raises its exception here; a task whose worker died more
        than ``max_retries`` times raises :class:`~arbkit.errors.ArbkitError`. The tasks
        still in flight when the iteration stops early finish unread.
        """
        ray = self._ray
        remote = self._remote(fn)
        pending: dict[Any, int] = {}
        nxt = 0
        try:
            while nxt < len(items) or pending:
                while nxt < len(items) and len(pending) < self._in_flight:
                    pending[remote.remote(items[nxt])] = nxt
                    nxt += 1
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    index = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        # the task's own exception, as raised in the worker
                        raise exc.as_instanceof_cause() from None
                    except ray.exceptions.RayError as exc:
                        # the worker or its node died more often than retried, etc.
                        raise ArbkitError(
                            f"task {index} failed on Ray after {self.max_retries} "
                            f"retries: {type(exc).__name__}: {str(exc).splitlines()[0]}"
                        ) from exc
                    yield index, result
        finally:
            # the tasks still in flight (at most two per worker) are left to finish, not
            # cancelled: Ray 2.60's driver can abort ("Tried to complete task that was not
            # pending") when a cancel crosses a task's completion, as on Ctrl-C. Their
            # results are dropped; close() (or Ray's shutdown) ends them.
            pending.clear()

    def close(self) -> None:
        """Shut Ray down if this executor started or joined it."""
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
