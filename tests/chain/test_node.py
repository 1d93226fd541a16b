"""AnvilNode life cycle, mining modes, snapshots, attach() and the npm look-up."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3.exceptions import TransactionNotFound

from arbkit.chain.node import (
    DEFAULT_CHAIN_ID,
    NODE_MODULES_ENV,
    AnvilNode,
    ChainError,
    anvil_binary,
    attach,
    find_node_modules,
    redact_url,
)
from arbkit.errors import ConfigError

# First dev account of anvil's public test mnemonic (its key is public test data).
FIRST_DEV_ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
FIRST_DEV_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


@pytest.fixture
def node(npm_packages: Path) -> Iterator[AnvilNode]:
    with AnvilNode() as running:
        yield running


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- no anvil needed ---------------------------------------------------------------------


def test_node_modules_env_override_must_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv(NODE_MODULES_ENV, str(missing))
    with pytest.raises(ConfigError, match=NODE_MODULES_ENV):
        find_node_modules()
    monkeypatch.setenv(NODE_MODULES_ENV, str(tmp_path))
    assert find_node_modules() == tmp_path.resolve()


def test_anvil_binary_missing_says_npm_ci(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="npm ci"):
        anvil_binary(tmp_path)


def test_redact_url_drops_credentials_query_and_path() -> None:
    url = "https://alice:s3cret@rpc.example.org:8545/v3/KEY123456789?apikey=zz#frag"
    safe = redact_url(url)
    assert safe == "https://rpc.example.org:8545/..."
    for secret in ("alice", "s3cret", "KEY123456789", "apikey", "zz", "frag"):
        assert secret not in safe
    assert redact_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
    assert redact_url("not a url") == "<unparseable URL>"


def test_attach_to_closed_port_is_a_clear_error() -> None:
    port = _closed_port()
    url = f"http://bob:pw123@127.0.0.1:{port}/v2/secretkey0123?token=xyz"
    start = time.monotonic()
    with pytest.raises(ChainError) as info:
        attach(url, timeout=2.0)
    assert time.monotonic() - start < 5.0
    text = str(info.value)
    assert f"127.0.0.1:{port}" in text
    assert "eth_chainId" in text
    for secret in ("bob", "pw123", "secretkey0123", "xyz"):
        assert secret not in text
    assert info.value.__cause__ is None  # the transport error repeats the full URL


def test_attach_rejects_non_http_url() -> None:
    with pytest.raises(ChainError, match="http"):
        attach("ws://127.0.0.1:1")


# -- with anvil --------------------------------------------------------------------------


def test_node_starts_on_free_port_with_chain_id(node: AnvilNode) -> None:
    assert node.running
    assert node.url == f"http://127.0.0.1:{node.port}"
    assert node.w3.eth.chain_id == DEFAULT_CHAIN_ID == 31337
    assert len(node.accounts) == 10
    assert node.accounts[0] == FIRST_DEV_ACCOUNT
    assert node.w3.eth.get_balance(node.accounts[0]) == 10_000 * 10**18


def test_manual_mining_holds_a_transaction_until_mine(node: AnvilNode) -> None:
    w3 = node.w3
    before = w3.eth.block_number
    sender, receiver = node.accounts[0], node.accounts[1]
    balance = w3.eth.get_balance(receiver)
    tx_hash = w3.eth.send_transaction(
        {"from": sender, "to": receiver, "value": 12345, "gas": 21_000}
    )
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction_receipt(tx_hash)
    assert w3.eth.block_number == before
    assert w3.eth.get_balance(receiver) == balance
    assert node.mine() == before + 1
    receipt = w3.eth.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    assert receipt["blockNumber"] == before + 1
    assert w3.eth.get_balance(receiver) == balance + 12345
    assert node.mine(3) == before + 4


def test_automine_mode_mines_each_transaction(npm_packages: Path) -> None:
    with AnvilNode(manual_mining=False) as node:
        w3 = node.w3
        before = w3.eth.block_number
        tx_hash = w3.eth.send_transaction(
            {"from": node.accounts[0], "to": node.accounts[1], "value": 1, "gas": 21_000}
        )
        # anvil mines it as it arrives, but the receipt may lag the answer under load
        assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)["status"] == 1
        assert w3.eth.block_number == before + 1


def test_snapshot_and_revert_restore_state(node: AnvilNode) -> None:
    w3 = node.w3
    receiver = node.accounts[2]
    balance = w3.eth.get_balance(receiver)
    snap = node.snapshot()
    w3.eth.send_transaction({"from": node.accounts[0], "to": receiver, "value": 7, "gas": 21_000})
    node.mine()
    assert w3.eth.get_balance(receiver) == balance + 7
    assert node.revert(snap) is True
    assert w3.eth.get_balance(receiver) == balance
    assert node.revert(snap) is False  # an id is used once


def test_stop_leaves_no_process(npm_packages: Path) -> None:
    node = AnvilNode().start()
    pid, url = node.pid, node.url
    assert not _pid_gone(pid)
    node.stop()
    assert _pid_gone(pid)
    assert not Path(f"/proc/{pid}").exists()  # reaped, not a zombie
    assert not node.running
    node.stop()  # idempotent
    with pytest.raises(ChainError, match="not running"):
        _ = node.w3
    with pytest.raises(ChainError):
        attach(url, timeout=1.0)


def test_two_nodes_get_different_ports(npm_packages: Path) -> None:
    with AnvilNode() as first, AnvilNode(chain_id=1337) as second:
        assert first.port != second.port
        assert first.pid != second.pid
        assert first.w3.eth.chain_id == 31337
        assert second.w3.eth.chain_id == 1337
        first.w3.eth.send_transaction(
            {"from": first.accounts[0], "to": first.accounts[1], "value": 1, "gas": 21_000}
        )
        first.mine()
        assert first.w3.eth.block_number == 1
        assert second.w3.eth.block_number == 0


def test_context_manager_stops_the_node_when_the_body_raises(npm_packages: Path) -> None:
    pid = None
    with pytest.raises(RuntimeError, match="boom"), AnvilNode() as node:
        pid = node.pid
        raise RuntimeError("boom")
    assert pid is not None
    assert _pid_gone(pid)
    assert not node.running


def test_custom_mnemonic_is_used_and_never_shown(npm_packages: Path) -> None:
    mnemonic = "abandon " * 11 + "about"
    with AnvilNode(mnemonic=mnemonic, accounts=2) as node:
        assert len(node.accounts) == 2
        assert node.accounts[0] != FIRST_DEV_ACCOUNT
        assert "abandon" not in repr(node)


def test_failed_start_reports_stderr_without_secrets(npm_packages: Path) -> None:
    node = AnvilNode(extra_args=["--no-such-flag"], startup_timeout=10.0)
    with pytest.raises(ChainError, match="exited") as info:
        node.start()
    text = str(info.value)
    assert "no-such-flag" in text  # the tail of anvil's stderr
    assert "test test test" not in text
    assert FIRST_DEV_KEY not in text
    assert not node.running


def test_attach_to_running_node(node: AnvilNode) -> None:
    w3 = attach(node.url)
    assert w3.eth.chain_id == 31337
    assert w3.eth.accounts[0] == FIRST_DEV_ACCOUNT


def test_port_taken_between_pick_and_bind_is_retried_once(
    npm_packages: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import arbkit.chain.node as node_module

    real_free_port = node_module._free_port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        ports = iter([busy])
        monkeypatch.setattr(
            node_module, "_free_port", lambda: next(ports, None) or real_free_port()
        )
        with AnvilNode() as node:
            assert node.port != busy
            assert node.w3.eth.chain_id == 31337
        # Both attempts racing: the error says the port is in use.
        monkeypatch.setattr(node_module, "_free_port", lambda: busy)
        with pytest.raises(ChainError, match="in use"):
            AnvilNode().start()
