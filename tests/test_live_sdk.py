"""The live SDK (issue 16 #1): raw PCM, camera frames and text into a live model.

VAD (Silero ONNX on onnxruntime), face detection (OpenCV Haar) + the crop rule, resampling
(soxr), predict's absent reasons, the push_* streaming API, and the predict / timeline CLIs,
all on a tiny live model (16 kHz, 1 s window, 48x48 face, 6 tokens) saved as a checkpoint.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from sdk import audio_io, vad
from sdk.face import crop_face
from sdk.inputs import InputError
from sdk.spec import FRAMES, TOKENS, WAVEFORM, ModalitySpec, ModelSpec, Normalization
from tests.helpers import unavailable

VOCABULARY = ["<pad>", "<unk>", "<sep>", "i", "feel", "happy", "sad", "today"]


def face_photo() -> np.ndarray:
    """A real face photo that ships in an installed wheel: matplotlib's grace_hopper.jpg (RGB)."""
    import cv2
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def ravdess_clip() -> tuple[np.ndarray, int]:
    from sdk.data import default_data_path

    root = default_data_path("ravdess_speech")
    if root is None:
        unavailable("ravdess_speech data not found (set EMOEDGE_DATA)")
    return audio_io.read_audio(next(iter(sorted(root.glob("a20/*.flac")))))


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    from sdk.checkpoint import save_checkpoint
    from sdk.model import EmotionModel

    rng = np.random.default_rng(0)
    spec = ModelSpec(
        modalities=[
            ModalitySpec("audio", WAVEFORM, 16000, sample_rate=16000, n_mels=16,
                         normalization=Normalization(rng.normal(-6, 1, 16).tolist(), rng.uniform(1, 3, 16).tolist())),
            ModalitySpec("video", FRAMES, 1, channels=1, height=48, width=48, normalize_in_graph=True,
                         encoder="face", normalization=Normalization([110.0], [60.0])),
            ModalitySpec("text", TOKENS, 6, vocabulary=VOCABULARY),
        ],
        class_names=["angry", "happy", "sad"], hidden_size=8, ffn_size=8, attention_heads=2,
        widths={"audio.audio": 8, "video.frame": 2}, dataset="synthetic_live",
    )
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny_live")
    save_checkpoint(out, EmotionModel(spec).eval())
    return out


@pytest.fixture(scope="module")
def recognizer(tiny_model_dir):
    from sdk.runtime import EmotionRecognizer

    torch.set_num_threads(1)
    return EmotionRecognizer.load(tiny_model_dir)


# ------------------------------------------------------------------ VAD
def test_vad_rule_on_fixed_probabilities():
    # 8 frames (256 ms) >= 250 ms: one segment; 7 frames: dropped; a 2-frame dip < 100 ms does not split
    assert vad.has_speech(np.r_[np.zeros(3), np.full(8, 0.9), np.zeros(5)])
    assert not vad.has_speech(np.r_[np.zeros(3), np.full(7, 0.9), np.zeros(5)])
    probs = np.r_[np.full(5, 0.9), [0.1, 0.1], np.full(5, 0.9), np.zeros(6)]
    assert [(s.start_frame, s.end_frame) for s in vad.segments(probs)] == [(0, 12)]
    # hysteresis: 0.4 (between 0.35 and 0.5) neither starts nor ends a segment
    assert not vad.has_speech(np.full(20, 0.4))
    assert vad.speech_mask(np.r_[0.6, np.full(10, 0.4), np.zeros(4)]).sum() == 11


def test_vad_silence_noise_and_tone_have_no_speech():
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 16000
    for x in (np.zeros(48000, np.float32), rng.normal(0, 0.01, 48000).astype(np.float32),
              (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)):
        speech, probs = vad.detect(x)
        assert not speech and len(probs) == 94 and probs.max() < 0.5


def test_vad_streaming_chunks_equal_the_whole_clip():
    x = np.random.default_rng(1).normal(0, 0.1, 5000).astype(np.float32)
    whole = vad.SileroVAD().push(x)
    v = vad.SileroVAD()
    parts = np.concatenate([v.push(x[i:i + 333]) for i in range(0, len(x), 333)])
    assert len(whole) == len(parts) == 9
    np.testing.assert_allclose(parts, whole, atol=1e-6)


def test_vad_model_comes_from_the_wheel_without_torch():
    import subprocess
    import sys

    code = ("import sys; from sdk import vad; import numpy as np; vad.detect(np.zeros(16000, np.float32)); "
            "print(vad.model_path()); assert 'torch' not in sys.modules, 'torch imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("silero_vad/data/silero_vad.onnx")


@pytest.mark.data
def test_vad_detects_speech_in_a_ravdess_clip():
    x, rate = ravdess_clip()
    speech, probs = vad.detect(audio_io.resample(x, rate, 16000))
    assert speech and (probs >= 0.5).mean() > 0.3


# ------------------------------------------------------------------ audio conversion
def test_pcm_dtypes_and_channels_to_mono_float():
    assert audio_io.to_mono_float(np.array([-32768, 0, 16384], np.int16)).tolist() == [-1.0, 0.0, 0.5]
    assert audio_io.to_mono_float(np.array([0, 128, 192], np.uint8)).tolist() == [-1.0, 0.0, 0.5]
    assert audio_io.to_mono_float(np.array([2 ** 30], np.int32)).tolist() == [0.5]
    stereo = np.stack([np.full(100, 0.2), np.full(100, 0.6)], axis=1).astype(np.float32)
    np.testing.assert_allclose(audio_io.to_mono_float(stereo), 0.4, rtol=1e-6)
    np.testing.assert_allclose(audio_io.to_mono_float(stereo.T), 0.4, rtol=1e-6)
    for bad, kind in ((np.array([np.nan], np.float32), "non_finite"), (np.zeros((3, 3, 3)), "wrong_shape"),
                      (b"\x00\x01", "wrong_type"), (np.array([1 + 1j]), "wrong_dtype")):
        with pytest.raises(InputError) as err:
            audio_io.to_mono_float(bad)
        assert err.value.kind == kind


def test_resampling_keeps_the_frequency_and_streams_like_one_shot():
    rate = 44100
    t = np.arange(rate) / rate
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y = audio_io.resample(x, rate, 16000)
    assert abs(len(y) - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(y[1000:15000] * np.hanning(14000)))
    assert abs(np.argmax(spectrum) * 16000 / 14000 - 440) < 2
    assert abs(np.abs(y[2000:14000]).max() - 0.5) < 0.01
    stream = audio_io.StreamResampler(16000)
    parts = np.concatenate([stream(x[i:i + 441], rate) for i in range(0, len(x), 441)])
    n = min(len(parts), len(y)) - 200
    np.testing.assert_allclose(parts[:n], y[:n], atol=1e-4)
    with pytest.raises(InputError):
        audio_io.resample(x, 0, 16000)


# ------------------------------------------------------------------ faces
def test_face_detect_and_crop_on_a_real_photo():
    from sdk.facedetect import detect_faces, face_crop

    rgb = face_photo()
    boxes = detect_faces(rgb)
    assert len(boxes) >= 1
    left, top, width, height = boxes[0]
    # the face of grace_hopper.jpg (512x600): centre near (265, 218), about 235 px wide
    assert abs(left + width / 2 - 265) < 25 and abs(top + height / 2 - 218) < 25 and 180 < width < 290
    crop, box = face_crop(rgb)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop, crop_face(rgb, box))
    bgr_crop, _ = face_crop(np.ascontiguousarray(rgb[:, :, ::-1]), "bgr")
    np.testing.assert_array_equal(bgr_crop, crop)
    # a tight 48x48 crop (FER2013-like) is still found (upscaled + padded before detection)
    assert detect_faces(crop)
    assert face_crop(np.full((120, 160, 3), 128, np.uint8)) == (None, None)


# ------------------------------------------------------------------ predict
def test_predict_absent_reasons(recognizer):
    rgb = face_photo()
    silence = np.zeros(44100, np.int16)
    result = recognizer.predict(audio=silence, sample_rate=44100, image=rgb, text="i feel happy today")
    assert result.modalities_used == ("video", "text")
    assert result.absent_reasons == {"audio": "no_speech"}
    assert result.gate_weights["audio"] == 0.0
    result = recognizer.predict(image=np.full((64, 64, 3), 90, np.uint8), text="i feel sad")
    assert result.absent_reasons == {"audio": "not_given", "video": "no_face"}
    assert result.gate_weights["video"] == 0.0 and result.modalities_used == ("text",)
    with pytest.raises(InputError) as err:
        recognizer.predict(audio=silence, sample_rate=44100, image=np.zeros((64, 64, 3), np.uint8), text="  ")
    assert err.value.kind == "all_absent"
    assert err.value.reasons == {"audio": "no_speech", "video": "no_face", "text": "no_text"}
    # prepared crops and 16 kHz windows keep working as before (no VAD without raw-signal arguments)
    crop = crop_face(rgb, (148, 101, 235, 235)).astype(np.float32)[None, None]
    plain = recognizer.predict(audio=np.zeros(16000, np.float32), video=crop)
    assert plain.modalities_used == ("audio", "video") and plain.absent_reasons == {}
    with pytest.raises(InputError):
        recognizer.predict(image=rgb, video=crop)


@pytest.mark.data
def test_predict_real_clip_counts_as_speech_at_any_rate(recognizer):
    from sdk.data.ravdess import trim_silence

    x, rate = ravdess_clip()
    x44 = audio_io.resample(trim_silence(x), rate, 44100)  # the 1 s window must hold speech, not the tail
    result = recognizer.predict(audio=(x44 * 32767).astype(np.int16), sample_rate=44100, text="")
    assert result.modalities_used == ("audio",) and result.absent_reasons == {"video": "not_given", "text": "no_text"}
    assert result.details["audio"]["speech_frames"] > 8


# ------------------------------------------------------------------ streaming
def test_push_streaming_with_staleness_and_a_reentrant_callback(recognizer):
    results, nested = [], []
    stream = None

    def on_result(result):
        results.append(result)
        if len(results) == 2:  # re-enter the stream from inside the callback: must not deadlock
            nested.append(stream.push_text("i feel sad", result.timestamp_ms))

    stream = recognizer.stream(on_result)
    stream.live(frame_stale_ms=500.0, audio_stale_ms=1000.0)
    rgb = face_photo()
    done = threading.Event()

    def run():
        stream.push_frame(rgb, 0.0)  # result 1: video only
        for i in range(10):  # 10 x 100 ms of silence at 8 kHz int16: never speech
            stream.push_audio(np.zeros(800, np.int16), 100.0 * (i + 1), sample_rate=8000)
        done.set()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)
    assert done.is_set(), "push_* deadlocked (callback re-entering the stream)"
    assert nested and results[0].modalities_used == ("video",)
    assert results[0].absent_reasons == {"audio": "not_given", "text": "not_given"}
    late = results[-1]  # at 1000 ms the face (0 ms) is stale, the text (pushed by the callback) is present
    assert late.timestamp_ms == 1000.0
    assert late.absent_reasons == {"audio": "no_speech", "video": "stale"}
    assert late.modalities_used == ("text",) and late.gate_weights["video"] == 0.0
    # 1 s at 8 kHz resampled to 16 kHz chunk by chunk: all but the streaming resampler's delay (< 70 ms)
    assert 14_880 <= len(stream.buffers["audio"]) < 16_000
    stream.push_frame(np.full((64, 64, 3), 90, np.uint8), 1100.0)
    stream.push_text("", 1100.0)
    with pytest.raises(InputError):
        stream.push_audio(np.zeros(10, np.int16), 500.0)  # older than the previous audio push
    assert stream.predict_now(1100.0) is None  # no speech, no face, no text: nothing to recognize
    reasons = stream.live().absent(stream.windows.windows(1100.0), 1100.0)
    assert reasons == {"audio": "no_speech", "video": "no_face", "text": "no_text"}


@pytest.mark.data
def test_push_audio_real_clip_turns_audio_present(recognizer):
    x, rate = ravdess_clip()
    stream = recognizer.stream(min_interval_ms=250.0)
    out = []
    stream.callback = out.append
    for i in range(0, len(x), rate // 50):
        stream.push_audio(x[i:i + rate // 50], 1000.0 * (i + rate // 50) / rate, sample_rate=rate)
    assert any("audio" in r.modalities_used for r in out)


# ------------------------------------------------------------------ CLIs
def test_predict_cli_on_files(tiny_model_dir, tmp_path, capsys):
    import cv2

    from sdk.predict import main

    wav = tmp_path / "quiet.wav"
    audio_io.write_wav(wav, np.zeros(22050, np.float32), 22050)
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), cv2.cvtColor(face_photo(), cv2.COLOR_RGB2BGR))
    assert main(["--model", str(tiny_model_dir), "--audio", str(wav), "--image", str(face),
                 "--text", "i feel happy", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["modalities_used"] == ["video", "text"] and out["absent_reasons"] == {"audio": "no_speech"}
    assert main(["--model", str(tiny_model_dir), "--audio", str(wav), "--text", ""]) == 2
    assert "no_speech" in capsys.readouterr().err
    assert main(["--model", str(tiny_model_dir), "--image", str(tmp_path / "missing.png")]) == 2


def test_timeline_cli_on_a_tiny_recording(tiny_model_dir, tmp_path, capsys):
    import cv2

    from sdk.timeline import main

    wav = tmp_path / "rec.wav"
    audio_io.write_wav(wav, np.zeros(32000, np.float32), 16000)  # 2 s of silence
    video = tmp_path / "rec.avi"
    bgr = cv2.resize(cv2.cvtColor(face_photo(), cv2.COLOR_RGB2BGR), (256, 300))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (256, 300))
    for i in range(12):  # 1.2 s of face, then 0.8 s of grey
        writer.write(bgr if i < 12 else np.full_like(bgr, 128))
    for i in range(8):
        writer.write(np.full_like(bgr, 128))
    writer.release()
    transcript = tmp_path / "t.txt"
    transcript.write_text("0.0 0.9 i feel happy\n")
    out = tmp_path / "tl"
    assert main(["--model", str(tiny_model_dir), "--audio", str(wav), "--video", str(video),
                 "--transcript", str(transcript), "--out", str(out), "--hop-ms", "250"]) == 0
    data = json.loads((out / "timeline.json").read_text())
    points = data["points"]
    assert len(points) == 8 and (out / "timeline.png").stat().st_size > 10_000
    assert all(p["absent_reasons"].get("audio") == "no_speech" for p in points)
    assert points[0]["present"] == ["video", "text"]
    assert points[-1]["present"] == [] and points[-1]["absent_reasons"]["video"] == "no_face"
    assert points[-1]["absent_reasons"]["text"] == "no_text"
    assert data["summary"]["audio_present_fraction"] == 0.0


# ------------------------------------------------------------------ contract entries
def test_contract_face_crop_and_vad_vectors_catch_a_change():
    import copy

    from sdk import contract

    root = Path(__file__).resolve().parent.parent / "contract"
    crop = json.loads((root / "face_crop.json").read_text())
    assert {c["expected"].get("error") for c in crop["cases"]} == {None, "invalid_box"}
    assert {c["image"]["channels"] for c in crop["cases"]} == {1, 3, 4}
    assert all(contract.check_face_crop(c) == [] for c in crop["cases"])
    broken = copy.deepcopy(crop["cases"][0])
    broken["expected"]["data"][100] ^= 1
    assert contract.check_face_crop(broken) == ["crop bytes differ"]
    doc = json.loads((root / "vad.json").read_text())
    assert doc["rule"]["threshold"] == vad.THRESHOLD and doc["rule"]["frame"] == vad.FRAME
    assert all(contract.check_vad(c) == [] for c in doc["cases"])
    assert {c["expected"]["speech"] for c in doc["cases"]} == {True, False}
    pcm = copy.deepcopy(next(c for c in doc["cases"] if "pcm" in c))
    pcm["expected"]["probabilities"][0] += 0.01
    assert contract.check_vad(pcm) == ["probabilities differ"]
    rule = copy.deepcopy(next(c for c in doc["cases"] if "probabilities" in c and c["expected"]["speech"]))
    rule["expected"]["speech"] = False
    assert contract.check_vad(rule)
