"""Crash safety and early failures (issue 13 #7 and the training-CLI part of #8).

#7: a kill -9 at a write leaves the previous output or the complete new one, never a
mix. The CLI tests run the real commands on tiny synthetic settings and SIGKILL them
at named points (tests/crash_points.py: `rename` points need no hook in the code, so
they also run against the code before sdk.atomic, where they leave a mix). The
full sweep (>= 10 points per tool, timed kills included) is the `slow` test at the end.

#8: `sdk.train` refuses an unwritable --out, --epochs < 1 and a split without train
or test samples before training, with a clear error (exit 2); compress.pnao and
export check --out before any work.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import crash_points as cp

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- sdk.atomic, no torch
def _python(code: str, crash: str | None = None, extra_env: dict | None = None) -> int:
    env = cp.env({**({"EMOEDGE_CRASH_AT": crash} if crash else {}), **(extra_env or {})})
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True).returncode


WRITE_DIR = """
from pathlib import Path
from sdk.atomic import staged_dir, write_text
with staged_dir(Path({target!r})) as stage:
    for name in ("a.txt", "b.txt", "sub/c.txt"):
        write_text(stage / name, {text!r} * 1000)
"""


def _state(target: Path) -> str:
    files = cp.visible_files(target)
    texts = {p.read_text() for p in files.values()}
    if set(files) == {"a.txt", "b.txt", "sub/c.txt"} and len(texts) == 1:
        return texts.pop()[:2]
    return f"MIX {sorted(files)} {sorted(t[:2] for t in texts)}"


@pytest.mark.parametrize("point", ["write:b.txt", "replace:a.txt", "replaced:c.txt", "commit:*:staged",
                                   "commit:*:swap", "commit:*:swapped", "commit:*:removing"])
def test_staged_dir_is_all_or_nothing_under_kill(tmp_path, point):
    target = tmp_path / "run"
    assert _python(WRITE_DIR.format(target=str(target), text="v1")) == 0
    code = _python(WRITE_DIR.format(target=str(target), text="v2"), crash=point)
    state = _state(target)
    assert code in (-9, 0) and state in ("v1", "v2"), (code, state)
    if point in ("commit:*:swapped", "commit:*:removing"):
        assert code == -9 and state == "v2"
    elif code == -9:
        assert state == "v1"
    assert _python(WRITE_DIR.format(target=str(target), text="v3")) == 0  # the next run cleans up after the kill
    assert _state(target) == "v3" and cp.leftovers(target) == []


def test_fallback_swap_is_repaired_by_the_next_run(tmp_path):
    """Without renameat2(RENAME_EXCHANGE) a kill between the two renames leaves no target; the next run restores it."""
    target = tmp_path / "run"
    assert _python(WRITE_DIR.format(target=str(target), text="v1")) == 0
    no_exchange = {"EMOEDGE_NO_RENAME_EXCHANGE": "1"}
    assert _python(WRITE_DIR.format(target=str(target), text="v2"), "commit:*:aside", no_exchange) == -9
    assert not target.exists() and any(".old-" in n for n in cp.leftovers(target))
    from sdk.atomic import recover

    assert any("restored" in line for line in recover(target, quiet=True))
    assert _state(target) == "v1"
    assert _python(WRITE_DIR.format(target=str(target), text="v3"), extra_env=no_exchange) == 0
    assert _state(target) == "v3" and cp.leftovers(target) == []


def test_an_error_while_staging_leaves_the_target_untouched(tmp_path):
    from sdk.atomic import staged_dir, write_text

    target = tmp_path / "run"
    with staged_dir(target) as stage:
        write_text(stage / "a.txt", "v1")
    with pytest.raises(RuntimeError):
        with staged_dir(target) as stage:
            write_text(stage / "a.txt", "v2")
            raise RuntimeError("the exporter failed")
    assert (target / "a.txt").read_text() == "v1" and cp.leftovers(target) == []


def test_staged_dir_refuses_to_replace_a_foreign_directory(tmp_path):
    from sdk.atomic import OutputError, staged_dir

    (tmp_path / "mine.whl").write_text("not ours")
    with pytest.raises(OutputError, match="holds none of the files this command writes"):
        with staged_dir(tmp_path, ours=("report.json",)):
            pass
    assert (tmp_path / "mine.whl").read_text() == "not ours"


def test_atomic_files_and_figures_keep_the_usual_permissions(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sdk.atomic import save_figure, write_json

    fig = plt.figure()
    save_figure(fig, tmp_path / "f.png", dpi=50)
    plt.close(fig)
    write_json(tmp_path / "a.json", {"x": 1})
    mask = os.umask(0)
    os.umask(mask)
    for name in ("f.png", "a.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask
    assert cp.png_ok(tmp_path / "f.png") and json.loads((tmp_path / "a.json").read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# --------------------------------------------------------------------------- the real CLIs under kill -9
@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("crash")


@pytest.fixture(scope="module")
def tools(work):
    """Checkpoints A and B (tiny, synthetic) and the previous runs of train and PNAO (from A)."""
    return cp.prepare(["train", "pnao"], work, work / "log.txt")


def _kill_and_inspect(tool, points, work) -> list[dict]:
    rows = cp.run_points(tool, points, work / "log.txt")
    bad = [r for r in rows if not r["killed"] or r["state"] not in ("previous", "new")]
    assert not bad, f"{tool.name}: {bad}\n{(work / 'log.txt').read_text()[-3000:]}"
    return rows


def test_train_killed_at_its_writes_leaves_the_previous_run_or_the_new_one(tools, work):
    """#7: on the old code a kill right after model.pt's rename left the new model.pt beside the old metrics.json."""
    rows = _kill_and_inspect(tools["train"], cp.points_for("train", 0, quick=True), work)
    assert rows[0]["state"] == "previous"  # killed inside the staging directory: the target never saw it
    assert rows[-1]["state"] == "new"  # killed after the swap, while removing the old run


def test_pnao_killed_at_its_final_writes_leaves_the_previous_result_or_the_new_one(tools, work):
    """#7: on the old code a kill after best/model.pt's rename left it beside the previous run's pnao.json."""
    rows = _kill_and_inspect(tools["pnao"], cp.points_for("pnao", 0, quick=True), work)
    assert [r["state"] for r in rows] == ["previous", "new"]


@pytest.mark.slow
def test_export_killed_at_its_writes_leaves_the_previous_dist_or_the_new_one(work):
    """#7: on the old code a kill after the new manifest left a dist mixing two checkpoints under a stale report.json.
    Slow: one tiny ONNX export takes about a minute on a 2-core host."""
    tool = cp.prepare(["export"], work, work / "log.txt")["export"]
    rows = _kill_and_inspect(tool, cp.points_for("export", 0, quick=True), work)
    assert [r["state"] for r in rows] == ["previous", "previous"]


@pytest.mark.slow
def test_every_kill_point_of_train_pnao_and_export(tmp_path):
    """The full sweep: >= 10 kill points per tool (named writes, commit steps, timed kills), then a clean run."""
    out = tmp_path / "crash.json"
    code = cp.main(["--work", str(tmp_path / "work"), "--json", str(out)])
    summary = json.loads(out.read_text())["summary"]
    assert code == 0, summary
    for name, row in summary.items():
        assert row["points"] >= 10 and row["mix"] == 0 and row["final_run"] == "new", (name, row)


# --------------------------------------------------------------------------- #8: fail early and clearly
def _train(argv, capsys) -> tuple[int, str]:
    from sdk import train

    code = train.main(argv)
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def test_train_refuses_an_unwritable_out_before_training(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    out = tmp_path / "a_file" / "run"
    code, text = _train(["--dataset", "synthetic", "--out", str(out), "--epochs", "1", "--quiet", "--threads", "1"],
                        capsys)
    assert code == 2 and str(out) in text and "a_file is a file" in text and "pass a new directory" in text
    assert "parameters" not in text  # nothing was trained


def test_train_refuses_to_replace_a_directory_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    code, text = _train(["--dataset", "synthetic", "--out", str(tmp_path), "--epochs", "1", "--quiet"], capsys)
    assert code == 2 and "notes.txt" in text and (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("epochs", ["0", "-3"])
def test_train_refuses_fewer_than_one_epoch(tmp_path, capsys, epochs):
    code, text = _train(["--dataset", "synthetic", "--out", str(tmp_path / "run"), "--epochs", epochs, "--quiet"],
                        capsys)
    assert code == 2 and f"--epochs must be >= 1, not {epochs}" in text
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("missing", ["train", "test"])
def test_train_refuses_a_split_without_train_or_test_samples(tmp_path, capsys, missing):
    from sdk.data import load_dataset
    from sdk.data.npz import save_npz

    data = load_dataset("synthetic")
    data = data.subset(np.arange(240))
    split = np.where(data.split == missing, "val" if missing == "test" else "test", data.split)
    import dataclasses

    path = save_npz(dataclasses.replace(data, split=split), tmp_path / "nosplit.npz")
    code, text = _train(["--dataset", "npz", "--data", str(path), "--out", str(tmp_path / "run"), "--epochs", "1",
                         "--quiet", "--threads", "1"], capsys)
    assert code == 2 and f"no {missing} samples" in text and "nan" not in text
    assert not (tmp_path / "run").exists()


def test_pnao_and_export_check_out_before_any_work(tools, tmp_path, capsys):
    from compress import pnao

    import export.__main__ as export_cli

    (tmp_path / "a_file").write_text("")
    base = str(tools["train"].snapshot)
    assert pnao.main(["--checkpoint", base, "--out", str(tmp_path / "a_file" / "p"), "--rounds", "1",
                      "--quiet"]) == 2
    assert "a_file is a file" in capsys.readouterr().err
    assert export_cli.main(["--checkpoint", base, "--out", str(tmp_path / "a_file" / "d"), "--format", "onnx",
                            "--precision", "fp32", "--quiet"]) == 2
    assert "a_file is a file" in capsys.readouterr().err
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "wheel.whl").write_text("")
    assert export_cli.main(["--checkpoint", base, "--out", str(tmp_path / "dist"), "--format", "onnx",
                            "--quiet"]) == 2
    assert "wheel.whl" in capsys.readouterr().err and (tmp_path / "dist" / "wheel.whl").exists()
