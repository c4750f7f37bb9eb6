import pytest
import torch

from sdk.mfdr import DynamicFrameConvolution, GatedContextPerceptionUnit, SlidingAdaptiveWindowAttention, window_masks
from sdk.model import build_model
from sdk.spec import FEATURES, ModalitySpec, ModelSpec, SpecError


def mfdr_spec(**options):
    return ModelSpec(
        modalities=[ModalitySpec("audio", FEATURES, 7, feature_dim=5), ModalitySpec("text", FEATURES, 7, feature_dim=6)],
        class_names=["neg", "pos"],
        architecture="mfdr",
        mfdr=options,
        hidden_size=16,
    )


def test_windows_are_centred_and_widen_by_a_window_each_side():
    masks = window_masks(7, 7, 3)
    assert masks[0, 3].nonzero().flatten().tolist() == [2, 3, 4]
    assert masks[1, 3].nonzero().flatten().tolist() == list(range(0, 7))
    assert masks[0, 0].nonzero().flatten().tolist() == [0, 1]  # clipped at the start
    # The paper's setting: 255 audio frames, 50 words, window 10 -> windows about 5 frames apart.
    paper = window_masks(50, 255, 10)[0]
    assert paper.sum(1).max() == 10
    starts = paper.float().argmax(1)
    assert ((starts[2:] - starts[1:-1]) - 5.1).abs().max() <= 1  # window 0 is clipped at frame 0


def test_adaptive_width_widens_only_windows_with_many_key_points():
    sawa = SlidingAdaptiveWindowAttention(4, 3, 9, window=3, adaptive=True, full_attention=False)
    q = torch.zeros(1, 3, 4)
    k = torch.zeros(1, 9, 4)
    # Uniform scores: in every window all keys tie with the mean, none exceeds it -> no widening.
    att = sawa.attention(q, k)
    assert torch.equal(att > 0, sawa.masks[0].bool()[None])
    # Make row 1 (window [3, 6)) have two keys clearly above its mean: 2 >= 0.5 * 3 -> widened.
    q[0, 1, 0] = 1.0
    k[0, 3, 0] = k[0, 4, 0] = 5.0
    att = sawa.attention(q, k)
    assert (att[0, 1] > 0).sum() > 3
    assert torch.allclose(att.sum(-1), torch.ones(1, 3))


def test_gcpu_first_step_follows_equations_with_zero_state():
    unit = GatedContextPerceptionUnit(4, context=True)
    z, g = torch.randn(2, 1, 4), torch.randn(2, 1, 4)
    h = unit(z, g)[:, 0]
    zt, gt = z[:, 0], g[:, 0]
    cz = torch.tanh(unit.cand_z(zt))  # eq. 2 with h_0 = 0
    cg = torch.tanh(unit.cand_g(gt))  # eq. 3
    u = torch.sigmoid(unit.update_z(cz) + unit.update_g(cg))  # eq. 5
    torch.testing.assert_close(h, u * (cz + cg))  # eqs. 4 and 6


def test_dfc_frames_follow_eq_7():
    layer = DynamicFrameConvolution(7, 8, window=3, hop=2)
    assert layer.frames == 3
    out = layer(torch.randn(2, 7, 8))
    assert out.shape == (2, 3, 8)
    with pytest.raises(ValueError, match="at least 3 steps"):
        DynamicFrameConvolution(2, 8, window=3, hop=2)


@pytest.mark.parametrize(
    "options",
    [{}, {"adaptive": False, "window": 3}, {"full_attention": True}, {"context": False},
     {"recurrent": "gru", "context": False}, {"pooling": "max"}, {"pooling": "avg"}],
)
def test_mfdr_variants_run_export_and_respect_presence(options):
    model = build_model(mfdr_spec(**options)).eval()
    audio, text = torch.randn(1, 7, 5), torch.randn(1, 7, 6)
    presence = torch.tensor([[0.0, 1.0]])
    logits, weights = model(audio, text, presence)
    assert weights.tolist() == [[0.0, 1.0]]
    logits_other_audio, _ = model(audio * 50, text, presence)
    torch.testing.assert_close(logits, logits_other_audio)  # absent audio does not matter
    program = torch.export.export(model, (audio, text, torch.ones(1, 2)))
    torch.testing.assert_close(program.module()(audio, text, torch.ones(1, 2))[0], model(audio, text, torch.ones(1, 2))[0])


def test_mfdr_needs_audio_and_text():
    spec = mfdr_spec()
    spec.modalities[0].name = "video"
    with pytest.raises(ValueError, match="audio and text"):
        build_model(spec)
    with pytest.raises(SpecError, match="architecture"):
        ModelSpec.from_dict({**mfdr_spec().to_dict(), "architecture": "nope"})


def test_pnao_refuses_mfdr_with_a_clear_error():
    from compress.prune import check_prunable

    with pytest.raises(ValueError, match="no pruners yet"):
        check_prunable(build_model(mfdr_spec()))


def test_export_folds_the_generated_dfc_kernels_into_constants():
    from export.rewrite import fold_generated_kernels

    model = build_model(mfdr_spec()).eval()
    folded = fold_generated_kernels(model)
    assert folded is not model and any(isinstance(m, DynamicFrameConvolution) for m in folded.modules())
    assert not any("generate" in n or "kernel_map" in n for n, _ in folded.named_parameters())
    assert any("generate" in n for n, _ in model.named_parameters())  # the original is untouched
    audio, text, presence = torch.randn(1, 7, 5), torch.randn(1, 7, 6), torch.ones(1, 2)
    with torch.no_grad():
        torch.testing.assert_close(folded(audio, text, presence)[0], model(audio, text, presence)[0])
    program = torch.export.export(folded, (audio, text, presence))
    assert not any(n.target == torch.ops.aten.conv1d.default for n in program.graph.nodes)
