"""``arbkit data``: fetch market data from an Ethereum node.

web3 is imported inside the commands, so that ``arbkit --help`` stays fast.
RPC URLs often carry an API key (in the user-info part, a path segment or the
query string): they are only ever shown as :func:`arbkit.redact.redact_url` gives
them (scheme, host and port), and error messages are scrubbed of them by
:func:`arbkit.redact.scrub_url`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn
from urllib.parse import urlsplit

import typer

from arbkit.errors import ArbkitError, DataError
from arbkit.redact import redact_url, scrub_url

if TYPE_CHECKING:
    from eth_typing import ChecksumAddress
    from web3 import Web3

    from arbkit.market.data import PoolMeta

__all__ = ["data_app", "fetch_logs"]

data_app = typer.Typer(
    help="Market data: simulate a history, calibrate it to real data, fetch logs from a node.",
    no_args_is_help=True,
    add_completion=False,
)

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_ERRNO = re.compile(r"\[Errno -?\d+\] [^\"')]+")
_SCHEMES = ("http", "https")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _check_rpc_url(rpc_url: str) -> None:
    shown = redact_url(rpc_url)
    # A URL with no scheme or host has nothing safe to show: name the option only.
    option = "--rpc-url" if shown.startswith("<") else f"--rpc-url {shown}"
    try:
        parts = urlsplit(rpc_url)
    except ValueError as exc:
        raise ValueError(f"{option} is not a valid URL") from exc
    if parts.scheme.lower() not in _SCHEMES:
        scheme = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise ValueError(f"{option} has {scheme}: use an http:// or https:// JSON-RPC endpoint")
    if not parts.hostname:
        raise ValueError(f"{option} has no host")


def _checksum_pool(pool: str) -> ChecksumAddress:
    from web3 import Web3 as _Web3

    if not _ADDRESS.fullmatch(pool):
        raise ValueError(f"--pool {pool!r} is not an address (expected 0x and 40 hex digits)")
    mixed_case = pool[2:] != pool[2:].lower() and pool[2:] != pool[2:].upper()
    if mixed_case and not _Web3.is_checksum_address(pool):
        raise ValueError(
            f"--pool {pool} has an invalid EIP-55 checksum (mistyped? pass it in lower case "
            "to skip the check)"
        )
    return _Web3.to_checksum_address(pool)


def _connect(rpc_url: str, timeout_s: float) -> tuple[Web3, int]:
    # Connect and ask the chain id; a clear error naming the (masked) URL when it fails.
    # web3's own retries are off: fetch_v2_logs retries what is transient, and only that.
    from eth_abi.exceptions import DecodingError
    from web3 import Web3 as _Web3
    from web3.exceptions import Web3Exception

    provider = _Web3.HTTPProvider(
        rpc_url, request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None
    )
    w3 = _Web3(provider)
    try:
        chain_id = w3.eth.chain_id
    except (OSError, ValueError, Web3Exception, DecodingError) as exc:
        found = _ERRNO.search(str(exc))
        reason = found.group(0).strip() if found else f"{type(exc).__name__}: {exc}"
        shown, why = redact_url(rpc_url), scrub_url(reason, rpc_url)
        raise ArbkitError(f"cannot connect to the RPC node at {shown} ({why})") from exc
    return w3, chain_id


def _pool_meta(
    w3: Web3,
    pool: ChecksumAddress,
    venue: str | None,
    fee_bps: int | None,
    token0: str | None,
    token1: str | None,
) -> PoolMeta | None:
    # None lets fetch_v2_logs use its defaults and read both tokens from the pair.
    from arbkit.market.data import PoolMeta, read_pair_tokens

    if venue is None and fee_bps is None and token0 is None and token1 is None:
        return None
    if token0 is None or token1 is None:
        token0, token1 = read_pair_tokens(w3, pool)
    defaults = PoolMeta()
    return PoolMeta(
        venue=defaults.venue if venue is None else venue,
        token0=token0,
        token1=token1,
        fee_bps=defaults.fee_bps if fee_bps is None else fee_bps,
    )


def _check_arguments(
    from_block: int,
    to_block: int,
    chunk_size: int,
    venue: str | None,
    fee_bps: int | None,
    tokens: tuple[str | None, str | None],
    timeout_s: float,
    retries: int,
    retry_backoff_s: float,
) -> None:
    if from_block < 0:
        raise ValueError(f"--from-block must be >= 0, got {from_block}")
    if to_block < from_block:
        raise ValueError(f"--from-block {from_block} is after --to-block {to_block}")
    if chunk_size < 1:
        raise ValueError(f"--chunk-size must be >= 1, got {chunk_size}")
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"--timeout must be a number of seconds > 0, got {timeout_s}")
    if retries < 0:
        raise ValueError(f"--retries must be >= 0, got {retries}")
    if not (math.isfinite(retry_backoff_s) and retry_backoff_s >= 0):
        raise ValueError(f"--retry-backoff must be a number of seconds >= 0, got {retry_backoff_s}")
    if venue is not None and not venue.strip():
        raise ValueError("--venue must not be empty")
    if fee_bps is not None and not 0 <= fee_bps <= 10_000:
        raise ValueError(f"--fee-bps must be in [0, 10000], got {fee_bps}")
    if (tokens[0] is None) != (tokens[1] is None):
        raise ValueError("give both --token0 and --token1, or neither (read from the pair)")


_FETCH_LOGS_HELP = (
    "Fetch a Uniswap V2 pair's Sync and Swap logs from a node and write pool_states.parquet "
    "and swaps.parquet (exact integer reserves and amounts). Errors: message on stderr, exit 1."
)


@data_app.command("fetch-logs", help=_FETCH_LOGS_HELP)
def fetch_logs(
    rpc_url: Annotated[
        str,
        typer.Option(
            "--rpc-url",
            help="HTTP(S) JSON-RPC endpoint; credentials in it are never printed.",
            show_default=False,
        ),
    ],
    pool: Annotated[str, typer.Option(help="Uniswap V2 pair address.", show_default=False)],
    from_block: Annotated[int, typer.Option(help="First block (included).", show_default=False)],
    to_block: Annotated[int, typer.Option(help="Last block (included).", show_default=False)],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output folder; default data/raw/v2_logs_<pool>_<from>_<to>/.",
            file_okay=False,
        ),
    ] = None,
    chunk_size: Annotated[int, typer.Option(help="Blocks per eth_getLogs request.")] = 2_000,
    venue: Annotated[
        str | None, typer.Option(help="Venue name written to the rows (default uniswap_v2).")
    ] = None,
    fee_bps: Annotated[
        int | None, typer.Option(help="Pool fee in basis points (default 30).")
    ] = None,
    token0: Annotated[
        str | None,
        typer.Option(help="token0 id (e.g. WETH); default: the address the pair returns."),
    ] = None,
    token1: Annotated[
        str | None,
        typer.Option(help="token1 id (e.g. USDT); default: the address the pair returns."),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for one RPC answer before retrying it.")
    ] = 30.0,
    retries: Annotated[
        int,
        typer.Option(help="Retries of a request after HTTP 429/5xx, a timeout or a rate limit."),
    ] = 4,
    retry_backoff: Annotated[
        float,
        typer.Option(help="Seconds before the first retry, doubled for each next one (max 8)."),
    ] = 0.5,
) -> None:
    """Fetch a Uniswap V2 pair's Sync and Swap logs from a node and write them as parquet.

    Writes ``pool_states.parquet`` (one row per ``Sync``) and ``swaps.parquet``
    (one row per ``Swap``) into the output folder, reserves and amounts as exact
    integers. Errors are printed on stderr with exit code 1.

    Parameters
    ----------
    rpc_url
        ``http://`` or ``https://`` JSON-RPC endpoint of an Ethereum node.
    pool
        The pair's address (a mixed-case address must carry a valid checksum).
    from_block, to_block
        Block range, both ends included.
    out
        Output folder; ``data/raw/v2_logs_<pool>_<from>_<to>/`` when ``None``.
    chunk_size
        Blocks per ``eth_getLogs`` request. A range the node refuses as too large
        (HTTP 413, "query returned more than 10000 results", "block range is too
        wide"...) is halved, down to single blocks; other node errors fail at once.
    venue, fee_bps, token0, token1
        Pool metadata written to every row. When all are omitted the venue is
        ``uniswap_v2``, the fee 30 bps and the tokens are the addresses returned by
        the pair's ``token0()``/``token1()``; ``token0`` and ``token1`` go together.
    timeout
        Seconds to wait for one answer of the node.
    retries
        Retries of a request that failed for a transient reason (HTTP 408, 425, 429,
        5xx, a timeout, a dropped connection, a rate-limit error), waiting
        ``retry_backoff`` seconds before the first, doubled for each next one up to 8 s
        (or the server's ``Retry-After``). A final failure names the block range and the
        endpoint, credentials masked.
    retry_backoff
        Seconds before the first retry.
    """
    from eth_abi.exceptions import DecodingError
    from web3.exceptions import Web3Exception

    errors = (ArbkitError, ValueError, OSError, Web3Exception, DecodingError)
    try:
        _check_rpc_url(rpc_url)
        _check_arguments(
            from_block,
            to_block,
            chunk_size,
            venue,
            fee_bps,
            (token0, token1),
            timeout,
            retries,
            retry_backoff,
        )
        address = _checksum_pool(pool)
    except errors as exc:
        _fail(scrub_url(str(exc), rpc_url))

    from arbkit.market.data import fetch_v2_logs
    from arbkit.market.data.v2_fetch import RetryPolicy
    from arbkit.market.tables import write_table

    shown_url = redact_url(rpc_url)
    try:
        w3, chain_id = _connect(rpc_url, timeout)
        try:
            meta = _pool_meta(w3, address, venue, fee_bps, token0, token1)
            decoded = fetch_v2_logs(
                w3,
                address,
                from_block,
                to_block,
                chunk_size=chunk_size,
                meta=meta,
                retry=RetryPolicy(retries=retries, backoff_s=retry_backoff),
            )
        except (DecodingError, DataError) as exc:
            if isinstance(exc, DataError) and not isinstance(exc.__cause__, DecodingError):
                raise
            raise ArbkitError(
                f"pool {address} did not return token addresses from token0()/token1() "
                f"({exc}); is it a Uniswap V2 pair on chain {chain_id}? "
                "Pass --token0 and --token1 to skip these calls"
            ) from exc
        folder = (
            Path("data/raw") / f"v2_logs_{address.lower()}_{from_block}_{to_block}"
            if out is None
            else out
        )
        states_path = write_table(decoded.pool_states, folder / "pool_states.parquet")
        swaps_path = write_table(decoded.swaps, folder / "swaps.parquet")
    except errors as exc:
        _fail(scrub_url(str(exc), rpc_url))

    states = decoded.pool_states
    n_blocks = to_block - from_block + 1
    typer.echo(
        f"pool {address}: blocks {from_block}-{to_block} ({n_blocks} blocks, "
        f"chunks of {chunk_size}) from {shown_url} (chain id {chain_id})"
    )
    blocks: list[int] = states["block"].to_list()
    if blocks:
        with_logs = (
            f"{len(set(blocks))} blocks with a Sync, first {min(blocks)}, last {max(blocks)}"
        )
    else:
        with_logs = "no Sync log in the range"
    typer.echo(f"pool_states: {states.height} rows ({with_logs}) -> {states_path}")
    typer.echo(f"swaps: {decoded.swaps.height} rows -> {swaps_path}")
    if decoded.ignored:
        typer.echo(f"ignored: {decoded.ignored} removed or unrecognised logs")
