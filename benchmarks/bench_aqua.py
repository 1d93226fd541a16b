"""Aqua: decoded events per second and ledger updates per second, beside eth-abi's raw decode.

    .venv/bin/python benchmarks/bench_aqua.py

Side by side, on the same logs (every Aqua event of a busy simulated history, encoded as
the logs the contract emits, bytes as web3 hands them over):

1. **eth-abi raw decode** (the baseline): look topic0 up, ``eth_abi.decode`` the data
   with the event's types; nothing checked, tuples out;
2. **decode_aqua_log**: the same decode plus every check (configured address, one
   topic, exact data length, canonical ``bytes`` encoding, clean address words,
   ``strategyHash == keccak256(strategy)``) and a typed event out;
3. **MakerLedger.apply**: the ledger's update of each decoded event (balances,
   allocation vs trade, pairing, USD values from the price book), with and without prices;
4. for reference, **the detector's process_event** (ledger + whale checks, copy on).

Best of 5 passes over all the logs, after a warm-up pass.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from eth_abi.abi import decode

from arbkit.aqua import (
    AquaOpportunityConfig,
    AquaOpportunityDetector,
    MakerLedger,
    PriceBook,
    decode_aqua_log,
    encode_aqua_log,
    events_from_history,
)
from arbkit.aqua.events import AQUA_EVENT_TYPES, AQUA_TOPIC0
from arbkit.market.sim import simulate_market

PASSES = 5


def _best_s(fn: Callable[[], object]) -> float:
    fn()
    best = float("inf")
    for _ in range(PASSES):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    """Print the rates and the ratios to the raw decode."""
    params = {"aqua_ship_rate": 1 / 20, "aqua_trade_rate": 0.3, "aqua_dock_rate": 1 / 200}
    history = simulate_market(params, seed=7, n_blocks=21_600)
    events = events_from_history(history.aqua_events)
    logs = [encode_aqua_log(e) for e in events]
    n = len(logs)
    types = {
        bytes.fromhex(t[2:]): [x for _, x in AQUA_EVENT_TYPES[k]] for k, t in AQUA_TOPIC0.items()
    }
    book = PriceBook.from_history(history)

    def raw() -> None:
        for log in logs:
            decode(types[log["topics"][0]], log["data"])

    def ours() -> None:
        for log in logs:
            decode_aqua_log(log)

    def ledger_priced() -> None:
        led = MakerLedger(book)
        for e in events:
            led.apply(e)
        led.flush()

    def ledger_plain() -> None:
        led = MakerLedger()
        for e in events:
            led.apply(e)
        led.flush()

    def detector() -> None:
        det = AquaOpportunityDetector(
            config=AquaOpportunityConfig(enable_copy_trading=True), price_fetcher=book
        )
        asyncio.run(det.process_events(events))

    t_raw, t_ours = _best_s(raw), _best_s(ours)
    t_led, t_plain, t_det = _best_s(ledger_priced), _best_s(ledger_plain), _best_s(detector)
    kinds = history.aqua_events["event"].value_counts().sort("event").rows()
    print(f"{n:,} Aqua logs ({', '.join(f'{k} {c:,}' for k, c in kinds)})")
    print(f"eth-abi raw decode (baseline) .......... {n / t_raw:12,.0f} events/s")
    print(
        f"decode_aqua_log (checked, typed) ....... {n / t_ours:12,.0f} events/s "
        f"({t_ours / t_raw:.2f}x the raw decode's time)"
    )
    print(
        f"MakerLedger.apply, priced .............. {n / t_led:12,.0f} updates/s "
        f"({t_led / t_raw:.2f}x the raw decode's time)"
    )
    print(f"MakerLedger.apply, no prices ........... {n / t_plain:12,.0f} updates/s")
    print(f"detector.process_event (reference) ..... {n / t_det:12,.0f} events/s")
    print(
        f"decode + ledger, end to end ............ {n / (t_ours + t_led):12,.0f} events/s "
        f"({(t_ours + t_led) / t_raw:.2f}x the raw decode's time)"
    )


if __name__ == "__main__":
    main()
