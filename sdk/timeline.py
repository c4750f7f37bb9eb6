"""An emotion timeline over a recording: per-class probability and per-modality gate over time.

    python -m sdk.timeline --model dist/live/onnx/model_fp32.onnx --audio A.wav \\
        [--video V.mp4] [--transcript T.txt] [--out timeline/] [--hop-ms 250]

The recording is replayed through a `StreamingRecognizer` exactly as a live app would feed
it: audio in hop-sized chunks (`push_audio`: resampled, Silero VAD, a sliding window of the
model's length), video frames at their timestamps (`push_frame`: face detected and cropped;
decoded with OpenCV's FFmpeg-backed VideoCapture, at most one frame per hop), transcript
lines at their start times (`push_text`; cleared at their end). After each hop one prediction
is made on the current windows. Writes `timeline.json` (one point per hop: time, label,
probabilities, gates, present modalities, absent reasons) and `timeline.png`.

Transcript format: one line per utterance, `START END text` with times in seconds
(`0.5 2.8 I can't believe it`); a line without times applies to the whole recording.
With `--labels L.json` (as written by `build_recording`) the JSON also reports the fraction
of speech points whose top class matches the label of the clip that fills most of the window.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def read_transcript(path: str | Path, duration_s: float) -> list[tuple[float, float, str]]:
    lines = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        parts = line.split(maxsplit=2)
        try:
            start, end = float(parts[0]), float(parts[1])
            text = parts[2] if len(parts) > 2 else ""
        except (ValueError, IndexError):
            start, end, text = 0.0, duration_s, line.strip()
        if not (np.isfinite(start) and np.isfinite(end) and end >= start):
            raise ValueError(f"{path}: line {i + 1}: START END must be finite seconds with END >= START")
        lines.append((start, end, text))
    return sorted(lines)


def video_frames(path: str | Path, hop_ms: float):
    """(time ms, BGR frame) from a video file, at most one frame per hop."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"--video: cannot open {path} (any format FFmpeg reads: MP4, MKV, AVI, ...)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    index, last = 0, -np.inf
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            t = capture.get(cv2.CAP_PROP_POS_MSEC)
            if not np.isfinite(t) or t <= 0 and index > 0:
                t = 1000.0 * index / fps if fps > 0 else index * hop_ms
            index += 1
            if t - last >= hop_ms * 0.999:
                last = t
                yield float(t), frame
    finally:
        capture.release()


def run_timeline(recognizer, audio: np.ndarray, sample_rate: int, video=None, transcript=None,
                 hop_ms: float = 250.0) -> list[dict]:
    """Replay a recording through a stream (see the module docstring); one dict per hop."""
    stream = recognizer.stream(min_interval_ms=float("inf"))
    live = stream.live()
    hop = max(1, int(round(sample_rate * hop_ms / 1000.0)))
    frames = iter(video_frames(video, hop_ms)) if video else iter(())
    pending_frame = next(frames, None)
    texts = list(transcript or [])
    events = sorted([(s * 1000.0, t) for s, _, t in texts] + [(e * 1000.0, "") for _, e, _ in texts],
                    key=lambda e: (e[0], e[1] != ""))
    points = []
    for start in range(0, len(audio), hop):
        chunk = audio[start:start + hop]
        t = 1000.0 * (start + len(chunk)) / sample_rate
        while pending_frame is not None and pending_frame[0] <= t:
            live.push_frame(pending_frame[1], pending_frame[0], color_order="bgr")
            pending_frame = next(frames, None)
        while events and events[0][0] <= t:
            when, text = events.pop(0)
            live.push_text(text, when)
        live.push_audio(chunk, t, sample_rate)
        result = stream.predict_now(t)
        if result is None:
            with stream._lock:
                reasons = live.absent(stream.windows.windows(t), t)
            points.append({"t_ms": t, "label": None, "probabilities": None,
                           "gate_weights": {n: 0.0 for n in recognizer.modality_names},
                           "present": [], "absent_reasons": reasons})
        else:
            points.append({"t_ms": t, "label": result.label, "probabilities": result.probabilities,
                           "gate_weights": result.gate_weights, "present": list(result.modalities_used),
                           "absent_reasons": result.absent_reasons})
    return points


def label_agreement(points: list[dict], labels: list[dict], window_ms: float, audio_name: str = "audio") -> dict:
    """Among points with audio present whose window overlaps a labelled clip: the fraction whose top
    class is the label of the clip overlapping the window most; and the silence points marked absent."""
    speech = hits = silence = silence_absent = 0
    for p in points:
        lo, hi = p["t_ms"] - window_ms, p["t_ms"]
        overlaps = [(min(hi, c["end_s"] * 1000) - max(lo, c["start_s"] * 1000), c["label"]) for c in labels]
        overlap, label = max(overlaps, default=(0.0, None))
        inside = any(c["start_s"] * 1000 <= hi and c["end_s"] * 1000 >= hi - 500 for c in labels)
        if audio_name in p["present"] and overlap > 0:
            speech += 1
            hits += p["label"] == label
        if overlap <= 0 and not inside:  # the whole window is silence
            silence += 1
            silence_absent += audio_name not in p["present"]
    return {"speech_points": speech, "top1_matches_label": hits / speech if speech else None,
            "silence_points": silence, "silence_audio_absent": silence_absent / silence if silence else None}


def plot_timeline(points: list[dict], class_names, modality_names, path: Path, labels=None, title: str = ""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sdk.atomic import save_figure

    t = np.array([p["t_ms"] for p in points]) / 1000.0
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(13, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    cmap = plt.get_cmap("tab10")
    for i, c in enumerate(class_names):
        y = np.array([p["probabilities"][c] if p["probabilities"] else np.nan for p in points])
        ax1.plot(t, y, label=c, color=cmap(i), lw=1.5)
    for c in labels or []:
        i = list(class_names).index(c["label"]) if c["label"] in class_names else 9
        ax1.axvspan(c["start_s"], c["end_s"], color=cmap(i), alpha=0.12)
        ax1.text((c["start_s"] + c["end_s"]) / 2, 1.02, c["label"], ha="center", fontsize=8, color=cmap(i))
    ax1.set_ylim(0, 1.08)
    ax1.set_ylabel("probability")
    ax1.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8)
    ax1.set_title(title or "emotion timeline (shaded: labelled clips; gaps: every modality absent)")
    for j, m in enumerate(modality_names):
        g = np.array([p["gate_weights"].get(m, 0.0) for p in points])
        ax2.step(t, g, where="post", label=m, lw=1.5)
        absent = np.array([m not in p["present"] for p in points])
        ax2.fill_between(t, -0.05 - 0.05 * j, -0.1 - 0.05 * j, where=absent, step="post", alpha=0.6,
                         label=f"{m} absent")
    ax2.set_ylim(-0.3, 1.05)
    ax2.set_ylabel("gate")
    ax2.set_xlabel("time (s)")
    ax2.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def build_recording(out_wav: str | Path, seconds: float = 30.0, silence_s: float = 3.2, seed: int = 0,
                    data: str | Path | None = None) -> list[dict]:
    """A test recording: RAVDESS clips of different emotions (test actors 19-24, speech-trimmed)
    with `silence_s` of silence between them, about `seconds` long, 16 kHz; writes it and
    `<out_wav>.labels.json` ([{start_s, end_s, label, file}]) and returns the labels."""
    from sdk.atomic import write_json
    from sdk.audio_io import read_audio, write_wav
    from sdk.data import resolve_directory
    from sdk.data.emotions import EMOTIONS
    from sdk.data.ravdess import TEST_ACTORS, read_ravdess_metadata, trim_silence

    directory = resolve_directory("ravdess_speech", data)
    rows = [r for r in read_ravdess_metadata(directory) if r["actor"] in TEST_ACTORS]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(EMOTIONS))
    pieces, labels, t = [np.zeros(int(silence_s * 16000), np.float32)], [], silence_s
    k = 0
    while t < seconds - silence_s:
        label = int(order[k % len(order)])
        k += 1
        choices = [r for r in rows if r["label"] == label]
        row = choices[int(rng.integers(len(choices)))]
        x, sr = read_audio(row["file"])
        if sr != 16000:
            from sdk.audio_io import resample

            x = resample(x, sr, 16000)
        x = trim_silence(x)
        if t + len(x) / 16000 > seconds:
            break
        pieces += [x, np.zeros(int(silence_s * 16000), np.float32)]
        labels.append({"start_s": round(t, 4), "end_s": round(t + len(x) / 16000, 4), "label": EMOTIONS[label],
                       "file": Path(row["file"]).name})
        t += len(x) / 16000 + silence_s
    audio = np.concatenate(pieces)
    audio = np.concatenate([audio, np.zeros(max(0, int(seconds * 16000) - len(audio)), np.float32)])
    write_wav(out_wav, audio, 16000)
    write_json(Path(str(out_wav) + ".labels.json"), labels)
    return labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdk.timeline", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--model", type=Path, required=True, help="an artifact (with its manifest) or a checkpoint")
    parser.add_argument("--audio", type=Path, required=True, help="WAV/FLAC/OGG, any sample rate")
    parser.add_argument("--video", type=Path, help="a video file (decoded with OpenCV)")
    parser.add_argument("--transcript", type=Path, help="START END text lines (seconds)")
    parser.add_argument("--labels", type=Path, help="clip labels JSON (from build_recording) for the agreement")
    parser.add_argument("--out", type=Path, default=Path("timeline"), help="output directory (default timeline/)")
    parser.add_argument("--hop-ms", type=float, default=250.0, help="one prediction per hop (default 250 ms)")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    from sdk.atomic import write_json
    from sdk.audio_io import read_audio
    from sdk.runtime import ArtifactError, BackendError, EmotionRecognizer, InputError

    if not args.hop_ms > 0:
        print("error: --hop-ms must be > 0", file=sys.stderr)
        return 2
    try:
        recognizer = EmotionRecognizer.load(args.model, backend=args.backend, num_threads=max(1, args.threads))
        audio, rate = read_audio(args.audio)
        transcript = read_transcript(args.transcript, len(audio) / rate) if args.transcript else None
        labels = json.loads(args.labels.read_text()) if args.labels else None
        points = run_timeline(recognizer, audio, rate, args.video, transcript, args.hop_ms)
    except (ArtifactError, BackendError, FileNotFoundError, InputError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from sdk.live_inputs import waveform_modality

    m = waveform_modality(recognizer.spec)
    summary = {"model": str(args.model), "backend": recognizer.backend, "audio": str(args.audio),
               "duration_s": len(audio) / rate, "hop_ms": args.hop_ms, "points": len(points),
               "audio_present_fraction": float(np.mean([bool(m and m.name in p["present"]) for p in points]))}
    if labels and m is not None:
        summary.update(label_agreement(points, labels, 1000.0 * m.seq_len / (m.sample_rate or 16000), m.name))
    write_json(args.out / "timeline.json", {"summary": summary, "class_names": recognizer.class_names,
                                            "labels": labels, "points": points})
    plot_timeline(points, recognizer.class_names, recognizer.modality_names, args.out / "timeline.png", labels,
                  title=f"{args.audio.name}: {recognizer.backend}")
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out / 'timeline.json'} and {args.out / 'timeline.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
