"""Kill -9 the real CLIs at chosen points and inspect what they leave behind (issue 13 #7).

    .venv/bin/python tests/crash_points.py --tools train,pnao,export --work /tmp/crash --json crash.json
    .venv/bin/python tests/crash_points.py --tools train --quick            # 3 points, what the default tests run

For each tool a previous run is made (seed/checkpoint A) and kept as a snapshot;
then the same command on other inputs (B) is started again and again into the
same output directory and SIGKILLed at one point each time:

- `timed`:  after a fraction of the measured duration of a complete run
            (the whole process group gets SIGKILL);
- `label`:  at a named write point of the code (EMOEDGE_CRASH_AT, sdk.atomic.crash_point:
            `write:NAME` data written but not fsynced, `replace:NAME` before the rename,
            `replaced:NAME` after it, `commit:DIR:staged|swap|swapped|removing` in the
            directory swap, `exported:ARTIFACT` between an artifact and its manifest);
- `rename`: right after the N-th `os.replace` onto a file of a given name, by a
            launcher that wraps os.replace (needs no hook in the code, so the same
            point also runs against code without sdk.atomic: that is how the tests
            show the old code failing).

After each kill the output directory is classified:
  previous  every output file is byte-identical to the previous run's;
  new       the new run is complete and consistent (model.pt <-> metrics.json,
            best/ <-> pnao.json, artifact <-> manifest <-> report.json <-> checkpoint),
            and no output file is a leftover of the previous run;
  MIX       anything else (files of both runs, a missing or 0-byte file, a torn file).
Visible temp files in the output count as a failure; hidden staging/temp leftovers
of the killed process are listed and must be gone after the final complete run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

#: Run a module with os.replace wrapped: SIGKILL right after the N-th rename onto a file named NAME.
LAUNCHER = r"""
import os, runpy, signal, sys
from pathlib import Path
name, nth = os.environ["CRASH_AFTER_RENAME"].rsplit("@", 1)
count, real = [0], os.replace
def replace(src, dst, *args, **kwargs):
    real(src, dst, *args, **kwargs)
    if Path(dst).name == name:
        count[0] += 1
        if count[0] == int(nth):
            sys.stderr.write(f"CRASH_AFTER_RENAME: SIGKILL after {dst}\n"); sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
module = sys.argv[1]
sys.argv = [module] + sys.argv[2:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""

TINY = ["--epochs", "2", "--hidden-size", "16", "--ffn-size", "16", "--threads", "1", "--quiet"]
PNAO_ARGS = ["--rounds", "2", "--rewind-epochs", "1", "--threads", "1", "--quiet"]
EXPORT_ARGS = ["--format", "onnx", "--precision", "fp32", "--max-test-samples", "20", "--quiet"]


def env(extra: dict | None = None) -> dict:
    e = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
         "PYTHONUNBUFFERED": "1"}
    e.pop("EMOEDGE_CRASH_AT", None)
    e.pop("CRASH_AFTER_RENAME", None)
    return {**e, **(extra or {})}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_module(module: str, args: list[str], log: Path, timeout: float = 1800) -> float:
    """Run `python -m module args` to completion (raises if it fails); returns seconds."""
    started = time.perf_counter()
    with open(log, "ab") as f:
        code = subprocess.call([PY, "-m", module, *args], cwd=ROOT, env=env(), stdout=f, stderr=f, timeout=timeout)
    if code != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed ({code}); see {log}")
    return time.perf_counter() - started


# --------------------------------------------------------------------------- inspection
def visible_files(root: Path) -> dict[str, Path]:
    """Relative path -> file, for every non-hidden file under root (hidden = any part starting with '.')."""
    if not root.is_dir():
        return {}
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)}


def leftovers(target: Path) -> list[str]:
    """Hidden temp files/dirs of a killed write: siblings `.NAME.staging-*`/`.NAME.old-*`, hidden *.tmp inside."""
    found = [p.name for p in target.parent.glob(f".{target.name}.*")] if target.parent.is_dir() else []
    if target.is_dir():
        found += [str(p.relative_to(target)) for p in target.rglob(".*")
                  if p.name.endswith(".tmp") or ".staging-" in p.name or ".old-" in p.name]
    return sorted(found)


def png_ok(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(b"\x89PNG\r\n\x1a\n") and data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82")


@dataclass
class Tool:
    name: str
    module: str
    target: Path
    args: list[str]  # the killed (new) run's arguments, without --out
    outputs: tuple[str, ...] | None = None  # the committed outputs compared with the previous run (None: all files)
    snapshot: Path | None = None
    same_ok: set[str] = field(default_factory=set)  # outputs a complete new run legitimately shares byte-for-byte

    def command(self) -> list[str]:
        return [*self.args, "--out", str(self.target)]

    def files(self, root: Path) -> dict[str, Path]:
        files = visible_files(root)
        if self.outputs is None:
            return files
        return {k: v for k, v in files.items() if any(k == o or k.startswith(o + "/") for o in self.outputs)}

    def consistent(self, root: Path) -> list[str]:
        return CONSISTENCY[self.name](root)

    def classify(self, root: Path | None = None) -> tuple[str, list[str]]:
        root = root or self.target
        files, old = self.files(root), self.files(self.snapshot)
        problems = [f"0-byte {k}" for k, p in files.items() if p.stat().st_size == 0]
        problems += [f"visible temp file {k}" for k in visible_files(root) if k.endswith(".tmp")]
        if files.keys() == old.keys() and all(sha(files[k]) == sha(old[k]) for k in files):
            return ("previous" if not problems else "MIX"), problems
        problems += self.consistent(root)
        missing = sorted(set(self.expected()) - set(files))
        problems += [f"missing {k}" for k in missing]
        stale = [k for k in files if k in old and k not in self.same_ok and sha(files[k]) == sha(old[k])]
        problems += [f"{k} is the previous run's" for k in stale]
        return ("new" if not problems else "MIX"), problems

    def expected(self) -> list[str]:
        return list(self.files(self.snapshot))


def _train_consistency(root: Path) -> list[str]:
    import torch

    problems = []
    try:
        payload = torch.load(root / "model.pt", map_location="cpu", weights_only=True)
        metrics = json.loads((root / "metrics.json").read_text())
        spec = json.loads((root / "spec.json").read_text())
        history = json.loads((root / "history.json").read_text())
    except Exception as err:  # noqa: BLE001 - a torn or missing file
        return [f"unreadable: {type(err).__name__}: {str(err)[:120]}"]
    recorded = metrics.pop("checkpoint_sha256", None)
    if recorded is not None and recorded != sha(root / "model.pt"):
        problems.append("metrics.json's checkpoint_sha256 is not model.pt's")
    if payload.get("metrics") != metrics:
        problems.append("metrics.json differs from the metrics stored in model.pt")
    if payload.get("spec") != spec:
        problems.append("spec.json differs from model.pt's spec")
    if len(history) != metrics.get("epochs_run"):
        problems.append("history.json does not match metrics.json's epochs_run")
    problems += [f"{n} is not a complete PNG" for n in ("curves.png", "confusion.png")
                 if (root / n).is_file() and not png_ok(root / n)]
    return problems


def _pnao_consistency(root: Path) -> list[str]:
    import torch

    try:
        result = json.loads((root / "pnao.json").read_text())
        details = json.loads((root / "pnao_details.json").read_text())
        payload = torch.load(root / "best" / "model.pt", map_location="cpu", weights_only=True)
        spec = json.loads((root / "best" / "spec.json").read_text())
    except Exception as err:  # noqa: BLE001
        return [f"unreadable: {type(err).__name__}: {str(err)[:120]}"]
    problems = []
    best = result["best_round"]
    if result.get("best_sha256") not in (None, sha(root / "best" / "model.pt")):
        problems.append("pnao.json's best_sha256 is not best/model.pt's")
    if payload.get("pnao_round") != best or payload.get("pnao_record") != result["rounds"][best]:
        problems.append("best/model.pt is not the round pnao.json names")
    if payload.get("spec") != spec:
        problems.append("best/spec.json differs from best/model.pt's spec")
    if [d["metrics"]["val"]["accuracy"] for d in details["rounds"]] != [r["val"]["accuracy"] for r in result["rounds"]]:
        problems.append("pnao_details.json belongs to another run than pnao.json")
    problems += [f"{n} is not a complete PNG" for n in ("rounds.png", "weights.png")
                 if (root / n).is_file() and not png_ok(root / n)]
    for path in sorted((root / "rounds").glob("round_*.pt")):  # intermediate, but never torn
        try:
            torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001
            problems.append(f"torn {path.relative_to(root)}")
    return problems


def _export_consistency(root: Path) -> list[str]:
    import torch

    from export.manifest import ArtifactError, check_artifact
    from export.report import format_table

    try:
        report = json.loads((root / "report.json").read_text())
        markdown = (root / "report.md").read_text()
    except Exception as err:  # noqa: BLE001
        return [f"unreadable: {type(err).__name__}: {str(err)[:120]}"]
    problems = []
    recorded = report.get("checkpoint") or {}
    checkpoint = recorded.get("path") or re.search(r"--checkpoint (\S+)", report.get("command", "")).group(1)
    checkpoint = Path(checkpoint)
    checkpoint = checkpoint / "model.pt" if checkpoint.is_dir() else checkpoint
    if recorded.get("sha256") not in (None, sha(checkpoint)):
        problems.append("report.json's checkpoint sha256 is not the checkpoint's")
    spec = torch.load(checkpoint, map_location="cpu", weights_only=True)["spec"]
    if format_table(report["artifacts"], report.get("reference")) not in markdown:
        problems.append("report.md's table is not report.json's")
    for entry in report["artifacts"]:
        path = root / entry["path"]
        try:
            manifest = check_artifact(path)
        except ArtifactError as err:
            problems.append(f"{entry['path']}: {str(err)[:160]}")
            continue
        if path.stat().st_size != entry["size_bytes"] or entry.get("sha256") not in (None, manifest["sha256"]):
            problems.append(f"{entry['path']} is not the artifact report.json describes")
        if manifest["spec"] != spec:
            problems.append(f"{entry['path']} was exported from another checkpoint than report.json's")
    return problems


CONSISTENCY = {"train": _train_consistency, "pnao": _pnao_consistency, "export": _export_consistency}


# --------------------------------------------------------------------------- setup and kills
def prepare(tools: list[str], work: Path, log: Path) -> dict[str, Tool]:
    """Two tiny checkpoints A (seed 1) and B (seed 2), and each tool's previous run from A."""
    work.mkdir(parents=True, exist_ok=True)
    bases = {}
    needed = (("A", "1"), ("B", "2")) if set(tools) - {"train"} else (("A", "1"),)  # train's new run starts from data
    for name, seed in needed:
        bases[name] = work / "bases" / name
        if not (bases[name] / "model.pt").is_file():
            run_module("sdk.train", ["--dataset", "synthetic", "--out", str(bases[name]), *TINY, "--seed", seed], log)
    made = {}
    for name in tools:
        if name == "train":
            tool = Tool("train", "sdk.train", work / "train" / "run",
                        ["--dataset", "synthetic", *TINY, "--seed", "2"])
            previous = bases["A"]
        elif name == "pnao":
            tool = Tool("pnao", "compress.pnao", work / "pnao" / "run",
                        ["--checkpoint", str(bases["B"]), *PNAO_ARGS],
                        outputs=("best", "pnao.json", "pnao_details.json", "rounds.png", "weights.png"))
            previous = work / "pnao" / "previous"
            if not (previous / "pnao.json").is_file():
                run_module("compress.pnao", ["--checkpoint", str(bases["A"]), *PNAO_ARGS, "--out", str(previous)], log)
        elif name == "export":
            tool = Tool("export", "export", work / "export" / "dist", ["--checkpoint", str(bases["B"]), *EXPORT_ARGS])
            previous = work / "export" / "previous"
            if not (previous / "report.json").is_file():
                run_module("export", ["--checkpoint", str(bases["A"]), *EXPORT_ARGS, "--out", str(previous)], log)
        else:
            raise ValueError(f"unknown tool {name}")
        tool.snapshot = previous
        made[name] = tool
    return made


def restore(tool: Tool) -> None:
    """Put the previous run back into the output directory (hidden leftovers beside it are left alone)."""
    if tool.target.exists():
        shutil.rmtree(tool.target)
    shutil.copytree(tool.snapshot, tool.target)


def launch(tool: Tool, kind: str, value, log: Path) -> tuple[int, float]:
    """Start the new run and kill it at the point; returns (exit status, seconds)."""
    extra = {}
    argv = [PY, "-m", tool.module, *tool.command()]
    if kind == "label":
        extra["EMOEDGE_CRASH_AT"] = value
    elif kind == "rename":
        extra["CRASH_AFTER_RENAME"] = value
        argv = [PY, "-c", LAUNCHER, tool.module, *tool.command()]
    started = time.perf_counter()
    with open(log, "ab") as f:
        f.write(f"\n===== {tool.name} {kind} {value}\n".encode())
        f.flush()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env(extra), stdout=f, stderr=f, start_new_session=True)
        try:
            proc.wait(timeout=value if kind == "timed" else 1800)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, time.perf_counter() - started


def points_for(name: str, duration: float, quick: bool) -> list[tuple[str, object]]:
    """The kill points of a tool: named writes and commit steps, plus timed kills over the run."""
    commit = [("label", f"commit:*:{step}") for step in ("staged", "swap", "swapped", "removing")]
    if name == "train":
        named = [("rename", "model.pt@1"), ("rename", "metrics.json@1"), ("label", "write:model.pt"),
                 ("label", "replace:spec.json"), ("label", "write:curves.png"), ("label", "replaced:confusion.png")]
        quick_set = [("rename", "model.pt@1"), ("label", "commit:*:swap"), ("label", "commit:*:removing")]
    elif name == "pnao":
        named = [("rename", "round_0.pt@1"), ("label", "write:round_*.pt@2"), ("rename", "model.pt@1"),
                 ("label", "replaced:pnao_details.json"), ("label", "write:rounds.png"),
                 ("label", "replace:pnao.json")]
        quick_set = [("rename", "model.pt@1"), ("label", "commit:*:swapped")]
    else:
        named = [("label", "exported:model_fp32.onnx"), ("rename", "model_fp32.onnx.json@1"),
                 ("label", "replaced:report.md"), ("label", "write:report.json")]
        quick_set = [("rename", "model_fp32.onnx.json@1"), ("label", "commit:*:swap")]
    if quick:
        return quick_set
    timed = [("timed", round(f * duration, 2)) for f in (0.3, 0.6, 0.8, 0.9, 0.97)]
    return named + commit + timed


def run_points(tool: Tool, points: list[tuple[str, object]], log: Path) -> list[dict]:
    rows = []
    for kind, value in points:
        restore(tool)
        code, seconds = launch(tool, kind, value, log)
        state, problems = tool.classify()
        rows.append({"tool": tool.name, "kind": kind, "point": value, "exit": code, "killed": code == -9,
                     "seconds": round(seconds, 1), "state": state, "problems": problems,
                     "leftovers": leftovers(tool.target)})
        print(f"{tool.name:6} {kind:6} {str(value):32} exit {code:>4} {seconds:6.1f} s  {state:8} "
              f"{'; '.join(problems)[:150]}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", default="train,pnao,export")
    parser.add_argument("--work", type=Path, default=Path("/tmp/emoedge-crash"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="the 2-3 points per tool of the default test run")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / "log.txt"
    tools = prepare(args.tools.split(","), args.work, log)
    rows, summary = [], {}
    for name, tool in tools.items():
        duration = None
        if not args.quick:  # a complete new run: its duration places the timed kills, and it must classify as new
            scratch = tool.target.with_name("complete")
            shutil.rmtree(scratch, ignore_errors=True)
            shutil.copytree(tool.snapshot, scratch)
            duration = run_module(tool.module, [*tool.args, "--out", str(scratch)], log)
            state, problems = tool.classify(scratch)
            if state != "new":
                raise RuntimeError(f"{name}: a complete run classifies as {state}: {problems}")
        tool_rows = run_points(tool, points_for(name, duration or 0, args.quick), log)
        run_module(tool.module, tool.command(), log)  # a final complete run over whatever the last kill left
        final_state, final_problems = tool.classify()
        final_leftovers = leftovers(tool.target)
        rows += tool_rows
        summary[name] = {
            "points": len(tool_rows),
            "killed": sum(r["killed"] for r in tool_rows),
            "previous": sum(r["state"] == "previous" for r in tool_rows),
            "new": sum(r["state"] == "new" for r in tool_rows),
            "mix": sum(r["state"] == "MIX" for r in tool_rows),
            "complete_run_seconds": duration,
            "final_run": final_state, "final_problems": final_problems, "final_leftovers": final_leftovers,
        }
        print(f"{name}: {summary[name]}", flush=True)
    if args.json:
        from sdk.atomic import write_json

        write_json(args.json, {"summary": summary, "points": rows}, indent=1)
    bad = any(s["mix"] or s["final_run"] != "new" or s["final_leftovers"] for s in summary.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
