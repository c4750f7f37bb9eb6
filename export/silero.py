"""Silero VAD v5 (16 kHz) in PyTorch, one frame per call, for export to the phones.

Silero VAD (Silero Team, "Silero VAD: pre-trained enterprise-grade Voice Activity Detector",
github.com/snakers4/silero-vad, MIT licence) is the detector the SDK runs on onnxruntime
(sdk/vad.py). The apps cannot run that ONNX file through the runtime they ship (ExecuTorch),
so this module rebuilds the same network in plain `torch.nn` and loads weights the wheel
itself ships (found without importing the package, as sdk/vad.py finds its ONNX file).
Nothing is downloaded.

Which weights: silero-vad 6.2.3's `data/silero_vad_16k.safetensors` does NOT hold the weights
of the `data/silero_vad.onnx` that sdk/vad.py runs (measured: conv1 weights differ by up to
4.0, probabilities by up to 0.17 on a 220 Hz tone and 0.10 on a RAVDESS clip), while the
wheel's TorchScript file `data/silero_vad.jit` agrees with that ONNX to 1.5e-5. The port
therefore takes its tensors from the .jit's 16 kHz model (`WEIGHTS_FROM = "jit"`, tensor
names mapped in `JIT_NAMES`); `load_port("safetensors")` still loads the safetensors file
(same layer names) for comparison. Same network, same weights as Python: same decisions.

The network (the wheel's `tinygrad_model.py` spells out the same layers), per call:
    input (1, 64 + 512): the last 64 samples of the previous frame (context; zeros at the
        start) followed by the 512 new samples;
    reflect-pad 64 samples on the right, a fixed STFT as a strided conv (n_fft 256, hop 128,
        cos and sin rows), magnitude; four conv + ReLU layers (strides 1, 2, 2, 1) down to one
        128-wide step; an LSTM cell whose (h, c) is the carried state (2, 1, 128); ReLU, a 1x1
        conv and a sigmoid: the frame's speech probability.
`SileroFrame.forward(x, state) -> (probability (1, 1), new state (2, 1, 128))` keeps no state of
its own, so it exports cleanly; the caller carries context and state (the apps' SileroFrames).

Why here, not in sdk/: the SDK's runtime detector stays torch-free (sdk/vad.py on onnxruntime);
this port exists only to be exported, so it lives beside the other exporters.

    python -m export.silero --out dist/silero [--no-litert]

writes silero_vad.pte (ExecuTorch, XNNPACK), silero_vad.tflite (LiteRT) and silero_vad.json
(frame, context, state shape, sample rate, sha256 of each file, the wheel's version, licence,
max |p - p_onnx| measured on real and generated frames).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sdk.vad import VADUnavailableError, wheel_file

SAMPLE_RATE = 16_000
FRAME = 512
CONTEXT = 64
STATE_SHAPE = (2, 1, 128)
N_FFT = 256
HOP = 128
WEIGHTS_FILE = "silero_vad_16k.safetensors"
JIT_FILE = "silero_vad.jit"
WEIGHTS_FROM = "jit"
#: The port's tensor names -> the names inside silero_vad.jit's 16 kHz model (`_model`).
JIT_NAMES = {
    "stft_conv.weight": "stft.forward_basis_buffer",
    **{f"conv{i + 1}.{kind}": f"encoder.{i}.reparam_conv.{kind}" for i in range(4) for kind in ("weight", "bias")},
    **{f"lstm_cell.{kind}": f"decoder.rnn.{kind}" for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")},
    "final_conv.weight": "decoder.decoder.2.weight", "final_conv.bias": "decoder.decoder.2.bias",
}
LICENCE = "MIT (Silero Team, github.com/snakers4/silero-vad)"
PTE_NAME = "silero_vad.pte"
TFLITE_NAME = "silero_vad.tflite"
MANIFEST_NAME = "silero_vad.json"


def weights_path(name: str = WEIGHTS_FILE) -> Path:
    """`silero_vad/data/<name>` of the installed wheel (sdk.vad.wheel_file: the package is not imported)."""
    return wheel_file(name)


def wheel_version() -> str:
    try:
        return importlib.metadata.version("silero-vad")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class SileroFrame(nn.Module):
    """Silero VAD v5, 16 kHz: (context + frame (1, 576), state (2, 1, 128)) -> (p (1, 1), new state)."""

    def __init__(self):
        super().__init__()
        self.stft_conv = nn.Conv1d(1, 2 * (N_FFT // 2 + 1), N_FFT, stride=HOP, bias=False)
        self.conv1 = nn.Conv1d(N_FFT // 2 + 1, 128, 3, padding=1)
        self.conv2 = nn.Conv1d(128, 64, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(64, 64, 3, stride=2, padding=1)
        self.conv4 = nn.Conv1d(64, 128, 3, padding=1)
        self.lstm_cell = nn.LSTMCell(128, 128)
        self.final_conv = nn.Conv1d(128, 1, 1)

    def magnitude(self, x: torch.Tensor) -> torch.Tensor:
        """|STFT| of the padded frame: the conv's first 129 rows are the real parts, the next 129 the imaginary."""
        x = torch.cat([x, x[:, -CONTEXT - 1:-1].flip(-1)], dim=1)  # reflect-pad 64 on the right
        spectrum = self.stft_conv(x.unsqueeze(1))
        bins = N_FFT // 2 + 1
        return torch.sqrt(spectrum[:, :bins] ** 2 + spectrum[:, bins:] ** 2)

    def forward(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.magnitude(x)
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            y = torch.relu(conv(y))
        h, c = self.lstm_cell(y[:, :, 0], (state[0], state[1]))
        p = torch.sigmoid(self.final_conv(torch.relu(h).unsqueeze(-1)))
        return p[:, :, 0], torch.stack([h, c])


def jit_state_dict() -> dict[str, torch.Tensor]:
    """The 16 kHz tensors of the wheel's silero_vad.jit, under the port's names."""
    scripted = torch.jit.load(str(weights_path(JIT_FILE)), map_location="cpu")
    tensors = dict(scripted._model.named_parameters())
    tensors.update(dict(scripted._model.named_buffers()))
    missing = [name for name in JIT_NAMES.values() if name not in tensors]
    if missing:
        raise FileNotFoundError(f"silero_vad.jit of silero-vad {wheel_version()} lacks {missing}: "
                                "the port expects the v5/v6 layout (silero-vad 5.x or 6.x)")
    return {ours: tensors[theirs].detach().clone().float() for ours, theirs in JIT_NAMES.items()}


def load_port(weights: str = WEIGHTS_FROM) -> SileroFrame:
    """The port in eval mode with the wheel's weights: "jit" (those of sdk/vad.py's ONNX) or "safetensors"."""
    if weights == "jit":
        state = jit_state_dict()
    elif weights == "safetensors":
        from safetensors.torch import load_file

        state = load_file(str(weights_path()))
    else:
        raise ValueError(f"weights must be 'jit' or 'safetensors', not {weights!r}")
    model = SileroFrame()
    model.load_state_dict(state)
    return model.eval()


def example_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(1, CONTEXT + FRAME), torch.zeros(*STATE_SHAPE)


def frames_with_context(x: np.ndarray) -> np.ndarray:
    """(frames, 576): each 512-sample frame with the previous frame's last 64 samples in front (sdk/vad.py's
    framing: zeros before the first frame, the last partial frame zero-padded)."""
    x = np.asarray(x, np.float32).reshape(-1)
    x = np.concatenate([x, np.zeros((-len(x)) % FRAME, np.float32)])
    padded = np.concatenate([np.zeros(CONTEXT, np.float32), x])
    return np.stack([padded[i * FRAME:i * FRAME + CONTEXT + FRAME] for i in range(len(x) // FRAME)])


def run_frames(step, x: np.ndarray) -> np.ndarray:
    """Per-frame probabilities of a whole clip through `step(frame (1, 576), state (2, 1, 128)) -> (p, state)`
    (numpy in, numpy out), from a zero state."""
    state = np.zeros(STATE_SHAPE, np.float32)
    probs = []
    for frame in frames_with_context(x):
        p, state = step(frame[None], state)
        probs.append(float(np.asarray(p).reshape(-1)[0]))
    return np.asarray(probs, np.float32)


def torch_step(model: SileroFrame):
    def step(frame, state):
        with torch.no_grad():
            p, new = model(torch.from_numpy(frame), torch.from_numpy(state))
        return p.numpy(), new.numpy()
    return step


def onnx_probabilities(x: np.ndarray) -> np.ndarray:
    """The reference: sdk/vad.py's onnxruntime session on the wheel's silero_vad.onnx."""
    from sdk import vad

    return vad.SileroVAD().probabilities(x)


def check_clips(seconds: float = 3.0) -> dict[str, np.ndarray]:
    """Clips the artifacts are verified on: a real RAVDESS utterance when the data is there, plus white noise,
    silence and a tone (generated, seed 0)."""
    rng = np.random.default_rng(0)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    clips = {"noise": rng.normal(0, 0.05, n).astype(np.float32), "silence": np.zeros(n, np.float32),
             "tone": (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)}
    speech = ravdess_clip()
    if speech is not None:
        clips["ravdess"] = speech
    return clips


def ravdess_clip() -> np.ndarray | None:
    """The first RAVDESS clip of actor a20 at 16 kHz, or None without the data."""
    from sdk import audio_io
    from sdk.data import default_data_path

    root = default_data_path("ravdess_speech")
    files = sorted(root.glob("a20/*.flac")) if root is not None else []
    if not files:
        return None
    x, rate = audio_io.read_audio(files[0])
    return audio_io.resample(x, rate, SAMPLE_RATE).astype(np.float32)


def max_difference(step, clips: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> dict[str, float]:
    return {name: float(np.abs(run_frames(step, x) - reference[name]).max()) for name, x in clips.items()}


def export_pte(model: SileroFrame, path: Path) -> dict:
    """ExecuTorch .pte, XNNPACK-delegated, through export/executorch.py's lowering."""
    from export import executorch as et

    return et.export(model, example_inputs(), path)


def pte_step(path: Path):
    """`step` on the .pte in ExecuTorch's Python runtime (executorch.runtime)."""
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(str(path)).load_method("forward")

    def step(frame, state):
        p, new = method.execute([torch.from_numpy(np.ascontiguousarray(frame)),
                                 torch.from_numpy(np.ascontiguousarray(state))])
        return p.numpy(), new.numpy()
    return step


def export_tflite(model: SileroFrame, path: Path) -> dict:
    from export import litert

    return litert.export(model, example_inputs(), path)


def tflite_step(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    runner = interpreter.get_signature_runner()
    inputs = list(runner.get_input_details())

    def step(frame, state):
        out = runner(**{inputs[0]: frame.astype(np.float32), inputs[1]: state.astype(np.float32)})
        values = [out[k] for k in sorted(out)]
        p, new = (values[0], values[1]) if values[0].size == 1 else (values[1], values[0])
        return p, new
    return step


def latency_ms(step, repeats: int = 200) -> float:
    """Median wall time of one frame (after 10 warm-up calls)."""
    frame = np.random.default_rng(0).normal(0, 0.1, (1, CONTEXT + FRAME)).astype(np.float32)
    state = np.zeros(STATE_SHAPE, np.float32)
    for _ in range(10):
        step(frame, state)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step(frame, state)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def manifest(files: dict[str, dict]) -> dict:
    return {
        "model": f"Silero VAD (v5 network), 16 kHz, weights of silero-vad {wheel_version()} (github.com/snakers4/silero-vad)",
        "licence": LICENCE,
        "source": {"package": "silero-vad", "version": wheel_version(),
                   "weights": f"silero_vad/data/{JIT_FILE if WEIGHTS_FROM == 'jit' else WEIGHTS_FILE}",
                   "reference": "silero_vad/data/silero_vad.onnx (sdk/vad.py)"},
        "sample_rate": SAMPLE_RATE, "frame": FRAME, "context": CONTEXT, "state_shape": list(STATE_SHAPE),
        "inputs": [{"name": "x", "shape": [1, CONTEXT + FRAME], "dtype": "float32"},
                   {"name": "state", "shape": list(STATE_SHAPE), "dtype": "float32"}],
        "outputs": [{"name": "probability", "shape": [1, 1], "dtype": "float32"},
                    {"name": "state", "shape": list(STATE_SHAPE), "dtype": "float32"}],
        "rule": "contract/vad.json (threshold 0.5, neg_threshold 0.35, min speech 250 ms, min silence 100 ms)",
        "files": files,
    }


def export_all(out: Path, litert: bool = True, tolerance: float = 1e-4, log=print) -> dict:
    """Export and verify every artifact into `out`; returns the manifest (also written as silero_vad.json).
    Raises ValueError when an artifact differs from the ONNX model by more than `tolerance` on any check clip."""
    from sdk.atomic import sha256_file, write_json

    out.mkdir(parents=True, exist_ok=True)
    model = load_port()
    clips = check_clips()
    reference = {name: onnx_probabilities(x) for name, x in clips.items()}
    files: dict[str, dict] = {}
    port_diff = max_difference(torch_step(model), clips, reference)
    log(f"port vs ONNX max |dp|: {port_diff}")
    targets = [(PTE_NAME, export_pte, pte_step)] + ([(TFLITE_NAME, export_tflite, tflite_step)] if litert else [])
    for name, export, step_of in targets:
        path = out / name
        start = time.perf_counter()
        try:
            notes = export(model, path)
        except Exception as err:  # noqa: BLE001 - recorded, the .pte still ships
            if name == PTE_NAME:
                raise
            log(f"{name}: export failed ({type(err).__name__}: {err}); skipped")
            files[name] = {"status": "failed", "error": f"{type(err).__name__}: {err}"}
            continue
        seconds = time.perf_counter() - start
        step = step_of(path)
        diff = max_difference(step, clips, reference)
        worst = max(diff.values())
        log(f"{name}: exported in {seconds:.1f} s, {path.stat().st_size} bytes, max |dp| vs ONNX {worst:.2e}")
        if worst > tolerance:
            path.unlink(missing_ok=True)  # nothing that failed its check is left to ship
            raise ValueError(f"{name} differs from the ONNX Silero model by {worst:.2e} > {tolerance:.0e} "
                             f"(per clip: {diff}); do not ship it")
        files[name] = {"status": "ok", "sha256": sha256_file(path), "size_bytes": path.stat().st_size,
                       "export_seconds": round(seconds, 1), "max_abs_diff_vs_onnx": diff,
                       "latency_ms_one_thread": round(latency_ms(step), 4), **notes}
    result = manifest(files)
    result["port_max_abs_diff_vs_onnx"] = port_diff
    write_json(out / MANIFEST_NAME, result)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.silero", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("dist/silero"), help="output directory (dist/silero)")
    parser.add_argument("--no-litert", action="store_true", help="write the .pte only")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max |p - p_onnx| allowed (1e-4)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    try:
        export_all(args.out, litert=not args.no_litert, tolerance=args.tolerance)
    except (FileNotFoundError, ValueError, VADUnavailableError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {args.out / MANIFEST_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
