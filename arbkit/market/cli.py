"""``arbkit data``: fetch market data from an Ethereum node.

web3 is imported inside the commands, so that ``arbkit --help`` stays fast.
RPC URLs often carry an API key (in the user-info part, a path segment or the
query string): they are only ever shown masked by :func:`_mask_url`, and error
messages are scrubbed of them by :func:`_scrub`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn
from urllib.parse import urlsplit, urlunsplit

import typer

from arbkit.errors import ArbkitError, DataError

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

_MASK = "***"
_KEY_LIKE = re.compile(r"[A-Za-z0-9_\-]{21,}")
"""A path segment that may be an API key: more than 20 key characters."""
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_ERRNO = re.compile(r"\[Errno -?\d+\] [^\"')]+")
_SCHEMES = ("http", "https")


def _url_secrets(url: str) -> list[tuple[str, str]]:
    # (text, replacement) pairs for the pieces of ``url`` that may be credentials, with
    # enough context (``user:pass@``, ``name=value``) that short secrets never match
    # unrelated text.
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    secrets: list[tuple[str, str]] = []
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and userinfo:
        secrets.append((f"{userinfo}@", f"{_MASK}@"))
    secrets.extend((seg, _MASK) for seg in parts.path.split("/") if _KEY_LIKE.fullmatch(seg))
    for pair in parts.query.split("&"):
        name, eq, value = pair.partition("=")
        if eq and value:
            secrets.append((pair, f"{name}={_MASK}"))
    return secrets


def _mask_url(url: str) -> str:
    """Return ``url`` with the credentials it may embed replaced by ``***``.

    The user-info part (``user:password@``), every path segment that looks like
    an API key (more than 20 characters of ``[A-Za-z0-9_-]``) and every query
    value are masked; the scheme, host, port and other path segments are kept.

    Parameters
    ----------
    url
        Any URL, valid or not.

    Returns
    -------
    str
        The masked URL, or ``"<unparseable URL>"`` when ``url`` cannot be split.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    userinfo, at, host = parts.netloc.rpartition("@")
    netloc = f"{_MASK}@{host}" if at and userinfo else host
    path = "/".join(_MASK if _KEY_LIKE.fullmatch(seg) else seg for seg in parts.path.split("/"))
    query = "&".join(
        f"{name}={_MASK}" if eq and value else pair
        for pair in parts.query.split("&")
        for name, eq, value in [pair.partition("=")]
    )
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))


def _scrub(text: str, url: str) -> str:
    # Remove the URL's credentials from a message (requests quotes URLs in its errors).
    text = text.replace(url, _mask_url(url))
    for secret, replacement in sorted(_url_secrets(url), key=lambda s: len(s[0]), reverse=True):
        text = text.replace(secret, replacement)
    return text


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _check_rpc_url(rpc_url: str) -> None:
    shown = _mask_url(rpc_url)
    try:
        parts = urlsplit(rpc_url)
    except ValueError as exc:
        raise ValueError(f"--rpc-url {shown} is not a valid URL") from exc
    if parts.scheme.lower() not in _SCHEMES:
        scheme = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise ValueError(
            f"--rpc-url {shown} has {scheme}: use an http:// or https:// JSON-RPC endpoint"
        )
    if not parts.hostname:
        raise ValueError(f"--rpc-url {shown} has no host")


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


def _connect(rpc_url: str) -> tuple[Web3, int]:
    # Connect and ask the chain id; a clear error naming the (masked) URL when it fails.
    from eth_abi.exceptions import DecodingError
    from web3 import Web3 as _Web3
    from web3.exceptions import Web3Exception

    w3 = _Web3(_Web3.HTTPProvider(rpc_url))
    try:
        chain_id = w3.eth.chain_id
    except (OSError, ValueError, Web3Exception, DecodingError) as exc:
        found = _ERRNO.search(str(exc))
        reason = found.group(0).strip() if found else f"{type(exc).__name__}: {exc}"
        raise ArbkitError(
            f"cannot connect to the RPC node at {_mask_url(rpc_url)} ({_scrub(reason, rpc_url)})"
        ) from exc
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
) -> None:
    if from_block < 0:
        raise ValueError(f"--from-block must be >= 0, got {from_block}")
    if to_block < from_block:
        raise ValueError(f"--from-block {from_block} is after --to-block {to_block}")
    if chunk_size < 1:
        raise ValueError(f"--chunk-size must be >= 1, got {chunk_size}")
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
        Blocks per ``eth_getLogs`` request (ranges the node refuses are halved).
    venue, fee_bps, token0, token1
        Pool metadata written to every row. When all are omitted the venue is
        ``uniswap_v2``, the fee 30 bps and the tokens are the addresses returned by
        the pair's ``token0()``/``token1()``; ``token0`` and ``token1`` go together.
    """
    from eth_abi.exceptions import DecodingError
    from web3.exceptions import Web3Exception

    errors = (ArbkitError, ValueError, OSError, Web3Exception, DecodingError)
    try:
        _check_rpc_url(rpc_url)
        _check_arguments(from_block, to_block, chunk_size, venue, fee_bps, (token0, token1))
        address = _checksum_pool(pool)
    except errors as exc:
        _fail(_scrub(str(exc), rpc_url))

    from arbkit.market.data import fetch_v2_logs
    from arbkit.market.tables import write_table

    shown_url = _mask_url(rpc_url)
    try:
        w3, chain_id = _connect(rpc_url)
        try:
            meta = _pool_meta(w3, address, venue, fee_bps, token0, token1)
            decoded = fetch_v2_logs(
                w3, address, from_block, to_block, chunk_size=chunk_size, meta=meta
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
        _fail(_scrub(str(exc), rpc_url))

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
