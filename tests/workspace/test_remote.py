"""A promoted model travels through a DVC remote: push from one clone, pull into another."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from arbkit.errors import ModelIntegrityError
from arbkit.registry import ModelRegistry

DVC = Path(sys.executable).with_name("dvc")

PROMOTE = """\
import sys
from arbkit.registry import GateResult, ModelRegistry
from arbkit.rl import RLArbitragePolicy, RLPolicyConfig

policy = RLArbitragePolicy(RLPolicyConfig(seed=int(sys.argv[1])))
policy.q_table[:] = float(sys.argv[1])
path = policy.save("candidate.npz")
gate = GateResult(
    name="beats_rule", metric="q_learning_vs_rule", op=">", value=1.0, threshold=0.0,
    passed=True, margin=1.0,
)
ModelRegistry("models").promote(
    "rl_policy", path, gates=[gate], metrics={"q_learning_vs_rule": 1.0},
    data_hash="0" * 64, params={"seed": int(sys.argv[1])},
    sidecar=path.with_name(path.name + ".sha256"),
)
"""

DVC_YAML = """\
stages:
  promote:
    cmd: {python} promote.py 7
    deps:
      - promote.py
    outs:
      - models/registry.json:
          persist: true
      - models/promoted:
          persist: true
"""


def _run(cmd: list[str], cwd: Path) -> str:
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(cmd)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_push_from_one_clone_and_pull_into_another_then_load(tmp_path: Path) -> None:
    origin, clone, remote = tmp_path / "origin", tmp_path / "clone", tmp_path / "remote"
    origin.mkdir()
    _run(["git", "init", "-q", "-b", "main"], origin)
    _run([str(DVC), "init", "-q"], origin)
    _run([str(DVC), "remote", "add", "-d", "store", str(remote)], origin)
    (origin / "promote.py").write_text(PROMOTE)
    (origin / "dvc.yaml").write_text(DVC_YAML.format(python=sys.executable))
    _run([str(DVC), "repro", "-q"], origin)
    _run(["git", "add", "-A"], origin)
    _run(["git", "commit", "-q", "-m", "promote"], origin)
    _run([str(DVC), "push", "-q"], origin)
    pushed = ModelRegistry(origin / "models").latest("rl_policy")
    assert pushed is not None

    _run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    assert not (clone / "models" / "registry.json").exists()  # only DVC carries it
    _run([str(DVC), "pull", "-q"], clone)
    registry = ModelRegistry(clone / "models")
    record = registry.latest("rl_policy")
    assert record == pushed  # the same record, sha256 included
    policy = registry.load_rl_policy()
    assert float(policy.q_table[0, 0]) == 7.0

    # what the clone pulled is checked: a changed byte is refused
    path = registry.root / record.file
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError):
        registry.load_rl_policy()
