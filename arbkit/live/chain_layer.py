"""The runner's chain layer: a market history played on a real node, block by block.

:class:`HistoryChain` is the only place the live runner touches a chain. It

- starts the embedded node (anvil, :class:`arbkit.chain.AnvilNode`) or attaches to any
  JSON-RPC URL (a dev node or a fork that mines on request: ``evm_mine``), the same code
  path either way;
- deploys the history's pools with the reserves of its first block, the flash lenders
  and the executor (:class:`arbkit.chain.ChainMarket`);
- per history block: sets the node's next base fee to the history's, sends the block's
  order flow as real swaps (each recorded noise and rival swap one by one when the
  history has them, else each pool's net change), mines, reads every pool's reserves
  in one JSON-RPC batch, checks them against the history (the chain is the referee: a
  difference stops the run), and scans the chain's state with the history's CEX
  quotes;
- simulates an order with ``eth_call`` and, when asked, sends it and mines it in the
  next block, turning the receipt into an :class:`arbkit.execution.Outcome`.

What happens above it (the policy, the one replay, accounting) is the same for a dry-run
and a live run; :class:`arbkit.live.AIFlashArbitrageRunner` drives both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import polars as pl
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3Exception
from web3.types import RPCEndpoint, Wei

from arbkit.chain.executor import (
    ChainRoute,
    SimulationResult,
    predict_execution,
    route_from_candidate,
)
from arbkit.chain.market import ChainMarket
from arbkit.chain.node import AnvilNode, ChainError, attach, redact_url
from arbkit.chain.uniswap import mine_and_wait
from arbkit.errors import DataError
from arbkit.execution import Outcome, Replay
from arbkit.market.amm import aave_flash_fee
from arbkit.market.gas import next_base_fees
from arbkit.market.history import MarketHistory
from arbkit.opportunities import FlashSource, RouteSet, ScanConfig, build_routes, scan_blocks

__all__ = ["BlockState", "HistoryChain", "SentTrade", "StaleStateError", "with_retries"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT: tuple[type[BaseException], ...] = (
    ChainError,
    ConnectionError,
    TimeoutError,
    OSError,  # requests' errors derive from it
    ValueError,  # web3 raises JSON-RPC error objects as ValueError subclasses
    Web3Exception,
)
"""Errors a retry may cure (the node's transport, a timeout, an RPC error answer)."""


class StaleStateError(ChainError):
    """The node showed a state other than the history's (a stale or lagging answer)."""


def with_retries(
    what: str,
    fn: Callable[[], T],
    *,
    attempts: int = 5,
    backoff_s: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Call ``fn``; retry transient failures with exponential backoff.

    Parameters
    ----------
    what
        What is being done, for the error message.
    fn
        The call.
    attempts
        Tries, the first included.
    backoff_s
        First pause; doubled after each failure.
    sleep
        The pause (injectable in tests).
    on_retry
        Called with each error that is retried.

    Raises
    ------
    ChainError
        After the last attempt, naming ``what`` and the last error (URL credentials
        masked).
    """
    last: BaseException | None = None
    for i in range(attempts):
        try:
            return fn()
        except TRANSIENT as exc:
            last = exc
            if i + 1 < attempts:
                if on_retry is not None:
                    on_retry(exc)
                sleep(backoff_s * 2**i)
    if isinstance(last, StaleStateError):
        raise StaleStateError(f"{what}: {last}") from None
    raise ChainError(f"{what} failed after {attempts} attempts: {_describe(last)}") from None


def _known(w3: Web3, tx_hash: HexBytes) -> bool:
    try:
        w3.eth.get_transaction(tx_hash)
    except TransactionNotFound:
        return False
    return True


def _describe(exc: BaseException | None) -> str:
    text = f"{type(exc).__name__}: {exc}" if exc is not None else "no error"
    return " ".join(redact_url(w) if "://" in w else w for w in text.split())


@dataclass(frozen=True)
class BlockState:
    """One history block as the chain shows it.

    Attributes
    ----------
    t
        Position of the block in the history.
    history_block
        The history's block number.
    chain_block
        The node's block holding that state.
    pool_states
        The pools' reserves read from the chain (history token order).
    candidates
        The chain's state scanned (best expected net profit first).
    scan_mismatches
        Candidates of the replay at this block that the chain's scan did not give with
        the same size and profit (0 when the chain agrees with the history).
    head_at
        ``time.perf_counter()`` when the block was mined (the new head), for latency.
    """

    t: int
    history_block: int
    chain_block: int
    pool_states: pl.DataFrame
    candidates: pl.DataFrame
    scan_mismatches: int
    head_at: float


@dataclass(frozen=True)
class SentTrade:
    """A transaction the runner sent, and what the chain did with it.

    Attributes
    ----------
    predicted
        arbkit's prediction for the state it ran against (profit in base units).
    chain_profit
        The owner's profit in the start token, from the chain.
    success
        Receipt status.
    gas_used, gas_paid_wei
        From the receipt.
    tx_hash
        The transaction hash.
    """

    predicted_success: bool
    predicted_profit: int
    chain_profit: int
    success: bool
    gas_used: int
    gas_paid_wei: int
    tx_hash: str


class HistoryChain:
    """A market history on a node: deploy, replay order flow, read, scan, simulate, send.

    Parameters
    ----------
    history
        The market history to play.
    replay
        The one replay of ``history`` the run uses (its scanner options and candidates).
    rpc_url
        A JSON-RPC URL; ``None`` starts the embedded anvil node.
    deployer_index, owner_index
        Dev accounts that deploy/send the order flow and own the executor.
    flash_source
        The flash source of executed trades (the replay's scanner option by default).
    timeout_s
        Seconds allowed for each JSON-RPC request.
    retry_attempts, retry_backoff_s
        Tries of each node operation and the first pause between them (doubled after
        each failure). Every retry is counted in :attr:`retries`.

    Attributes
    ----------
    owner_address
        Set before :meth:`start` to make a signing key's account the executor's owner
        (it is sent 100 ETH of gas money from the deployer); a dev account otherwise.
    block_hooks
        ``hook(t, history_block) -> transaction hashes``: more transactions to send (not
        mine) for a history block, mined in that block with its order flow (the live
        runner's Aqua maker flows). Each is called once per block.
    """

    def __init__(
        self,
        history: MarketHistory,
        replay: Replay,
        *,
        rpc_url: str | None = None,
        deployer_index: int = 0,
        owner_index: int = 1,
        flash_source: FlashSource | None = None,
        timeout_s: float = 10.0,
        retry_attempts: int = 5,
        retry_backoff_s: float = 0.2,
    ) -> None:
        self.timeout_s = float(timeout_s)
        self.retry_attempts = int(retry_attempts)
        self.retry_backoff_s = float(retry_backoff_s)
        self.retries = 0
        self.history = history
        self.replay = replay
        self.rpc_url = rpc_url
        self.scan_config: ScanConfig = replay.scan
        self.flash_source = flash_source or self.scan_config.flash_source
        self._deployer_index = deployer_index
        self._owner_index = owner_index
        self.node: AnvilNode | None = None
        self.w3: Web3 | None = None
        self.market: ChainMarket | None = None
        b = history.blocks
        self._base_fees = b["base_fee_wei"].cast(pl.Int64).to_list()
        self._landing = next_base_fees(
            b["base_fee_wei"].cast(pl.Int64).to_numpy(),
            b["gas_used"].cast(pl.Int64).to_numpy(),
            b["gas_limit"].cast(pl.Int64).to_numpy(),
        ).tolist()
        self._states = history.pool_states.partition_by("block", as_dict=True, maintain_order=True)
        self._swaps = (
            history.swaps.partition_by("block", as_dict=True, maintain_order=True)
            if history.swaps.height
            else {}
        )
        quotes = history.cex_quotes
        self._quotes = (
            quotes.partition_by("block", as_dict=True, maintain_order=True)
            if quotes is not None and quotes.height and "block" in quotes.columns
            else {}
        )
        self.owner_address: str | None = None
        self._moved = False  # whether our own trade moved the pools since the last check
        self._reserves: dict[ChecksumAddress, tuple[int, int]] | None = None  # as last read
        self._routes = self._route_set()
        self.t = -1
        # (t, history block) -> transactions sent (not mined) to go in that block
        self.block_hooks: list[Callable[[int, int], list[Any]]] = []
        self._hooked: set[int] = set()
        self.chain_checks = 0
        self.scan_mismatches = 0
        self._set_base_fee = True

    def _route_set(self) -> RouteSet:
        """Enumerate the routes of the history's pools once (the scan reuses them)."""
        meta = self.history.pool_states.group_by("pool", maintain_order=True).agg(
            pl.col("token0").first(), pl.col("token1").first(), pl.col("fee_bps").first()
        )
        tokens = list(zip(meta["token0"].to_list(), meta["token1"].to_list(), strict=True))
        assets: set[str] = set()
        quotes = self.history.cex_quotes
        aliases = self.scan_config.cex_asset_aliases
        if quotes is not None and quotes.height:
            for symbol in quotes["symbol"].unique().to_list():
                base, _, quote = str(symbol).partition("/")
                a, q = aliases.get(base, base), aliases.get(quote, quote)
                if any(a in pair and q in pair for pair in tokens):
                    assets.add(a)
        routes = build_routes(
            meta["pool"].to_list(),
            tokens,
            meta["fee_bps"].to_list(),
            cex_assets=sorted(assets),
            config=self.scan_config,
        )
        routes.flash_groups(sorted(routes.start_token_set))  # warm: arrays built once, here
        return routes

    # -- life cycle ---------------------------------------------------------------------

    @property
    def embedded(self) -> bool:
        """Whether the node is the embedded anvil the layer started."""
        return self.rpc_url is None

    def start(self) -> None:
        """Start or attach to the node and deploy the history's first block."""
        if self.rpc_url is None:
            self.node = AnvilNode(request_timeout=self.timeout_s)
            self.node.start()
            self.w3 = self.node.w3
        else:
            self.w3 = self._retry("connecting", lambda: attach(str(self.rpc_url), self.timeout_s))
        accounts = self.w3.eth.accounts
        need = max(self._deployer_index, self._owner_index) + 1
        if len(accounts) < need:
            where = "the embedded node" if self.rpc_url is None else redact_url(self.rpc_url)
            raise ChainError(
                f"{where} has {len(accounts)} unlocked account(s); the history chain needs "
                f"{need} (a dev node or fork with unlocked accounts)"
            )
        first = self._rows(0)
        deployer = accounts[self._deployer_index]
        owner = self.owner_address or accounts[self._owner_index]
        if self.owner_address is not None:  # a signing key's account: give it gas money
            tx = self.w3.eth.send_transaction(
                {"from": deployer, "to": Web3.to_checksum_address(owner), "value": Wei(10**20)}
            )
            mine_and_wait(self.w3, [tx])
        self.market = ChainMarket.deploy(
            self.w3,
            first,
            deployer=deployer,
            owner=owner,
            token_decimals=self.scan_config.token_decimals,
        )
        self.t = -1
        self._hooked = set()

    def stop(self) -> None:
        """Stop the embedded node (an attached node is left running)."""
        if self.node is not None:
            self.node.stop()
            self.node = None

    def __enter__(self) -> HistoryChain:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- blocks -------------------------------------------------------------------------

    def _retry(self, what: str, fn: Callable[[], T]) -> T:
        def count(exc: BaseException) -> None:
            self.retries += 1
            logger.warning("%s: retrying after %s", what, _describe(exc))

        return with_retries(
            what,
            fn,
            attempts=self.retry_attempts,
            backoff_s=self.retry_backoff_s,
            on_retry=count,
        )

    def _mine_pending(self, base_fee_wei: int) -> None:
        """Mine what an interrupted attempt left pending, so a retry never sends twice."""
        w3, _ = self._need()
        resp = w3.provider.make_request(RPCEndpoint("txpool_status"), [])
        if "error" in resp:
            return  # not supported: nothing to do
        result: Any = resp.get("result")
        raw: Any = result.get("pending", 0) if isinstance(result, dict) else 0
        pending = int(raw, 16) if isinstance(raw, str) else int(raw)
        if pending:
            self._mine([], base_fee_wei)

    def _rows(self, t: int) -> pl.DataFrame:
        block = int(self.history.block_numbers[t])
        rows = self._states.get((block,))
        if rows is None:
            raise DataError(f"history block {block} has no pool states")
        return rows

    def _need(self) -> tuple[Web3, ChainMarket]:
        if self.w3 is None or self.market is None:
            raise ChainError("HistoryChain: call start() first")
        return self.w3, self.market

    def _mine(self, hashes: list[Any], base_fee_wei: int) -> list[Any]:
        w3, _ = self._need()
        if self._set_base_fee:
            resp = w3.provider.make_request(
                RPCEndpoint("anvil_setNextBlockBaseFeePerGas"), [hex(max(base_fee_wei, 1))]
            )
            error = resp.get("error")
            if error:
                text = str(error.get("message", error) if isinstance(error, dict) else error)
                code = error.get("code") if isinstance(error, dict) else None
                if code == -32601 or "not found" in text.lower() or "not supported" in text:
                    self._set_base_fee = False  # not an anvil node: it keeps its own base fee
                else:
                    raise ChainError(f"anvil_setNextBlockBaseFeePerGas: {text}")
        receipts = mine_and_wait(w3, hashes, check=False, timeout=self.timeout_s * 3)
        return receipts

    def _hook_txs(self, t: int, history_block: int) -> list[Any]:
        """Send the block hooks' transactions for ``t`` once.

        Once every hook has sent, a retry of the block (its mining failed) does not send
        again: the pending transactions are mined by the retry. A hook that fails half
        way is called again, and a hook that cannot send twice says so (AquaChain
        refuses to ship a live strategy twice), rather than losing its transactions.
        """
        if t in self._hooked:
            return []
        sent: list[Any] = []
        for hook in self.block_hooks:
            sent += list(hook(t, history_block))
        self._hooked.add(t)
        return sent

    def advance(self) -> BlockState:
        """Play the next history block on the chain and return its state, scanned.

        Raises
        ------
        ChainError
            If the chain's reserves differ from the history's (the chain referees), or
            the node fails after retries.
        IndexError
            After the history's last block.
        """
        _, market = self._need()
        t = self.t + 1
        if t >= self.history.n_blocks:
            raise IndexError("HistoryChain: the history has no more blocks")
        rows = self._rows(t)
        history_block = int(self.history.block_numbers[t])
        if t > 0:

            def play() -> None:
                self._mine_pending(int(self._base_fees[t]))
                current = market.reserves()
                if not self._moved and not self._same_state(current, rows):
                    # no trade of ours since the check: the state must be the last one checked
                    self._check_reserves(current, self._rows(t - 1))
                swaps = self._swaps.get((history_block,))
                steps = market.flow_steps(rows, current, swaps)
                tx = market.send_flow(steps)
                extra = self._hook_txs(t, history_block)
                self._mine(([tx] if tx is not None else []) + extra, int(self._base_fees[t]))

            self._retry(f"replaying the order flow of block {history_block}", play)
        elif self.block_hooks:

            def play_first() -> None:
                self._mine_pending(int(self._base_fees[0]))
                extra = self._hook_txs(0, history_block)
                if extra:
                    self._mine(extra, int(self._base_fees[0]))

            self._retry(f"replaying the hooks of block {history_block}", play_first)
        head_at = time.perf_counter()

        def read() -> tuple[pl.DataFrame, pl.DataFrame]:
            chain_states = market.pool_states()
            states = self._to_history_order(chain_states, history_block)
            self._check(states, rows)
            return chain_states, states

        chain_states, states = self._retry(f"reading the pools at block {history_block}", read)
        by_id = {p.pool: p.address for p in market.pools.values()}
        self._reserves = {
            by_id[r["pool"]]: (int(r["reserve0"]), int(r["reserve1"]))
            for r in chain_states.select("pool", "reserve0", "reserve1").to_dicts()
        }
        self._moved = False
        quotes = self._quotes.get((int(self.history.block_numbers[t]),))
        cands = scan_blocks(
            states,
            base_fees=int(self._landing[t]),
            cex_quotes=quotes,
            config=self.scan_config,
            routes=self._routes,
        )
        mismatches = self._compare(cands, t)
        self.t = t
        return BlockState(
            t=t,
            history_block=int(self.history.block_numbers[t]),
            chain_block=int(chain_states["block"][0]) if chain_states.height else 0,
            pool_states=states,
            candidates=cands,
            scan_mismatches=mismatches,
            head_at=head_at,
        )

    def _to_history_order(self, chain_states: pl.DataFrame, history_block: int) -> pl.DataFrame:
        _, market = self._need()
        flipped = {p.pool for p in market.pools.values() if p.flipped}
        f = pl.col("pool").is_in(list(flipped))
        return chain_states.with_columns(
            pl.lit(history_block, dtype=pl.Int64).alias("block"),
            pl.when(f).then(pl.col("token1")).otherwise(pl.col("token0")).alias("token0"),
            pl.when(f).then(pl.col("token0")).otherwise(pl.col("token1")).alias("token1"),
            pl.when(f).then(pl.col("reserve1")).otherwise(pl.col("reserve0")).alias("reserve0"),
            pl.when(f).then(pl.col("reserve0")).otherwise(pl.col("reserve1")).alias("reserve1"),
        )

    def _by_pool(
        self, current: Mapping[ChecksumAddress, tuple[int, int]]
    ) -> dict[str, tuple[int, int]]:
        """Pair address -> reserves (chain order) as pool id -> reserves (history order)."""
        _, market = self._need()
        out = {}
        for pool in market.pools.values():
            got = current.get(pool.address)
            if got is not None:
                out[pool.pool] = (got[1], got[0]) if pool.flipped else got
        return out

    @staticmethod
    def _mismatch(got: Mapping[str, tuple[int, int]], rows: pl.DataFrame) -> str | None:
        """Describe the first pool whose reserves (history order) are not ``rows``'."""
        for r in rows.to_dicts():
            want = (int(r["reserve0"]), int(r["reserve1"]))
            if got.get(r["pool"]) != want:
                return (
                    f"chain state differs from history block {r['block']} at pool "
                    f"{r['pool']}: chain {got.get(r['pool'])}, history {want}"
                )
        return None

    def _same_state(
        self, current: Mapping[ChecksumAddress, tuple[int, int]], rows: pl.DataFrame
    ) -> bool:
        return self._mismatch(self._by_pool(current), rows) is None

    def _check_reserves(
        self, current: Mapping[ChecksumAddress, tuple[int, int]], rows: pl.DataFrame
    ) -> None:
        """Raise :class:`StaleStateError` unless ``current`` is ``rows``' state (chain order)."""
        problem = self._mismatch(self._by_pool(current), rows)
        if problem is not None:
            raise StaleStateError(f"the node's reserves are not the last checked state: {problem}")

    def _check(self, states: pl.DataFrame, rows: pl.DataFrame) -> None:
        got = {r["pool"]: (r["reserve0"], r["reserve1"]) for r in states.to_dicts()}
        problem = self._mismatch(got, rows)
        if problem is not None:
            raise StaleStateError(problem)
        self.chain_checks += 1

    def _compare(self, cands: pl.DataFrame, t: int) -> int:
        replay = self.replay
        lo, hi = int(replay.starts[t]), int(replay.starts[t + 1])
        if hi == lo:
            return 0
        mine = {
            (tuple(r["route"]), r["start_token"]): (r["amount_in"], r["expected_profit"])
            for r in cands.select("route", "start_token", "amount_in", "expected_profit").to_dicts()
        }
        want = replay.candidates.slice(lo, hi - lo)
        bad = 0
        for r in want.select("route", "start_token", "amount_in", "expected_profit").to_dicts():
            key = (tuple(r["route"]), r["start_token"])
            if mine.get(key) != (r["amount_in"], r["expected_profit"]):
                bad += 1
        if bad:
            logger.warning(
                "block %s: %d of the replay's candidates differ from the chain's scan",
                self.history.block_numbers[t],
                bad,
            )
        self.scan_mismatches += bad
        return bad

    # -- orders -------------------------------------------------------------------------

    def route(self, candidate: Mapping[str, Any], amount_in: int) -> ChainRoute:
        """Return the candidate as the executor's route, at ``amount_in``."""
        _, market = self._need()
        return route_from_candidate(
            {**candidate, "amount_in": amount_in},
            market.pool_map,
            market.token_addresses,
            market.fees_bps,
        )

    def simulate(self, route: ChainRoute, *, min_profit: int = 0) -> SimulationResult:
        """``eth_call`` the execution against the latest block."""
        _, market = self._need()
        return self._retry(
            "eth_call of the executor",
            lambda: market.executor.simulate(route, self.flash_source, min_profit=min_profit),
        )

    def predict(self, route: ChainRoute, *, min_profit: int = 0) -> tuple[bool, int]:
        """Arbkit's prediction of the execution against the latest state.

        The state is the one :meth:`advance` read and checked at this block (our own
        trades are the only transactions between two blocks, and are mined after it).
        """
        _, market = self._need()
        reserves = (
            self._reserves
            if self._reserves is not None and not self._moved
            else self._retry("reading reserves", market.reserves)
        )
        p = predict_execution(
            route,
            reserves,
            source=self.flash_source,
            premium_bps=market.lenders.premium_bps,
            min_profit=min_profit,
        )
        return p.success, p.profit

    def gas_price_wei(self) -> int:
        """Return the base fee the next block charges (the history's on the embedded node)."""
        t = self.t + 1
        if t < self.history.n_blocks and self._set_base_fee:
            return int(self._base_fees[t])
        w3, _ = self._need()
        block = self._retry("reading the pending block", lambda: w3.eth.get_block("pending"))
        return int(block.get("baseFeePerGas", 0))

    def send(
        self,
        route: ChainRoute,
        *,
        min_profit: int,
        priority_fee_wei: int,
        bribe_wei: int,
        nonce: int,
        signer: Any,
    ) -> SentTrade:
        """Sign the execution locally, send it, mine it in the next block on its own.

        The hash is known before sending, so a send whose answer was lost is found on the
        node instead of being sent twice. The next history block's order flow follows in
        a block of its own, computed from the state the trade left.

        Parameters
        ----------
        route
            The cycle and its size.
        min_profit
            The executor's minimum profit.
        priority_fee_wei, bribe_wei
            Tip per gas and coinbase transfer.
        nonce
            The transaction's nonce (from the runner's nonce manager).
        signer
            An eth-account ``LocalAccount`` that owns the executor.
        """
        w3, market = self._need()
        predicted_success, predicted_profit = self.predict(route, min_profit=min_profit)
        base_fee = self.gas_price_wei()
        tx = self._retry(
            "building the trade",
            lambda: market.executor.build_transaction(
                route,
                self.flash_source,
                min_profit=min_profit,
                nonce=nonce,
                max_fee_per_gas=2 * base_fee + priority_fee_wei,
                max_priority_fee_per_gas=priority_fee_wei,
                bribe_wei=bribe_wei,
            ),
        )
        signed = signer.sign_transaction(dict(tx))
        tx_hash = HexBytes(signed.hash)

        def submit() -> None:
            try:
                w3.eth.send_raw_transaction(signed.raw_transaction)
            except (ValueError, Web3Exception) as exc:
                if _known(w3, tx_hash):  # an earlier attempt got through
                    return
                raise ChainError(f"the node refused the trade: {_describe(exc)}") from None
            except OSError:
                if _known(w3, tx_hash):
                    return
                raise

        self._retry("sending the trade", submit)

        def land() -> Any:
            try:
                return w3.eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                (receipt,) = self._mine([tx_hash], base_fee)
                return receipt

        receipt = self._retry("mining the trade", land)
        self._moved = True
        block = int(receipt["blockNumber"])
        token = next(c for c in market.tokens.values() if c.address == route.token)

        def balances() -> tuple[int, int]:
            f = token.functions.balanceOf(market.owner)
            return int(f.call(block_identifier=block - 1)), int(f.call(block_identifier=block))

        before, after = self._retry("reading the owner's balance", balances)
        gas_used = int(receipt["gasUsed"])
        return SentTrade(
            predicted_success=predicted_success,
            predicted_profit=predicted_profit,
            chain_profit=after - before,
            success=receipt["status"] == 1,
            gas_used=gas_used,
            gas_paid_wei=gas_used * int(receipt["effectiveGasPrice"]),
            tx_hash=tx_hash.to_0x_hex(),
        )

    def outcome(
        self, candidate: Mapping[str, Any], amount_in: int, sent: SentTrade, bribe_wei: int
    ) -> Outcome:
        """Return the chain's result of a sent trade as an :class:`Outcome`, valued at t + 1."""
        model = self.replay.model
        t = min(self.t + 1, self.history.n_blocks - 1)
        start = str(candidate["start_token"])
        unit_start = float(model.unit_price(start)[t])
        native = self.scan_config.native_token
        unit_native = float(model.unit_price(native)[t])
        profit_q = sent.chain_profit * unit_start
        gas_q = sent.gas_paid_wei * unit_native
        bribe = bribe_wei if sent.success else 0
        fee = (
            aave_flash_fee(int(amount_in), self.market.lenders.premium_bps)
            if self.flash_source is FlashSource.AAVE and self.market is not None
            else 0
        )
        return Outcome(
            block=int(candidate["block"]),
            route=tuple(candidate["route"]),
            kind=str(candidate["kind"]),
            start_token=start,
            profit_token=start,
            amount_in=int(amount_in),
            included_block=int(self.history.block_numbers[t]),
            success=sent.success,
            realized_profit=sent.chain_profit,
            flash_fee=fee,
            gas_used=sent.gas_used,
            gas_paid_wei=sent.gas_paid_wei,
            bribe_paid_wei=bribe,
            realized_profit_quote=profit_q,
            gas_paid_quote=gas_q,
            net_profit_quote=profit_q - gas_q - bribe * unit_native,
            reason="ok" if sent.success else "chain_revert",
        )
