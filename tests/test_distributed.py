"""Data-parallel training: `torchrun --nproc_per_node 2 -m sdk.train` against one process.

The comparison is fair by construction: `--batch-size` is the global batch per step
in both runs (2 ranks x half a batch each), all ranks draw the same permutation and
augmentation from the shared seed, and each rank's loss is weighted by its share of
the batch, so DDP's gradient average equals the one-process gradient up to the order
of floating-point additions. Model dropout draws from each rank's own global RNG, so
the comparison runs with --dropout 0; then metrics must be equal and the training
losses agree to 1e-5 (measured: ~3e-8). PNAO (pruning + rewinding retraining) is
checked the same way.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sdk import distributed

ARGS = ["--dataset", "synthetic", "--epochs", "3", "--hidden-size", "16", "--ffn-size", "16", "--dropout", "0",
        "--quiet", "--threads", "1"]
FILES = {"model.pt", "spec.json", "metrics.json", "history.json", "curves.png", "confusion.png"}


def _torchrun() -> list[str]:
    exe = Path(sys.executable).with_name("torchrun")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "torch.distributed.run"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    root = tmp_path_factory.mktemp("ddp")
    one = subprocess.run([sys.executable, "-m", "sdk.train", *ARGS, "--out", str(root / "one")],
                         capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([*_torchrun(), "--standalone", "--nproc_per_node", "2", "-m", "sdk.train", *ARGS,
                          "--out", str(root / "two")], capture_output=True, text=True, timeout=180)
    assert two.returncode == 0, two.stderr[-3000:]
    return root, one.stdout, two.stdout


def _load(run: Path) -> tuple[dict, list]:
    return json.loads((run / "metrics.json").read_text()), json.loads((run / "history.json").read_text())


def test_two_processes_match_one(runs):
    root, _, _ = runs
    m1, h1 = _load(root / "one")
    m2, h2 = _load(root / "two")
    assert m2["world_size"] == 2 and "world_size" not in m1  # the one-process metrics.json is unchanged
    assert m1["best_epoch"] == m2["best_epoch"] and len(h1) == len(h2) == 3
    for split in ("val", "test"):
        for key, value in m1[split].items():
            assert m2[split][key] == pytest.approx(value, abs=1e-9), (split, key)
    for a, b in zip(h1, h2):
        assert b["train_loss"] == pytest.approx(a["train_loss"], abs=1e-5)
        assert b["val"] == pytest.approx(a["val"], abs=1e-9)
    w1 = torch.load(root / "one" / "model.pt", weights_only=True)
    w2 = torch.load(root / "two" / "model.pt", weights_only=True)
    state1, state2 = w1["state_dict"], w2["state_dict"]
    assert state1.keys() == state2.keys()
    for name in state1:
        if name.endswith(".key.bias"):
            # q . (k + b) shifts every key's score for a query by the same q . b, which softmax
            # cancels: this bias's gradient is 0 in exact arithmetic and rounding noise here, and
            # Adam turns noise of any size into steps of about lr (measured: 1.3e-4 apart after
            # 3 epochs, every other tensor within 1e-5)
            continue
        torch.testing.assert_close(state2[name], state1[name], atol=1e-4, rtol=1e-4, msg=name)


def test_only_rank_zero_writes_and_prints(runs):
    root, _, out2 = runs
    assert {p.name for p in (root / "two").iterdir()} == FILES
    assert out2.count("wrote ") == 1 and out2.count("test accuracy") == 1


def test_single_process_helpers_are_no_ops(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.setup() is False
    assert distributed.world_size() == 1 and distributed.rank() == 0 and distributed.is_main()
    assert distributed.shard(5) == (0, 5) and distributed.all_reduce_mean(2.5) == 2.5
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap(model) is model and distributed.broadcast({"a": 1}) == {"a": 1}


def test_shards_cover_the_batch(monkeypatch):
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    parts = []
    for r in range(3):
        monkeypatch.setattr(distributed, "rank", lambda r=r: r)
        parts.append(distributed.shard(7))
    assert parts == [(0, 3), (3, 5), (5, 7)]



def test_pnao_two_processes_match_one(runs):
    """PNAO's pruning and rewinding retraining under torchrun: same table as one process."""
    root, _, _ = runs
    args = ["-m", "compress.pnao", "--checkpoint", str(root / "one"), "--rounds", "1", "--rewind-epochs", "2",
            "--naor", "0.5", "--quiet", "--threads", "1"]
    one = subprocess.run([sys.executable, *args, "--out", str(root / "pnao_one")], capture_output=True, text=True,
                         timeout=120)
    assert one.returncode == 0, one.stderr
    launch = [*_torchrun(), "--standalone", "--nproc_per_node", "2"]
    two = subprocess.run([*launch, *args, "--out", str(root / "pnao_two")], capture_output=True, text=True, timeout=180)
    assert two.returncode == 0, two.stderr[-3000:]
    r1 = json.loads((root / "pnao_one" / "pnao.json").read_text())["rounds"]
    r2 = json.loads((root / "pnao_two" / "pnao.json").read_text())["rounds"]
    assert r1[1]["params"] < r1[0]["params"]  # round 1 really pruned
    for a, b in zip(r1, r2, strict=True):
        assert b["params"] == a["params"]
        assert b["val"] == pytest.approx(a["val"], abs=1e-9) and b["test"] == pytest.approx(a["test"], abs=1e-9)
    assert two.stdout.count("wrote ") == 1
