"""The measured numbers of the live SDK (issue 16, "Must show"), one command:

    python -m sdk.live_bench --models runs/live dist/live/onnx/model_fp32.onnx ... --out runs/live_sdk

1. predict on a real RAVDESS clip (test actor) + a FER2013 PrivateTest face + a sentence, for
   every model given (each its own backend); then the same clip with the face hidden (a blank
   frame) and the text empty: the absent modalities, their reasons and gates.
2. Streaming real-time factor (processing time / audio time) at one thread per model: the 30 s
   recording (sdk.timeline.build_recording) pushed in 20 ms chunks, a camera frame every 100 ms,
   one prediction per 250 ms.
3. RSS growth over 10^5 pushes on the first model (10 ms audio chunks; every 100th push a frame,
   every 1000th a text), one prediction per 500 ms of audio.
Writes `<out>/live_bench.json`. Needs ../shared/datasets (ravdess_speech, fer2013).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

SENTENCE = "I am so angry, this is completely unacceptable!"


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def real_inputs(label: str = "angry"):
    from sdk.audio_io import read_audio
    from sdk.data import resolve_directory
    from sdk.data.emotions import EMOTIONS
    from sdk.data.ravdess import TEST_ACTORS, read_ravdess_metadata

    rows = [r for r in read_ravdess_metadata(resolve_directory("ravdess_speech", None))
            if r["actor"] in TEST_ACTORS and EMOTIONS[r["label"]] == label]
    clip = rows[0]["file"]
    audio, rate = read_audio(clip)
    fer = np.load(resolve_directory("fer2013", None) / "fer2013_48x48.npz")
    images, labels, usage = fer["images"], fer["labels"], fer["usage"]
    classes = [str(c) for c in fer["classes"]]
    index = int(np.flatnonzero((usage == "PrivateTest") & (labels == classes.index(label)))[0])
    return clip, audio, rate, index, images[index], images


def components(rec, rate, face, recognizers) -> dict:
    """Median ms per call of each stage: a 32 ms VAD frame, face detection (+crop) on a 48x48 and a
    640x480 frame, and each model on prepared inputs (no VAD, no detection)."""
    import cv2
    import matplotlib

    from sdk import vad
    from sdk.audio_io import resample
    from sdk.facedetect import face_crop
    from sdk.live_inputs import face_modality, waveform_modality

    def median_ms(fn, n):
        times = []
        for _ in range(n):
            start = time.perf_counter()
            fn()
            times.append(1e3 * (time.perf_counter() - start))
        return round(float(np.median(times)), 3)

    v = vad.SileroVAD()
    x16 = resample(rec, rate, 16000)
    frames = iter(range(0, len(x16) - vad.FRAME, vad.FRAME))
    out = {"vad_frame_32ms": median_ms(lambda: v.push(x16[(i := next(frames)):i + vad.FRAME]), 300)}
    photo = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    vga = cv2.resize(photo, (640, 480))
    out["face_48x48"] = median_ms(lambda: face_crop(face), 50)
    out["face_640x480"] = median_ms(lambda: face_crop(vga, "bgr"), 30)
    for path, r in recognizers.items():
        m, f = waveform_modality(r.spec), face_modality(r.spec)
        window = np.zeros(m.seq_len, np.float32) + rec[: m.seq_len] if m else None
        inputs = {m.name: window} if m else {}
        if f is not None:
            inputs[f.name] = face.astype(np.float32)[None, None]
        r.predict(**inputs)
        out[f"model {r.backend} {r.precision} {Path(path).name}"] = median_ms(lambda: r.predict(**inputs), 20)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdk.live_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--out", type=Path, default=Path("runs/live_sdk"))
    parser.add_argument("--pushes", type=int, default=100_000)
    parser.add_argument("--recording", type=Path, help="the 30 s recording (built when missing)")
    parser.add_argument("--frame-ms", type=int, default=100, help="push a camera frame every N ms (0: none)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from sdk.atomic import write_json
    from sdk.audio_io import read_audio
    from sdk.runtime import EmotionRecognizer
    from sdk.timeline import build_recording

    clip, audio, rate, face_index, face, images = real_inputs()
    report = {"clip": Path(clip).name, "fer2013_index": face_index, "sentence": SENTENCE, "predict": [],
              "streaming": []}
    recording = args.recording or args.out / "recording30.wav"
    if not recording.exists():
        build_recording(recording)
    rec, rec_rate = read_audio(recording)
    blank = np.full((48, 48), 128, np.uint8)
    recognizers = {}
    for path in args.models:
        try:
            r = EmotionRecognizer.load(path, num_threads=1)
        except Exception as err:  # noqa: BLE001 - reported, the others still run
            report["predict"].append({"model": path, "error": f"{type(err).__name__}: {err}"})
            continue
        recognizers[path] = r
        for case, kwargs in (("full", dict(image=face, text=SENTENCE)), ("face hidden, text empty",
                                                                          dict(image=blank, text=""))):
            r.predict(audio=audio, sample_rate=rate, **kwargs)  # warm-up
            res = r.predict(audio=audio, sample_rate=rate, **kwargs)
            report["predict"].append({"model": path, "backend": r.backend, "precision": r.precision, "case": case,
                                      "label": res.label, "p_label": round(res.confidence, 4),
                                      "p_angry": round(res.probabilities.get("angry", float("nan")), 4),
                                      "gates": {k: round(v, 4) for k, v in res.gate_weights.items()},
                                      "present": list(res.modalities_used), "absent_reasons": res.absent_reasons,
                                      "latency_ms": round(res.latency_ms, 2)})
            print(json.dumps(report["predict"][-1]), flush=True)
    report["components_ms"] = components(rec, rec_rate, face, recognizers)
    print(json.dumps(report["components_ms"]), flush=True)
    chunk = rec_rate // 50
    for path, r in recognizers.items():
        stream = r.stream(min_interval_ms=250.0)
        count = [0]
        stream.callback = lambda res: count.__setitem__(0, count[0] + 1)
        start = time.perf_counter()
        for i in range(0, len(rec), chunk):
            t = 1000.0 * (i + chunk) / rec_rate
            if args.frame_ms and (i // chunk) % max(1, args.frame_ms // 20) == 0:
                stream.push_frame(face, t)
            stream.push_audio(rec[i:i + chunk], t, sample_rate=rec_rate)
        seconds = time.perf_counter() - start
        report["streaming"].append({"model": path, "backend": r.backend, "precision": r.precision,
                                    "audio_s": len(rec) / rec_rate, "processing_s": round(seconds, 3),
                                    "rtf": round(seconds / (len(rec) / rec_rate), 4), "results": count[0],
                                    "frame_every_ms": args.frame_ms})
        print(json.dumps(report["streaming"][-1]), flush=True)
    if recognizers and args.pushes:
        path, r = next(iter(recognizers.items()))
        stream = r.stream(min_interval_ms=500.0)
        step = rec_rate // 100
        rss = []
        start = time.perf_counter()
        for k in range(args.pushes):
            t = 10.0 * (k + 1)
            if k % 1000 == 999:
                stream.push_text(SENTENCE if (k // 1000) % 2 else "", t)
            elif k % 100 == 99:
                stream.push_frame(images[k % len(images)], t)
            else:
                i = (k * step) % (len(rec) - step)
                stream.push_audio(rec[i:i + step], t, sample_rate=rec_rate)
            if k % 10_000 == 9_999:
                rss.append(round(rss_mb(), 1))
        report["rss"] = {"model": path, "backend": r.backend, "pushes": args.pushes, "rss_mb_every_10k": rss,
                         "growth_mb_after_first_10k": round(rss[-1] - rss[0], 1), "results": stream.results,
                         "seconds": round(time.perf_counter() - start, 1)}
        print(json.dumps(report["rss"]), flush=True)
    write_json(args.out / "live_bench.json", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
