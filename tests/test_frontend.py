"""The in-graph log-mel front end (sdk/frontend.py) against librosa, and its fixed weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sdk.frontend import LOG_EPS, LogMelFrontEnd, fit_log_mel_statistics
from sdk.spec import WAVEFORM, ModalitySpec, Normalization

#: Stated tolerance: max relative error of the mel power over every band and frame
#: (fp32 convs against librosa's float64 FFT; measured <= 2e-5 on the signal below).
MEL_POWER_RTOL = 1e-3
#: Max absolute error of log(mel power + 1e-6) (natural log); measured 1.3e-5.
LOG_MEL_ATOL = 1e-3


def _speechlike(seconds: float = 3.0, sr: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 180 * (1 + 0.05 * np.sin(2 * np.pi * 1.3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(h * phase) / h for h in range(1, 8)) * np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    y = 0.2 * voiced + 0.1 * np.sin(2 * np.pi * 3100 * t) + 0.02 * rng.standard_normal(len(t))
    return y.astype(np.float32)


def _modality(**kw) -> ModalitySpec:
    return ModalitySpec("audio", WAVEFORM, kw.pop("seq_len", 48000), sample_rate=kw.pop("sample_rate", 16000), **kw)


@pytest.mark.parametrize("options, direct", [
    ({}, False), ({}, True), ({"n_mels": 40, "fmin": 50.0, "fmax": 7600.0}, False),
    ({"sample_rate": 8000, "seq_len": 16000}, False), ({"hop_length": 128, "seq_len": 16000}, False),
    ({"hop_length": 400, "seq_len": 16000}, False), ({"hop_length": 512, "seq_len": 16100}, False),
    ({"hop_length": 150, "seq_len": 16033}, False), ({"win_length": 397}, False),
    ({"win_length": 512, "hop_length": 128, "seq_len": 16000}, False), ({"win_length": 399}, False),
])
def test_log_mel_matches_librosa(options, direct):
    """Hop-block GEMMs (default), textbook framed DFT (direct), other rates, bands and hops: hop
    dividing the window or not, hop = window, hop > window (gaps), a window that ends mid-block;
    odd windows (397, 399 samples: the mel filters sit on the DFT bins' own frequencies) and 512."""
    librosa = pytest.importorskip("librosa")
    m = _modality(**options)
    y = _speechlike(seconds=m.seq_len / m.sample_rate, sr=m.sample_rate)
    reference = librosa.feature.melspectrogram(
        y=y.astype(np.float64), sr=m.sample_rate, n_fft=m.win_length, hop_length=m.hop_length,
        win_length=m.win_length, window="hann", center=False, power=2.0, n_mels=m.n_mels, fmin=m.fmin, fmax=m.fmax,
        htk=False, norm="slaney")
    front = LogMelFrontEnd(m, direct=direct)
    with torch.no_grad():
        ours = front.mel_power(torch.from_numpy(y)[None]).double().numpy()[0]
        log_ours = front(torch.from_numpy(y)[None], normalize=False).double().numpy()[0]
    assert ours.shape == reference.shape == (m.n_mels, m.n_frames)
    rel = np.abs(ours - reference) / np.maximum(reference, 1e-12)
    log_err = np.abs(log_ours - np.log(reference + LOG_EPS))
    print(f"{options} direct={front.direct}: max relative error of the mel power {rel.max():.2e}, max |log-mel error| {log_err.max():.2e}")
    assert rel.max() <= MEL_POWER_RTOL
    assert log_err.max() <= LOG_MEL_ATOL


def test_normalization_is_per_band_in_graph():
    m = _modality(normalization=Normalization(mean=list(np.linspace(-8, -2, 64)), std=list(np.linspace(1, 3, 64))))
    front = LogMelFrontEnd(m)
    x = torch.from_numpy(_speechlike())[None]
    with torch.no_grad():
        raw = front(x, normalize=False)
        normed = front(x)
    mean = torch.tensor(m.normalization.mean, dtype=torch.float32)[None, :, None]
    std = torch.tensor(m.normalization.std, dtype=torch.float32)[None, :, None]
    torch.testing.assert_close(normed, (raw - mean) / std, rtol=1e-5, atol=1e-5)


def test_statistics_skip_padding_frames():
    m = _modality()
    y = _speechlike()
    padded = y.copy()
    padded[:24000] = 0.0  # left padding: only the last 1.5 s are valid
    mean_full, _ = fit_log_mel_statistics(m, y[None], np.array([48000]))
    mean_pad, _ = fit_log_mel_statistics(m, padded[None], np.array([24000]))
    mean_all_frames, _ = fit_log_mel_statistics(m, padded[None], np.array([48000]))
    # the valid half of the signal has about the statistics of the whole; counting the
    # zero pad as audio pulls every band towards log(1e-6) = -13.8
    assert np.abs(mean_pad - mean_full).max() < 1.0
    assert (mean_all_frames < mean_pad - 2.0).all()


def test_fixed_weights_are_buffers_never_parameters_and_never_pruned():
    from compress.prune import build_graph, choose_pruned, group_rows, node_groups, prune_nodes, rebuild
    from sdk.data.synthetic import synthetic_live_modalities
    from sdk.model import EmotionModel
    from sdk.spec import ModelSpec

    torch.manual_seed(0)
    spec = ModelSpec(modalities=synthetic_live_modalities(), class_names=["a", "b", "c"], hidden_size=16, ffn_size=16)
    model = EmotionModel(spec)
    front = model.encoders["audio"].front.frontend
    fixed = {id(b): name for name, b in front.named_buffers()}
    assert sorted(fixed.values()) == ["dft0", "dft1", "dft2", "inv_std", "mean", "mel"] and not list(front.parameters())
    assert not any(id(p) in fixed for p in model.parameters())  # AdamW, weight decay and PNAO's L1 never see them
    before = {name: b.clone() for name, b in front.named_buffers()}
    graph = build_graph(model)
    groups = node_groups(model)
    for group in groups:  # no node's importance reads a front-end weight ...
        for rows in group_rows(graph, group).values():
            assert not any(r.untyped_storage().data_ptr() in {b.untyped_storage().data_ptr() for b in before.values()}
                           for r in rows)
    for group in groups:  # ... and pruning every group to half its nodes leaves them as they were
        graph = build_graph(model)
        group = next(g for g in node_groups(model) if g.name == group.name)
        importance = torch.arange(group.width, dtype=torch.float32)
        prune_nodes(graph, group, choose_pruned(importance, max(1, group.width // 2), group.heads))
    model = rebuild(model)
    for name, b in model.encoders["audio"].front.frontend.named_buffers():
        assert torch.equal(b, before[name]), name
    x = [torch.zeros(1, 48000), torch.zeros(1, 1, 1, 48, 48), torch.zeros(1, 12, dtype=torch.long), torch.ones(1, 3)]
    assert model.eval()(*x)[0].shape == (1, 3)


def test_loading_keeps_the_front_end_the_spec_describes():
    """A state dict holding other front-end values (e.g. an older checkpoint's framed-DFT
    weights, another shape) loads, and the front end stays the one built from the spec."""
    from sdk.data.synthetic import synthetic_live_modalities
    from sdk.model import EmotionModel
    from sdk.spec import ModelSpec

    spec = ModelSpec(modalities=synthetic_live_modalities(), class_names=["a", "b"], hidden_size=8, ffn_size=8)
    model = EmotionModel(spec)
    state = model.state_dict()
    expected = {k: v.clone() for k, v in state.items() if ".frontend." in k}
    state["encoders.audio.front.frontend.dft"] = torch.ones(400, 1, 400)  # the framed DFT's shape
    state["encoders.audio.front.frontend.mean"] = torch.full((1, 64, 1), 5.0)
    fresh = EmotionModel(spec)
    fresh.load_state_dict(state)
    for key, value in expected.items():
        assert torch.equal(fresh.state_dict()[key], value), key
