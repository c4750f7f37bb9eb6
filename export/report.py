"""The status table (Ultralytics style), printed and written as Markdown and JSON.

`report.json` = {"artifacts": [{format, precision, status, path, size_bytes,
test: {accuracy, weighted_f1}, max_abs_prob_diff, top1_agreement, latency_ms_p50,
delegated_fraction, sha256, error}], "seconds", "checkpoint": {path, sha256}}, plus
"reference", "checks" and "details" (per-artifact notes: quantization, delegation,
subsets) beside them. Written atomically (sdk.atomic); `python -m export` commits the
whole dist directory together.
"""
from __future__ import annotations

from pathlib import Path

from sdk.atomic import write_json, write_text

STATUS_MARK = {"ok": "✅", "verify_failed": "❎", "export_failed": "❌"}
LEGEND = "✅ ok · ❎ exported but failed verification · ❌ export failed"


def empty_entry(format_name: str, precision: str) -> dict:
    return {"format": format_name, "precision": precision, "status": "export_failed", "path": None,
            "size_bytes": None, "test": {"accuracy": None, "weighted_f1": None}, "max_abs_prob_diff": None,
            "top1_agreement": None, "latency_ms_p50": None, "delegated_fraction": None, "sha256": None, "error": None}


def _fmt(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def format_table(artifacts: list[dict], reference: dict | None = None) -> str:
    header = ("| Format | Precision | Status | Size KB | Acc | WF1 | max |Δp| | top-1 agree | CPU ms p50 "
              "| delegated % |")
    lines = [header, "|" + "---|" * 10]
    if reference:
        lines.append(f"| PyTorch | fp32 | ✅ | {_fmt(reference.get('size_bytes', 0) / 1024, '.0f')} "
                     f"| {reference['accuracy']:.4f} | {reference['weighted_f1']:.4f} | 0 | 1.000 "
                     f"| {_fmt(reference.get('latency_ms_p50'), '.2f')} | — |")
    for a in artifacts:
        size = None if a["size_bytes"] is None else a["size_bytes"] / 1024
        delegated = None if a["delegated_fraction"] is None else 100 * a["delegated_fraction"]
        lines.append(
            f"| {a['format']} | {a['precision']} | {STATUS_MARK[a['status']]} | {_fmt(size, '.0f')} "
            f"| {_fmt(a['test']['accuracy'], '.4f')} | {_fmt(a['test']['weighted_f1'], '.4f')} "
            f"| {_fmt(a['max_abs_prob_diff'], '.1e')} | {_fmt(a['top1_agreement'], '.3f')} "
            f"| {_fmt(a['latency_ms_p50'], '.2f')} | {_fmt(delegated, '.1f')} |"
        )
    errors = [f"- {a['format']} {a['precision']}: {a['error']}" for a in artifacts if a.get("error")]
    return "\n".join(lines + ["", LEGEND] + (["", *errors] if errors else []))


def write_report(out: Path, report: dict) -> str:
    table = format_table(report["artifacts"], report.get("reference"))
    checks = [f"- {c['name']}: {'pass' if c['passed'] else 'FAIL'} ({c['value']})" for c in report.get("checks", [])]
    text = "# Export status\n\n" + table + ("\n\n## Checks\n\n" + "\n".join(checks) if checks else "") + "\n"
    write_text(Path(out) / "report.md", text)
    write_json(Path(out) / "report.json", report)  # last: what other tools read (each file atomic)
    return table
