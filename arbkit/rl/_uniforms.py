"""The env's per-episode uniforms, from a key: SplitMix64 over a counter.

An episode draws two integers from its generator: its window start and a 63-bit key.
The ``k``-th uniform of the episode is ``splitmix64(key + (k + 1) * GAMMA) >> 11`` times
``2**-53``: the SplitMix64 sequence seeded with the key (Steele, Lea and Flood, "Fast
splittable pseudorandom number generators", OOPSLA 2014; the generator of Java's
``SplittableRandom``, which passes BigCrush). Candidate ``j`` of the window uses uniforms
``2j`` (inclusion) and ``2j + 1`` (rivals), so a uniform costs a few integer operations
when it is needed instead of a draw per candidate at every reset. The compiled and the
numpy versions give the same bits (a test checks it).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = ["uniform", "uniforms"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_ONE = np.uint64(1)
_SCALE = 2.0**-53


@njit(cache=True, nogil=True)
def uniform(key: int, k: int) -> float:
    """Return the ``k``-th uniform in [0, 1) of the episode with ``key``."""
    z = np.uint64(key) + (np.uint64(k) + _ONE) * _GAMMA
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    z = z ^ (z >> _S31)
    return float(z >> _S11) * _SCALE


def uniforms(key: int, n: int) -> npt.NDArray[np.float64]:
    """Return the first ``n`` uniforms of the episode with ``key`` (numpy, same bits)."""
    with np.errstate(over="ignore"):
        z = np.uint64(key) + (np.arange(n, dtype=np.uint64) + _ONE) * _GAMMA
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        z = z ^ (z >> _S31)
    return (z >> _S11).astype(np.float64) * _SCALE
