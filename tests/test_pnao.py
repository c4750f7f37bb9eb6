"""PNAO structured pruning (compress.pnao, compress.prune, compress.importance)."""
from __future__ import annotations

import copy
import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from compress.importance import naor_mask, plan_pruning
from compress.pnao import PnaoOptions, run_pnao, select_best
from compress.prune import build_graph, example_inputs, keep_count, node_groups, prune_nodes, rebuild
from sdk.checkpoint import load_checkpoint
from sdk.layers import BiGRU
from sdk.model import EmotionModel, count_parameters
from sdk.spec import ModalitySpec, ModelSpec
from sdk.training import SplitTensors, TrainConfig

torch.set_num_threads(1)


def tiny_spec(**overrides) -> ModelSpec:
    modalities = [ModalitySpec("audio", "features", 4, feature_dim=6), ModalitySpec("text", "features", 4, feature_dim=5)]
    options = {"hidden_size": 32, "ffn_size": 32, "dropout": 0.0, "pooling": "last", **overrides}
    return ModelSpec(modalities=modalities, class_names=["a", "b"], **options).validate()


def tiny_data(spec: ModelSpec, n: int = 48, seed: int = 0) -> dict[str, SplitTensors]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for split in ("train", "val", "test"):
        labels = torch.randint(0, 2, (n,), generator=g)
        inputs = [torch.randn(n, m.seq_len, m.feature_dim, generator=g) + labels.reshape(-1, 1, 1) for m in spec.modalities]
        presence = torch.ones(n, len(inputs))
        presence[: n // 4, 0] = 0  # some samples miss audio
        out[split] = SplitTensors(inputs, presence, labels)
    return out


def zero_some_nodes(model: EmotionModel) -> None:
    """Make some nodes of every group clearly unimportant (what sparse training does)."""
    with torch.no_grad():
        for name in model.modality_names:
            model.encoders[name].convs[0].pointwise.weight[:8] = 0
            dead = [h * 8 + i for h in range(4) for i in range(4)]  # half of every head's dims
            model.attention[name].query.weight[dead] = 0
            model.attention[name].key.weight[dead] = 0
        for name in model.modality_names:
            rnn = model.encoders[name].rnn
            h = rnn.hidden_per_direction
            for g in rnn.gates:
                for rows in (slice(0, 8), slice(h, h + 8)):
                    rnn.input_weight[g][rows] = 0
                rnn.recurrent_weight[g][:, :8] = 0
            # every writer of the D stream (the residual) must agree that units 0-7 are dead
            model.attention[name].output.weight[list(range(8)) + list(range(h, h + 8))] = 0
        model.ffn.down.weight[list(range(8)) + list(range(16, 24))] = 0
        model.ffn.up.weight[:16] = 0


def prune_once(model: EmotionModel, naor: float = 0.05, round_to: int = 8) -> EmotionModel:
    graph = build_graph(model)
    groups = node_groups(model)
    plan = plan_pruning(graph, groups, naor, round_to)
    for group in groups:
        prune_nodes(graph, group, plan.pruned[group.name])
    return rebuild(model)


@pytest.fixture()
def pruned_pair():
    torch.manual_seed(0)
    model = EmotionModel(tiny_spec()).eval()
    zero_some_nodes(model)
    return model, prune_once(copy.deepcopy(model)).eval()


def test_naor_mask_is_eq_11():
    importance = {"a": torch.tensor([1.0, 0.04, 0.06]), "b": torch.tensor([0.5, 0.049])}
    threshold, masks = naor_mask(importance, 0.05)
    assert threshold == pytest.approx(0.05)
    assert masks["a"].tolist() == [True, False, True]
    assert masks["b"].tolist() == [True, False]


def test_keep_count_rounds_to_multiples_of_round_to_and_heads():
    assert keep_count(9, 128, 8, 4) == 16
    assert keep_count(0, 128, 8, 4) == 8
    assert keep_count(100, 64, 8, 1) == 64
    assert keep_count(5, 48, 8, 3) == 24  # lcm(8, 3)


def test_pruned_model_is_smaller_and_keeps_widths_in_spec(pruned_pair):
    model, pruned = pruned_pair
    assert count_parameters(pruned) < count_parameters(model)
    w = pruned.spec.widths
    assert w["audio.conv0"] == 24 and w["text.conv0"] == 24
    assert w["audio.rnn"] == w["text.rnn"] == 8  # 16 units, 8 zeroed in every modality
    assert w["audio.attn_qk"] == 16 and w["ffn"] == 16
    assert all(v % 8 == 0 for v in w.values())
    # D stays equal across modalities, attention widths stay multiples of the heads
    assert len({pruned.encoders[n].out_dim for n in pruned.modality_names}) == 1
    assert pruned.attention["audio"].query.out_features % pruned.spec.attention_heads == 0


def test_pruned_checkpoint_reloads_from_its_spec(pruned_pair, tmp_path):
    from sdk.checkpoint import save_checkpoint

    _, pruned = pruned_pair
    save_checkpoint(tmp_path, pruned)
    reloaded, payload = load_checkpoint(tmp_path)
    assert payload["spec"]["widths"] == pruned.spec.widths
    x = example_inputs(pruned)
    torch.testing.assert_close(reloaded(*x)[0], pruned(*x)[0])


def test_removing_zero_nodes_keeps_outputs(pruned_pair):
    """Nodes whose weights are all zero contribute nothing, except through LayerNorm statistics
    on the D stream: so compare everything upstream of the D stream exactly."""
    model, pruned = pruned_pair
    x = torch.randn(3, 4, 6)
    full = model.encoders["audio"].convs(x)
    small = pruned.encoders["audio"].convs(x)
    kept = [i for i in range(32) if not torch.all(model.encoders["audio"].convs[0].pointwise.weight[i] == 0)]
    torch.testing.assert_close(small, full[..., kept])


def test_gru_unit_removal_keeps_remaining_units_identical():
    torch.manual_seed(0)
    rnn = BiGRU(5, 6)
    with torch.no_grad():
        for g in rnn.gates:  # units 1 and 4 are dead in both directions
            for j in (1, 4):
                rnn.input_weight[g][[j, 6 + j]] = 0
                rnn.input_bias[g][[j, 6 + j]] = 0
                rnn.recurrent_weight[g][:, j] = 0
                rnn.recurrent_weight[g][:, :, j] = 0  # nobody reads them
                rnn.recurrent_bias[g][:, :, j] = 0
    from compress.prune import RECURRENT_PRUNER

    x = torch.randn(2, 7, 5)
    before = rnn(x)
    RECURRENT_PRUNER.prune_out_channels(rnn, [1, 4, 7, 10])
    after = rnn(x)
    assert rnn.hidden_per_direction == 4
    keep = [0, 2, 3, 5]
    torch.testing.assert_close(after, before[..., keep + [6 + k for k in keep]])
    with pytest.raises(ValueError, match="both directions"):
        RECURRENT_PRUNER.prune_out_channels(rnn, [0])


def test_absent_modality_gate_weight_stays_zero(pruned_pair):
    _, pruned = pruned_pair
    x = example_inputs(pruned, batch=3)
    presence = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    _, weights = pruned(*x[:-1], presence)
    assert weights[0, 1].item() == 0.0 and weights[1, 0].item() == 0.0
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(3))


def test_pruned_model_exports(pruned_pair):
    _, pruned = pruned_pair
    x = tuple(example_inputs(pruned, batch=1))
    program = torch.export.export(pruned, x)
    torch.testing.assert_close(program.module()(*x)[0], pruned(*x)[0])


def test_unsupported_fusion_head_is_an_actionable_error():
    with pytest.raises(ValueError, match="gated"):
        build_graph(EmotionModel(tiny_spec(fusion="concat")))


def test_select_best_prefers_smaller_within_tolerance():
    rows = [{"round": i, "params": 100 - 10 * i, "val": {"weighted_f1": v}} for i, v in enumerate([0.90, 0.92, 0.915])]
    assert select_best(rows, 0.0) == 1
    assert select_best(rows, 0.01) == 2


def test_select_best_within_a_size_budget():
    rows = [{"round": i, "params": p, "val": {"weighted_f1": v}}
            for i, (p, v) in enumerate([(100, 0.95), (70, 0.94), (55, 0.90), (40, 0.92), (30, 0.85)])]
    assert select_best(rows, 0.0) == 0
    assert select_best(rows, 0.0, max_params=0.6) == 3  # rounds 2-4 compete; 3 is best on validation
    assert select_best(rows, 0.03, max_params=0.6) == 3
    assert select_best(rows, 0.0, max_params=0.2) == 4  # nothing fits: the smallest round


def _run(tmp_path, name, rounds=2, **kwargs):
    spec = tiny_spec()
    torch.manual_seed(0)
    model = EmotionModel(spec)
    config = TrainConfig(epochs=4, batch_size=16, l1=1e-3, keep="last", modality_dropout=0.2, noise=0.0)
    options = PnaoOptions(rounds=rounds, naor=0.3, rewind_epochs=2, l1=1e-3)
    return run_pnao(model, tiny_data(spec), config, tmp_path / name, options, progress=False, **kwargs)


def _comparable(result):
    return [{k: v for k, v in r.items() if k != "latency_ms"} for r in result["rounds"]]


def test_pnao_run_writes_results_and_resume_matches(tmp_path):
    full = _run(tmp_path, "full")
    out = tmp_path / "full"
    data = json.loads((out / "pnao.json").read_text())
    assert set(data) == {"rounds", "best_round", "seconds", "best_checkpoint", "best_sha256", "val_from"}
    assert [r["round"] for r in data["rounds"]] == [0, 1, 2]
    for r in data["rounds"]:
        assert set(r) == {"round", "params", "macs", "val", "test", "latency_ms"}
        assert set(r["val"]) == set(r["test"]) == {"accuracy", "weighted_f1"}
    assert data["rounds"][2]["params"] < data["rounds"][0]["params"]
    assert data["rounds"][2]["macs"] < data["rounds"][0]["macs"]
    assert (out / "rounds.png").stat().st_size > 0 and (out / "weights.png").stat().st_size > 0
    best, _ = load_checkpoint(out / data["best_checkpoint"])
    assert count_parameters(best) == data["rounds"][data["best_round"]]["params"]

    class Killed(Exception):
        pass

    def kill_after_round_1(index, record):
        if index == 1:
            raise Killed

    with pytest.raises(Killed):
        _run(tmp_path, "killed", on_round=kill_after_round_1)
    (tmp_path / "killed" / "rounds" / ".round_2.pt.partial.tmp").write_bytes(b"torn")  # a write cut mid-way
    resumed = _run(tmp_path, "killed", resume=True)
    assert _comparable(resumed) == _comparable(full)
    assert resumed["best_round"] == full["best_round"]
    assert all(math.isfinite(r["latency_ms"]) for r in resumed["rounds"])
    assert np.isfinite(resumed["seconds"])


def test_prunes_a_model_with_frames_tokens_and_unequal_sequence_lengths():
    """The built-in synthetic spec: audio 16 steps, video frames 6 steps, text tokens 10 steps."""
    from sdk.data import load_dataset
    from sdk.train import build_spec

    spec = build_spec(load_dataset("synthetic", n_samples=60).with_validation(), hidden_size=32, ffn_size=32)
    torch.manual_seed(0)
    model = EmotionModel(spec).eval()
    with torch.no_grad():
        for name in model.modality_names:
            model.encoders[name].convs[0].pointwise.weight[:8] = 0
    pruned = prune_once(copy.deepcopy(model)).eval()
    assert count_parameters(pruned) < count_parameters(model)
    inputs = example_inputs(pruned, batch=1)
    logits, weights = pruned(*inputs, torch.tensor([[1.0, 0.0, 1.0]]))
    assert torch.isfinite(logits).all() and weights[0, 1] == 0


# ------------------------------------------------------------------ the live model's 2-D CNNs and gate (issue 17)
def live_prune_spec() -> ModelSpec:
    """The tiny live spec with the mel2d audio CNN on 32 mel bands (2 bands reach its projection, so
    the band stacking is exercised) and a face CNN of base width 4 (widths 4, 8, 8, 16, 16, 32, 32)."""
    import dataclasses

    from sdk.spec import Normalization
    from tests.test_live_model import tiny_live_spec

    spec = ModelSpec.from_json(tiny_live_spec().to_json())  # plain floats: checkpoints load weights-only
    audio = dataclasses.replace(spec.modalities[0], encoder="mel2d", n_mels=32,
                                normalization=Normalization([-6.0] * 32, [2.0] * 32))
    return dataclasses.replace(spec, modalities=[audio, *spec.modalities[1:]],
                               widths={"audio.audio": 8, "video.frame": 4}).validate()


def live_model(spec: ModelSpec) -> EmotionModel:
    torch.manual_seed(0)
    return EmotionModel(spec).eval()


def cnn_groups(model: EmotionModel) -> dict[str, torch.nn.Conv2d]:
    from compress.prune import cnn_front

    return {f"{name}.{part}{i}": conv for name, part in (("audio", "mel"), ("video", "face"))
            for i, conv in enumerate(cnn_front(model.encoders[name]).output_convs())}


def front_end_bytes(model: EmotionModel) -> dict[str, bytes]:
    front = model.encoders["audio"].front.frontend
    return {name: b.detach().numpy().tobytes() for name, b in front.named_buffers()}


def live_outputs(model: EmotionModel) -> list[tuple[torch.Tensor, torch.Tensor]]:
    from tests.test_live_model import tiny_live_samples

    with torch.no_grad():
        return [model(*sample) for sample in tiny_live_samples(4, seed=2)]


def max_difference(a, b) -> float:
    return max(float((x - y).abs().max()) for pa, pb in zip(a, b) for x, y in zip(pa, pb))


def test_live_widths_have_spec_keys_with_todays_defaults():
    """Every new group has a width key; without keys the network is today's (same state-dict shapes as
    a checkpoint saved before per-block keys existed: the hash was taken with that code). The log-mel
    front end's fixed buffers are left out: they are rebuilt from the spec on load (sdk.frontend), and
    their layout changed with the block-GEMM front end (the learned shapes' hash is the same before and
    after that change)."""
    import dataclasses
    import hashlib

    from compress.prune import current_widths
    from tests.test_live_model import tiny_live_spec

    spec = ModelSpec.from_json(tiny_live_spec().to_json())
    before = {"face": "9ba9d19462ecf5df", "mel2d": "06fce9160a51d80b"}
    for name, audio in (("face", spec.modalities[0]), ("mel2d", dataclasses.replace(spec.modalities[0], encoder="mel2d"))):
        model = live_model(dataclasses.replace(spec, modalities=[audio, *spec.modalities[1:]]))
        lines = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in sorted(model.state_dict().items())
                          if ".frontend." not in k)
        assert hashlib.sha256(lines.encode()).hexdigest()[:16] == before[name], name
    widths = current_widths(live_model(live_prune_spec()))
    assert [widths[f"video.face{i}"] for i in range(7)] == [4, 8, 8, 16, 16, 32, 32]
    assert [widths[f"audio.mel{i}"] for i in range(4)] == [16, 32, 64, 64]
    assert widths["audio.audio"] == 8 and widths["fusion.gate"] == 64
    rebuilt = EmotionModel(dataclasses.replace(live_prune_spec(), widths=widths))  # explicit keys = defaults
    assert [tuple(v.shape) for v in rebuilt.state_dict().values()] == \
        [tuple(v.shape) for v in live_model(live_prune_spec()).state_dict().values()]


def test_default_width_checkpoint_still_loads(tmp_path):
    from sdk.checkpoint import save_checkpoint

    model = live_model(live_prune_spec())
    save_checkpoint(tmp_path, model)
    reloaded, payload = load_checkpoint(tmp_path)
    assert payload["spec"]["widths"] == {"audio.audio": 8, "video.frame": 4}  # no per-block keys written
    assert max_difference(live_outputs(reloaded.eval()), live_outputs(model)) == 0.0


def test_unknown_or_bad_width_keys_are_refused():
    import dataclasses

    from sdk.spec import SpecError

    spec = live_prune_spec()
    for widths, message in (({"video.face0": 0}, "positive integer"), ({"video.fac0": 8}, "not a layer width"),
                            ({"radio.mel0": 8}, "not a layer width"), ({"fusion.gate": 8.0}, "positive integer")):
        with pytest.raises(SpecError, match=message):
            dataclasses.replace(spec, widths=widths).validate()
    dataclasses.replace(spec, widths={"video.face3": 8, "audio.mel2": 16, "fusion.gate": 8}).validate()


def test_one_prune_step_prunes_face_mel2d_and_gate_with_round_to():
    """One PNAO step (eqs. 10-11, --round-to 4) on the tiny live model: the face CNN, the mel2d CNN
    and its projection and the gate's hidden layer lose nodes, every width is a multiple of 4, the
    model rebuilt from its spec holds the same network, and the front end is byte-identical."""
    from compress.prune import current_widths

    model = live_model(live_prune_spec())
    before_widths = current_widths(model)
    front = front_end_bytes(model)
    pruned_in_place = copy.deepcopy(model)
    graph = build_graph(pruned_in_place)
    groups = node_groups(pruned_in_place)
    assert {"video.face0", "video.face6", "audio.mel0", "audio.mel3", "audio.audio", "fusion.gate"} <= {g.name for g in groups}
    plan = plan_pruning(graph, groups, naor=0.9, round_to=4)
    for group in groups:
        prune_nodes(graph, group, plan.pruned[group.name])
    rebuilt = rebuild(pruned_in_place).eval()
    widths = rebuilt.spec.widths
    assert widths == {**live_prune_spec().widths, **current_widths(pruned_in_place)}
    new_keys = [f"video.face{i}" for i in range(7)] + [f"audio.mel{i}" for i in range(4)] + ["audio.audio", "fusion.gate"]
    for key in new_keys:
        assert widths[key] % 4 == 0, key
    for key in [f"video.face{i}" for i in range(1, 7)] + [f"audio.mel{i}" for i in range(4)] + ["audio.audio", "fusion.gate"]:
        assert widths[key] < before_widths[key], key
    assert max_difference(live_outputs(rebuilt), live_outputs(pruned_in_place.eval())) < 1e-5
    assert front_end_bytes(rebuilt) == front_end_bytes(pruned_in_place) == front
    assert count_parameters(rebuilt) < count_parameters(model)


def test_removing_zeroed_cnn_and_gate_nodes_keeps_the_outputs():
    """Zeroed pointwise/stem rows (BatchNorm at its initial state maps 0 to 0, ReLU keeps it) and
    zeroed gate hidden units contribute nothing: pruning exactly them leaves the logits and gate
    weights as they were, which checks every coupled slice (BatchNorm, depthwise channels, next
    pointwise columns, the projection's stacked bands, the gate's score columns)."""
    model = live_model(live_prune_spec())
    convs = cnn_groups(model)
    with torch.no_grad():
        for name, conv in convs.items():
            if name != "video.face6":  # its zero channels would still meet the temporal conv's bias
                conv.weight[1::2] = 0  # every other node: the survivors are not one contiguous block
        model.fusion.gate[0].weight[::2] = 0
        model.fusion.gate[0].bias[::2] = 0
    expected = live_outputs(model)
    front = front_end_bytes(model)
    graph = build_graph(model)
    groups = node_groups(model)
    plan = plan_pruning(graph, groups, naor=0.05, round_to=4)
    for name, conv in convs.items():
        zeroed = [i for i in range(conv.out_channels) if name != "video.face6" and i % 2 == 1]
        halved = conv.out_channels // 2 >= 4
        assert plan.pruned[name] == (zeroed if halved else []), name
    assert plan.pruned["fusion.gate"] == list(range(0, 64, 2))
    assert all(not plan.pruned[g.name] for g in groups if g.name not in convs and g.name != "fusion.gate")
    for group in groups:
        prune_nodes(graph, group, plan.pruned[group.name])
    pruned = rebuild(model).eval()
    assert pruned.spec.widths["video.face5"] == 16 and pruned.spec.widths["audio.mel3"] == 32
    assert pruned.spec.widths["fusion.gate"] == 32
    assert max_difference(live_outputs(pruned), expected) < 1e-5
    assert front_end_bytes(pruned) == front


def test_mean_normalizer_compares_nodes_within_their_own_layer():
    """A layer whose weights are all small (large fan-in) is not wiped out by a global threshold."""
    from compress.importance import normalize

    importance = {"small": torch.tensor([0.04, 0.05, 0.06]), "large": torch.tensor([0.10, 0.20, 0.30])}
    _, raw = naor_mask(normalize(importance, "none"), 0.3)
    assert raw["small"].tolist() == [False, False, False]  # eq. 11 as written sorts layers
    _, scaled = naor_mask(normalize(importance, "mean"), 0.6)  # max = 0.3 / 0.2 = 1.5, threshold 0.9
    assert scaled["small"].tolist() == [False, True, True]
    assert scaled["large"].tolist() == [False, True, True]
    with pytest.raises(ValueError, match="unknown importance normalizer 'max'"):
        normalize(importance, "max")


def test_training_mode_encodes_only_present_rows():
    """BatchNorm statistics must not see the placeholder input of an absent modality."""
    from sdk.spec import ModalitySpec as M

    spec = ModelSpec(modalities=[M("video", "frames", 1, channels=1, height=48, width=48, encoder="face"),
                                 M("text", "features", 4, feature_dim=5)],
                     class_names=["a", "b"], hidden_size=16, ffn_size=16, dropout=0.0).validate()
    torch.manual_seed(0)
    model = EmotionModel(spec).train()
    bn = next(m for m in model.encoders["video"].modules() if isinstance(m, torch.nn.BatchNorm2d))
    present = torch.rand(8, 1, 1, 48, 48)
    images = torch.cat([present, torch.full((8, 1, 1, 48, 48), 50.0)])  # absent rows: a far-off placeholder
    presence = torch.ones(16, 2)
    presence[8:, 0] = 0
    model(images, torch.randn(16, 4, 5), presence)
    with_absent = bn.running_mean.clone()
    torch.manual_seed(0)
    model = EmotionModel(spec).train()
    bn = next(m for m in model.encoders["video"].modules() if isinstance(m, torch.nn.BatchNorm2d))
    model(present, torch.randn(8, 4, 5), torch.ones(8, 2))
    assert torch.allclose(bn.running_mean, with_absent, atol=1e-6)
    model.eval()
    logits, weights = model(images, torch.randn(16, 4, 5), presence)
    assert (weights[8:, 0] == 0).all()


def test_l1_term_skips_biases_norms_and_embedding_tables():
    from sdk.training import l1_norm

    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    with torch.no_grad():
        model[0].weight.fill_(5.0)
        model[1].weight.fill_(-0.5)
        model[1].bias.fill_(7.0)
        model[2].weight.fill_(9.0)
    assert float(l1_norm(model)) == pytest.approx(12 * 0.5)  # the Linear's 3x4 weight only


def test_distillation_loss_is_zero_only_when_the_student_matches_the_teacher():
    from sdk.training import distillation_loss

    teacher = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    assert float(distillation_loss(teacher.clone(), teacher, 2.0)) == pytest.approx(0.0, abs=1e-7)
    assert float(distillation_loss(teacher.flip(-1), teacher, 2.0)) > 0.1
    assert float(distillation_loss(teacher + 3.0, teacher, 2.0)) == pytest.approx(0.0, abs=1e-6)  # logits' shift


def test_distilled_rounds_learn_from_round_0(tmp_path, monkeypatch):
    """With --distill, every pruned round's retraining gets round 0 as its teacher, and the option is stored."""
    import compress.pnao as pnao

    seen = []
    real_fit = pnao.fit

    def spy(model, data, config, **kwargs):
        seen.append((kwargs.get("teacher") is not None, config.distill))
        return real_fit(model, data, config, **kwargs)

    monkeypatch.setattr(pnao, "fit", spy)
    spec = tiny_spec()
    torch.manual_seed(0)
    config = TrainConfig(epochs=4, batch_size=16, l1=1e-3, keep="last", modality_dropout=0.2, noise=0.0)
    options = PnaoOptions(rounds=2, naor=0.3, rewind_epochs=2, l1=1e-3, distill=0.5)
    run_pnao(EmotionModel(spec), tiny_data(spec), config, tmp_path / "kd", options, progress=False)
    assert seen == [(True, 0.5), (True, 0.5)]  # rounds 1 and 2 (round 0 was trained with L1 already)
    details = json.loads((tmp_path / "kd" / "pnao_details.json").read_text())
    assert details["options"]["distill"] == 0.5


def test_naor_rises_by_its_step_after_the_first_pruned_round():
    from compress.pnao import round_naor

    options = PnaoOptions(naor=0.52, naor_step=0.01)
    assert [round(round_naor(options, r), 4) for r in (1, 2, 3)] == [0.52, 0.53, 0.54]
    assert round_naor(PnaoOptions(naor=0.05), 4) == 0.05  # the default: eq. 11's fixed k


def test_sweep_naor_reports_what_each_k_would_leave(tmp_path, capsys):
    """`--sweep-naor` prunes copies of the checkpoint once per k (no training, nothing written):
    a larger k never leaves more, and k = 0 leaves everything."""
    from compress.pnao import main
    from tests.helpers import save_tiny_checkpoint

    checkpoint = save_tiny_checkpoint(tmp_path / "run")
    assert main(["--checkpoint", str(checkpoint), "--sweep-naor", "0,0.5,0.9", "--round-to", "1",
                 "--out", str(tmp_path / "never")]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 0")]
    left = [float(line.split("|")[3].strip().rstrip("%")) for line in lines]
    assert len(left) == 3 and left[0] == 100.0 and left[0] >= left[1] >= left[2] and left[2] < 100.0
    assert not (tmp_path / "never").exists()
    assert main(["--sweep-naor", "0.5", "--out", str(tmp_path / "o")]) == 2
    assert "needs --checkpoint" in capsys.readouterr().err


def test_resume_after_round_0_may_change_the_pruning_options_only():
    """Round 0 (the sparse base) does not depend on k, its step, the normalizer, round-to or
    distillation, so a run resumed after it may change them; after a pruned round it may not.
    Options that shape round 0 (the L1 weight, the rewind epochs) must always match."""
    from compress.pnao import PnaoOptions

    started = PnaoOptions(naor=0.40, naor_step=0.02, normalizer="mean", distill=0.5)
    other_k = dataclasses.replace(started, naor=0.33, round_to=4, distill=0.0)
    assert other_k.same_run(started, pruned=False) and not other_k.same_run(started, pruned=True)
    other_l1 = dataclasses.replace(started, naor=0.33, l1=1e-4)
    assert not other_l1.same_run(started, pruned=False)
    assert not dataclasses.replace(started, rewind_epochs=9).same_run(started, pruned=False)
