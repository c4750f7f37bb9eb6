import itertools

import numpy as np
import pytest
import torch

from sdk.fusion import FUSION_HEADS
from sdk.inputs import InputError, prepare_inputs
from sdk.layers import BiGRU, BiLSTM, LayerNorm
from sdk.model import EmotionModel, count_parameters
from sdk.spec import Components
from tests.helpers import make_spec


def random_inputs(spec, batch=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    xs = []
    for m in spec.modalities:
        if m.kind == "tokens":
            xs.append(torch.randint(0, m.vocab_size, (batch, *m.input_shape()), generator=g))
        else:
            xs.append(torch.randn(batch, *m.input_shape(), generator=g))
    return xs


def presence_patterns(m):
    return torch.tensor([p for p in itertools.product([0.0, 1.0], repeat=m) if any(p)])


def test_bigru_matches_torch_gru():
    torch.manual_seed(0)
    ours, ref = BiGRU(6, 5), torch.nn.GRU(6, 5, batch_first=True, bidirectional=True)
    h = 5
    with torch.no_grad():
        for d, suffix in ((0, ""), (1, "_reverse")):
            for k, gate in enumerate("rzn"):
                rows = slice(k * h, (k + 1) * h)
                ours.input_weight[gate][d * h : (d + 1) * h] = getattr(ref, "weight_ih_l0" + suffix)[rows]
                ours.input_bias[gate][d * h : (d + 1) * h] = getattr(ref, "bias_ih_l0" + suffix)[rows]
                ours.recurrent_weight[gate][d] = getattr(ref, "weight_hh_l0" + suffix)[rows]
                ours.recurrent_bias[gate][d, 0] = getattr(ref, "bias_hh_l0" + suffix)[rows]
    x = torch.randn(2, 7, 6)
    torch.testing.assert_close(ours(x), ref(x)[0], atol=1e-6, rtol=1e-5)


def test_bilstm_matches_torch_lstm():
    torch.manual_seed(0)
    ours, ref = BiLSTM(6, 5), torch.nn.LSTM(6, 5, batch_first=True, bidirectional=True)
    h = 5
    with torch.no_grad():
        for d, suffix in ((0, ""), (1, "_reverse")):
            for k, gate in enumerate("ifgo"):
                rows = slice(k * h, (k + 1) * h)
                ours.input_weight[gate][d * h : (d + 1) * h] = getattr(ref, "weight_ih_l0" + suffix)[rows]
                ours.input_bias[gate][d * h : (d + 1) * h] = getattr(ref, "bias_ih_l0" + suffix)[rows]
                ours.recurrent_weight[gate][d] = getattr(ref, "weight_hh_l0" + suffix)[rows]
                ours.recurrent_bias[gate][d, 0] = getattr(ref, "bias_hh_l0" + suffix)[rows]
    x = torch.randn(2, 7, 6)
    torch.testing.assert_close(ours(x), ref(x)[0], atol=1e-6, rtol=1e-5)


def test_recurrence_lowers_to_one_xnnpack_partition():
    """Every op of the unrolled BiGRU, input projection included, stays in one XNNPACK
    partition: a weight computed in the graph (e.g. a cat of the gates' input weights)
    makes its matmul fall out of the delegate and run as a slow portable addmm."""
    pytest.importorskip("executorch")
    from export.executorch import delegation_report, lower

    rnn = BiGRU(8, 4).eval()
    report = delegation_report(lower(rnn, (torch.randn(1, 5, 8),)))
    assert report["non_delegated_ops"] == {} and report["delegated_subgraphs"] == 1, report


def test_layer_norm_matches_torch():
    ours = LayerNorm(16)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 1.5)
        ours.bias.uniform_(-1, 1)
    ref = torch.nn.LayerNorm(16)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(3, 5, 16) * 4 + 2
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("fusion", sorted(FUSION_HEADS))
def test_every_head_gives_zero_weight_to_absent_modalities(fusion):
    spec = make_spec(fusion=fusion, hidden_size=16, ffn_size=16, attention_heads=2)
    model = EmotionModel(spec).eval()
    presence = presence_patterns(3)
    xs = random_inputs(spec, batch=len(presence))
    logits, weights = model(*xs, presence)
    assert logits.shape == (len(presence), 2) and torch.isfinite(logits).all()
    assert torch.all(weights[presence == 0] == 0)
    torch.testing.assert_close(weights.sum(1), torch.ones(len(presence)))


def test_absent_modality_values_do_not_matter():
    spec = make_spec(hidden_size=16, ffn_size=16, attention_heads=2)
    model = EmotionModel(spec).eval()
    xs = random_inputs(spec, batch=2)
    presence = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    before = model(*xs, presence)
    xs2 = [x.clone() for x in xs]
    xs2[1][0] = 100.0  # video of sample 0 (absent)
    xs2[0][1] = -7.0  # audio of sample 1 (absent)
    xs2[2][1] = 3  # text of sample 1 (absent)
    after = model(*xs2, presence)
    torch.testing.assert_close(before[0], after[0])
    torch.testing.assert_close(before[1], after[1])


@pytest.mark.parametrize(
    "components",
    [
        Components(),
        Components(depthwise_conv=False),
        Components(recurrent="lstm"),
        Components(cross_attention=False),
        Components(gating=False),
    ],
)
def test_ablation_switches_build_and_run(components):
    spec = make_spec(components=components, hidden_size=16, ffn_size=16, attention_heads=2)
    model = EmotionModel(spec).eval()
    logits, weights = model(*random_inputs(spec), torch.ones(3, 3))
    assert torch.isfinite(logits).all()
    if not components.gating:
        torch.testing.assert_close(weights, torch.full((3, 3), 1 / 3))


def test_dense_conv_has_more_parameters_than_depthwise():
    dense = count_parameters(EmotionModel(make_spec(components=Components(depthwise_conv=False))))
    light = count_parameters(EmotionModel(make_spec()))
    assert dense > light


def test_model_exports_with_torch_export_and_matches_eager():
    spec = make_spec(hidden_size=16, ffn_size=16, attention_heads=2)
    model = EmotionModel(spec).eval()
    xs = random_inputs(spec, batch=1)
    presence = torch.tensor([[1.0, 0.0, 1.0]])
    program = torch.export.export(model, (*xs, presence))
    for p in presence_patterns(3):
        p = p[None]
        torch.testing.assert_close(program.module()(*xs, p), model(*xs, p))


# ------------------------------------------------------------------ inputs
def test_prepare_inputs_pads_normalizes_and_masks():
    spec = make_spec()
    tensors, presence = prepare_inputs(spec, audio=np.ones((3, 5), np.float32), text=np.array([3, 4]))
    assert presence.tolist() == [[1.0, 0.0, 1.0]]
    assert tensors[0].shape == (1, 8, 5) and tensors[0][0, :5].abs().sum() == 0 and tensors[0][0, 5:].eq(1).all()
    assert tensors[1].abs().sum() == 0
    assert tensors[2].tolist() == [[0, 0, 0, 0, 3, 4]]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "every modality is absent"),
        ({"audio": None, "video": None, "text": None}, "every modality is absent"),
        ({"audio": np.ones((3, 4), np.float32)}, r"audio: expected shape \(steps, 5\)"),
        ({"audio": np.full((3, 5), np.nan, np.float32)}, "audio: contains NaN or inf"),
        ({"audio": np.full((3, 5), np.inf, np.float32)}, "audio: contains NaN or inf"),
        ({"audio": np.array([["a"] * 5])}, "audio: expected real numbers"),
        ({"audio": [[1.0] * 5]}, "audio: expected a numpy array"),
        ({"video": np.ones((2, 3, 12, 12), np.float32)}, r"video: expected shape \(steps, 1, 12, 12\)"),
        ({"text": np.array([1.5, 2.0])}, "text: token ids must be an integer array"),
        ({"text": np.array([1, 99])}, r"text: token ids must lie in \[0, 5\)"),
        ({"smell": np.ones(3)}, "unknown modalities"),
        ({"audio": np.ones((0, 5), np.float32)}, "zero steps"),
    ],
)
def test_bad_inputs_are_rejected_with_errors_naming_the_modality(kwargs, message):
    with pytest.raises(InputError, match=message):
        prepare_inputs(make_spec(), **kwargs)


def test_conv_stride_shortens_the_recurrence():
    spec = make_spec(conv_stride=2, hidden_size=16, ffn_size=16, attention_heads=2)
    model = EmotionModel(spec).eval()
    xs = random_inputs(spec, batch=2)
    encoded = model.encoders["audio"](xs[0])
    assert encoded.shape == (2, 4, 16)  # 8 steps at stride 2
    logits, _ = model(*xs, torch.ones(2, 3))
    assert torch.isfinite(logits).all()
