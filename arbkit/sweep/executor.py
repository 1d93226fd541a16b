"""Executors: where independent tasks run (this process, or Ray workers).

Sweeps, walk-forward folds and multi-seed training are lists of independent tasks
``fn(item) -> result``. They go through one interface with two implementations, so that
the same code runs in this process (the default: small runs and tests) or on Ray
(:class:`arbkit.sweep.ray_executor.RayExecutor`: every core of this machine, or a
cluster). Results never depend on the executor: every task carries its own seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from arbkit.errors import ConfigError

__all__ = ["EXECUTORS", "Executor", "InProcessExecutor", "make_executor", "map_ordered"]

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("local", "ray")
"""Executor names, as the CLI and the pipeline's parameters spell them."""


@runtime_checkable
class Executor(Protocol):
    """Runs independent tasks and yields their results as they finish."""

    name: str
    """``local`` or ``ray``."""

    @property
    def workers(self) -> int:
        """Tasks that run at the same time."""
        ...

    def imap_unordered(
        self, fn: Callable[[Any], Any], items: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(items[index]))`` for every item, in order of completion.

        Stopping the iteration early (``close()`` on the generator, an exception in the
        caller) cancels the tasks not yet finished.
        """
        ...

    def close(self) -> None:
        """Release the executor's resources (idempotent)."""
        ...

    def __enter__(self) -> Executor:
        """Return the executor (closed on exit)."""
        ...

    def __exit__(self, *exc: object) -> None:
        """Close the executor."""
        ...


class InProcessExecutor:
    """Run every task in this process, one after the other (the default executor)."""

    name = "local"

    @property
    def workers(self) -> int:
        """Always 1."""
        return 1

    def imap_unordered(
        self, fn: Callable[[Any], Any], items: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(item))`` in the items' order."""
        for i, item in enumerate(items):
            yield i, fn(item)

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> InProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def map_ordered(
    fn: Callable[[T], R], items: Sequence[T], executor: Executor | None = None
) -> list[R]:
    """Return ``[fn(item) for item in items]``, computed by ``executor`` (default in-process).

    The one code path of walk-forward folds and multi-seed training: whatever the
    executor, the results come back in the items' order.
    """
    ex = executor or InProcessExecutor()
    out: list[Any] = [None] * len(items)
    for i, result in ex.imap_unordered(fn, items):
        out[i] = result
    return out


def make_executor(
    name: str = "local", *, address: str | None = None, workers: int | None = None
) -> Executor:
    """Return the executor called ``name`` (:data:`EXECUTORS`).

    Parameters
    ----------
    name
        ``local`` (this process) or ``ray``.
    address
        Ray only: a cluster's address (``host:port`` of its head, or ``auto``); default
        the ``RAY_ADDRESS`` environment variable, else a Ray started on this machine.
    workers
        Ray only: tasks at a time (default: every CPU Ray has).

    Raises
    ------
    ConfigError
        For an unknown name, or Ray options given to the local executor.
    """
    if name == "local":
        if address is not None:
            raise ConfigError(
                "executor 'local' runs in this process: --address needs --executor ray"
            )
        if workers not in (None, 1):
            raise ConfigError(f"executor 'local' has one worker, not {workers}: use --executor ray")
        return InProcessExecutor()
    if name == "ray":
        from arbkit.sweep.ray_executor import RayExecutor

        return RayExecutor(address=address, workers=workers)
    raise ConfigError(f"executor {name!r}: expected one of {list(EXECUTORS)}")
