"""The literature fusion heads: gated2 ("Lightweight Multimodal Emotion Recognition Using Cross-Dataset Feature Fusion of Text and Facial Expressions"), fbp/cbp/cbgp ("Advanced Optimal Cross-Modal Fusion Mechanism for Audio-Video Based Artificial Emotion Recognition"), entropy ("Improving Multi-modal Emotion Recognition Using Entropy-based Fusion and Pruning-based Network Architecture Optimization").

Checks the `FusionHead` contract for M in {1, 2, 3} and every presence pattern, robustness
to garbage in absent rows, finiteness of forward and backward, and export with
torch.export and torch.onnx (dynamo) + onnxruntime.
"""
from __future__ import annotations

import itertools
import warnings

import pytest
import torch
import torch.nn.functional as F

from sdk.fusion.bilinear import (
    CompactBilinearPooling,
    CompactGatedBilinearPooling,
    FactorizedBilinearPooling,
    RealDFT,
    count_sketch_matrix,
    l2_normalize,
    signed_sqrt,
)
from sdk.fusion.entropy import EntropyWeightedFusion
from sdk.fusion.gated2 import GatedLSTMFusion, area_resample_matrix

HEADS = {
    "gated2": GatedLSTMFusion,
    "fbp": FactorizedBilinearPooling,
    "cbp": CompactBilinearPooling,
    "cbgp": CompactGatedBilinearPooling,
    "entropy": EntropyWeightedFusion,
}
DIM = 16
CLASSES = 3
SEQ_LENS = (5, 11, 3)  # shorter and longer than GatedLSTMFusion's 8 steps


def make_head(name: str, m: int, dropout: float = 0.0):
    torch.manual_seed(0)
    return HEADS[name](m, DIM, CLASSES, dropout=dropout)


def patterns(m: int) -> torch.Tensor:
    """Every presence pattern with at least one modality present, one per row."""
    rows = [p for p in itertools.product([0.0, 1.0], repeat=m) if any(p)]
    return torch.tensor(rows)


def make_inputs(presence: torch.Tensor, seed: int = 1):
    """Contract-conforming inputs: absent rows / sequences exactly 0."""
    g = torch.Generator().manual_seed(seed)
    b, m = presence.shape
    pooled = torch.randn(b, m, DIM, generator=g) * presence.unsqueeze(-1)
    seqs = [torch.randn(b, SEQ_LENS[i], DIM, generator=g) * presence[:, i, None, None] for i in range(m)]
    return pooled, seqs, presence


def corrupt_absent(pooled, seqs, presence, fill):
    """Overwrite what absent modalities hold (the head must not look at it)."""
    absent = presence <= 0
    pooled2 = torch.where(absent.unsqueeze(-1), fill(pooled), pooled)
    seqs2 = [torch.where(absent[:, i, None, None], fill(s), s) for i, s in enumerate(seqs)]
    return pooled2, seqs2


ALL = [(name, m) for name in HEADS for m in (1, 2, 3)]


@pytest.mark.parametrize("name,m", ALL)
def test_shapes_and_weights(name, m):
    head = make_head(name, m).eval()
    presence = patterns(m)
    out = head(*make_inputs(presence))
    b = presence.shape[0]
    expected_dim = CLASSES if head.produces_logits else head.out_dim
    assert head.out_dim == expected_dim
    assert out.features.shape == (b, head.out_dim)
    assert out.weights.shape == (b, m)
    assert torch.all(out.weights[presence == 0] == 0)
    assert torch.all(out.weights >= 0)
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(b), atol=1e-6, rtol=0)
    assert torch.isfinite(out.features).all()


@pytest.mark.parametrize("name,m", ALL)
def test_finite_forward_backward_and_gradients(name, m):
    head = make_head(name, m, dropout=0.1).train()
    presence = patterns(m)
    pooled, seqs, _ = make_inputs(presence)
    # plus a present-but-all-zero row (signed sqrt / L2 norm / entropy at 0)
    pooled = torch.cat([pooled, torch.zeros(1, m, DIM)])
    seqs = [torch.cat([s, torch.zeros(1, *s.shape[1:])]) for s in seqs]
    presence = torch.cat([presence, torch.ones(1, m)])
    pooled.requires_grad_(True)
    for s in seqs:
        s.requires_grad_(True)
    out = head(pooled, seqs, presence)
    assert torch.isfinite(out.features).all() and torch.isfinite(out.weights).all()
    g = torch.Generator().manual_seed(3)
    if head.produces_logits:
        targets = torch.randint(0, CLASSES, (presence.shape[0],), generator=g)
        loss = F.cross_entropy(out.features, targets)
    else:
        loss = (out.features * torch.randn(out.features.shape, generator=g)).sum()
    loss = loss + (out.weights * torch.randn(out.weights.shape, generator=g)).sum()
    loss.backward()
    for t in [pooled, *seqs]:
        assert t.grad is None or torch.isfinite(t.grad).all()
    for pname, p in head.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        # with a single modality the softmax gate is constant 1, so only it may get zero gradient
        if not (m == 1 and pname.startswith("gate.")):
            assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name,m", [(n, m) for n, m in ALL if m > 1])
@pytest.mark.parametrize("fill", ["random", "nan"])
def test_absent_modalities_are_ignored(name, m, fill):
    head = make_head(name, m).eval()
    presence = patterns(m)[:-1]  # drop the all-present row
    pooled, seqs, presence = make_inputs(presence)
    ref = head(pooled, seqs, presence)
    g = torch.Generator().manual_seed(7)
    fn = (lambda t: torch.randn(t.shape, generator=g) * 100) if fill == "random" else (lambda t: torch.full_like(t, float("nan")))
    pooled2, seqs2 = corrupt_absent(pooled, seqs, presence, fn)
    out = head(pooled2, seqs2, presence)
    assert torch.equal(out.features, ref.features)
    assert torch.equal(out.weights, ref.weights)


def _batch1_cases(m: int):
    """(example used for tracing, list of batch-1 inputs to compare)."""
    presence = patterns(m)
    pooled, seqs, presence = make_inputs(presence, seed=5)
    cases = [(pooled[i : i + 1], [s[i : i + 1] for s in seqs], presence[i : i + 1]) for i in range(presence.shape[0])]
    return cases[-1], cases


@pytest.mark.parametrize("name", list(HEADS))
@pytest.mark.parametrize("m", [1, 3])
def test_torch_export_matches_eager(name, m):
    head = make_head(name, m).eval()
    example, cases = _batch1_cases(m)
    ep = torch.export.export(head, example)
    exported = ep.module()
    for pooled, seqs, presence in cases:  # presence is an input: one graph serves every pattern
        ref = head(pooled, seqs, presence)
        out = exported(pooled, seqs, presence)
        torch.testing.assert_close(out[0], ref.features, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(out[1], ref.weights, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", list(HEADS))
def test_onnx_export_runs_in_onnxruntime(name):
    ort = pytest.importorskip("onnxruntime")
    m = 3
    head = make_head(name, m).eval()
    example, cases = _batch1_cases(m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(head, example, dynamo=True, verbose=False)
    session = ort.InferenceSession(program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    for pooled, seqs, presence in cases:
        feed = dict(zip(["pooled", *(f"sequences_{i}" for i in range(m)), "presence"], [pooled, *seqs, presence]))
        assert set(names) <= set(feed), names
        got = session.run(None, {k: feed[k].numpy() for k in names})
        ref = head(pooled, seqs, presence)
        torch.testing.assert_close(torch.from_numpy(got[0]), ref.features, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(torch.from_numpy(got[1]), ref.weights, atol=1e-5, rtol=1e-5)


# --- CBP internals -----------------------------------------------------------------------

@pytest.mark.parametrize("n", [8, 15, 64, 128])
def test_circular_convolution_equals_fft(n):
    g = torch.Generator().manual_seed(n)
    a, b = torch.randn(4, n, generator=g), torch.randn(4, n, generator=g)
    dft = RealDFT(n)
    re, im = dft(a)
    spec = torch.fft.rfft(a)
    torch.testing.assert_close(re, spec.real, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(im, spec.imag, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(dft.inverse(re, im), a, atol=1e-5, rtol=1e-5)
    ref = torch.fft.irfft(torch.fft.rfft(a) * torch.fft.rfft(b), n=n)
    torch.testing.assert_close(dft.circular_convolution(a, b), ref, atol=1e-4, rtol=1e-5)
    # and the definition (a ⊛ b)_t = Σ_s a_s b_{(t-s) mod n}
    idx = (torch.arange(n)[:, None] - torch.arange(n)[None, :]) % n  # [t, s]
    direct = (a[:, None, :] * b[:, idx]).sum(-1)
    torch.testing.assert_close(dft.circular_convolution(a, b), direct, atol=1e-4, rtol=1e-5)


def test_count_sketch_is_sign_and_permutation_when_square():
    c = count_sketch_matrix(16, 16, seed=3)
    assert torch.equal(c.abs().sum(0), torch.ones(16)) and torch.equal(c.abs().sum(1), torch.ones(16))
    wide = count_sketch_matrix(16, 40, seed=3)
    assert torch.equal(wide.abs().sum(1), torch.ones(16)) and wide.abs().sum(0).max() == 1
    narrow = count_sketch_matrix(16, 6, seed=3)
    assert torch.equal(narrow.abs().sum(1), torch.ones(16))


@pytest.mark.parametrize("cls", [CompactBilinearPooling, CompactGatedBilinearPooling])
def test_compact_bilinear_matches_fft_reference(cls):
    torch.manual_seed(0)
    head = cls(2, DIM, CLASSES, sketch_dim=24).eval()
    pooled, seqs, presence = make_inputs(torch.tensor([[1.0, 1.0], [1.0, 0.0]]))
    out = head(pooled, seqs, presence)
    z = torch.stack([lin(pooled[:, i]) for i, lin in enumerate(head.proj)], 1)
    if head.gated:
        s = torch.stack([lin(pooled[:, i]) for i, lin in enumerate(head.gate)], 1)
        s = s.masked_fill(presence.unsqueeze(-1) == 0, -1e9)
        z = torch.softmax(s, dim=1) * z
    sk = torch.einsum("bmd,mde->bme", z, head.sketch)
    conv = torch.fft.irfft(torch.fft.rfft(sk[:, 0]) * torch.fft.rfft(sk[:, 1]), n=24)
    expected = torch.stack([conv[0], sk[1, 0]])  # pair; single-modality fallback = own sketch
    torch.testing.assert_close(out.features, l2_normalize(signed_sqrt(expected)), atol=1e-5, rtol=1e-4)


def test_signed_sqrt_and_l2_have_finite_gradients_at_zero():
    x = torch.zeros(2, 5, requires_grad=True)
    l2_normalize(signed_sqrt(x)).sum().backward()
    assert torch.isfinite(x.grad).all()


# --- gated2 / entropy specifics ----------------------------------------------------------

def test_area_resample_matrix():
    for src, dst in [(3, 8), (11, 8), (16, 8), (8, 8), (1, 8)]:
        r = area_resample_matrix(src, dst)
        torch.testing.assert_close(r.sum(1), torch.ones(dst))
    x = torch.randn(2, 16, 4)
    ref = F.adaptive_avg_pool1d(x.transpose(1, 2), 8).transpose(1, 2)
    torch.testing.assert_close(area_resample_matrix(16, 8) @ x, ref)


def test_gated2_two_modalities_is_g_and_one_minus_g():
    head = make_head("gated2", 2).eval()
    pooled, seqs, presence = make_inputs(torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
    _, g = head.gates(seqs, presence)
    torch.testing.assert_close(g[0, 0] + g[0, 1], torch.ones_like(g[0, 0]))
    assert torch.all(g[1, 0] == 0) and torch.all(g[1, 1] == 1)


def test_entropy_weights_follow_eq6():
    head = make_head("entropy", 3).eval()
    presence = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    pooled, seqs, presence = make_inputs(presence)
    out, logits = head.forward_with_branches(pooled, seqs, presence)
    p = torch.softmax(logits, -1)
    h = -(p * p.log()).sum(-1)
    for row, idx in enumerate([[0, 1, 2], [0, 2]]):
        hs = h[row, idx]
        omega = (1 - hs / hs.sum()) / (len(idx) - 1)  # eq. 6 over the present branches
        torch.testing.assert_close(out.weights[row, idx], omega, atol=1e-5, rtol=1e-4)
        fused = (omega[:, None] * p[row, idx]).sum(0)  # eq. 7
        torch.testing.assert_close(out.features[row], fused.log(), atol=1e-5, rtol=1e-4)
    # a single present branch: ω = 1 and the output is that branch's log-posterior
    assert torch.equal(out.weights[2], torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(out.features[2], torch.log_softmax(logits[2, 1], -1), atol=1e-6, rtol=1e-5)
    loss = head.branch_loss(logits, presence, torch.tensor([0, 1, 2]))
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_entropy_all_confident_branches_stay_finite():
    head = make_head("entropy", 2).eval()
    log_probs = torch.log_softmax(torch.tensor([[[200.0, 0.0, 0.0], [0.0, 300.0, 0.0]]]), -1)  # H = 0 for both
    w = head.entropy_weights(log_probs, torch.ones(1, 2))
    torch.testing.assert_close(w, torch.tensor([[0.5, 0.5]]))
