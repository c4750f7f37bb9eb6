"""The raw-signal loaders (ravdess_speech, fer2013, goemotions, isear) and the live recipe (sdk.data.live).

Default run: the pairing / split / protocol logic of the live recipe on small synthetic
sources (no files). `data`: the loaders on the real sets (fast: metadata, a few clips,
label maps, splits that never overlap). `slow`: the full live training run.
"""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

from sdk.data import default_data_path
from sdk.data.dataset import MultimodalDataset
from sdk.data.emotions import EMOTIONS, LABEL_MAP, token_dataset, waveform_spec
from sdk.data.goemotions import multilabel_macro_f1
from sdk.data.live import DEFAULT_OPTIONS, LiveSources, build_live
from sdk.spec import FRAMES, ModalitySpec


# ----------------------------------------------------------------------------- synthetic sources
def _split_column(n: int, rng) -> np.ndarray:
    return rng.choice(np.array(["train", "val", "test"]), size=n, p=[0.6, 0.2, 0.2])


def synthetic_sources(seed: int = 0, window: int = 800) -> LiveSources:
    """Three unimodal pools with independent samples, sizes and label mixes (like real sets)."""
    rng = np.random.default_rng(seed)
    n_a, n_v, n_t = 70, 300, 400
    labels_a = np.arange(n_a) % 7
    split_a = _split_column(n_a, rng)
    split_a[:14], split_a[14:28] = "test", "val"  # every label in every split
    audio = MultimodalDataset(
        [waveform_spec("audio", window)], list(EMOTIONS),
        {"audio": (rng.normal(0, 0.1, (n_a, window)) * (1 + labels_a[:, None])).clip(-1, 1).astype(np.float32)},
        {"audio": rng.integers(window // 2, window + 1, n_a)}, np.ones((n_a, 1), np.float32), labels_a,
        np.array([f"actor{i % 10}" for i in range(n_a)]), split_a, "audio_src")
    labels_v = rng.integers(0, 7, n_v)
    labels_v[:21] = np.arange(21) % 7
    split_v = _split_column(n_v, rng)
    split_v[:7], split_v[7:14], split_v[14:21] = "train", "val", "test"
    video = MultimodalDataset(
        [ModalitySpec("video", FRAMES, 1, channels=1, height=8, width=8, normalize_in_graph=True)], list(EMOTIONS),
        {"video": rng.integers(0, 256, (n_v, 1, 1, 8, 8)).astype(np.uint8)}, {"video": np.ones(n_v, np.int64)},
        np.ones((n_v, 1), np.float32), labels_v, np.array([f"img{i}" for i in range(n_v)]), split_v, "video_src")
    words = ["calm", "rage", "yuck", "scary", "yay", "tears", "wow"]
    split_t = _split_column(n_t, rng)
    split_t[:7], split_t[7:14], split_t[14:21] = "train", "val", "test"
    labels_t = rng.integers(0, 7, n_t)
    labels_t[:21] = np.arange(21) % 7
    records = [{"text": f"i feel {words[l]} today", "label": int(l), "group": f"t{i}", "split": str(s)}
               for i, (l, s) in enumerate(zip(labels_t, split_t))]
    text = token_dataset(records, "text_src", 8, min_count=1)
    source = np.where(np.arange(n_t) % 2 == 0, "goemotions", "isear")
    test_rows = [r for r in records if r["split"] == "test" and r["group"] in {f"t{i}" for i in np.flatnonzero(source == "goemotions")}]
    from sdk.tokenizer import WordTokenizer

    every = token_dataset(test_rows, "goemotions_all", 8, tokenizer=WordTokenizer(text.modalities[0].vocabulary))
    return LiveSources({"audio": audio, "video": video, "text": text}, source, every,
                       [[r["label"]] for r in test_rows])


@pytest.fixture(scope="module")
def live():
    return build_live(synthetic_sources(), {"rows_per_epoch": 90, "test_repeats": 3, "val_unimodal": 20})


def _labels(data, split, j, rows=None):
    pool = data.sources.pools[data.modality_names[j]]
    index = split.index[:, j] if rows is None else split.index[rows, j]
    return pool.labels[index], pool.split[index]


def test_paired_test_uses_only_test_parts_and_every_row_shares_its_label(live):
    test = live.splits["test"]
    n_audio_test = int((live.sources.pools["audio"].split == "test").sum())
    assert len(test) == 3 * n_audio_test and (test.index >= 0).all()
    for j in range(3):
        labels, splits = _labels(live, test, j)
        np.testing.assert_array_equal(labels, test.label_array)
        assert set(splits) == {"test"}


def test_validation_never_touches_test_and_covers_each_modality_alone(live):
    val = live.splits["val"]
    for j in range(3):
        present = val.index[:, j] >= 0
        labels, splits = _labels(live, val, j, present)
        assert set(splits) == {"val"}
        np.testing.assert_array_equal(labels, val.label_array[present])
    parts = Counter(val.parts)
    assert parts["audio:val"] == int((live.sources.pools["audio"].split == "val").sum())
    assert parts["video:val"] == 20 and parts["text:val"] == 20 and parts["paired:val"] > 0
    alone = (val.index >= 0).sum(axis=1) == 1
    assert alone.sum() == parts["audio:val"] + 40


def test_training_rows_are_train_only_and_re_paired_every_epoch(live):
    train = live.splits["train"]
    assert len(train) == 90 and Counter(train.parts) == {"anchor:audio": 30, "anchor:video": 30, "anchor:text": 30}
    first = train.index.copy()
    for j in range(3):
        labels, splits = _labels(live, train, j)
        np.testing.assert_array_equal(labels, train.label_array)
        assert set(splits) == {"train"}
    order = torch.randperm(len(train))
    for start in range(0, len(train), 32):  # one epoch as sdk.training.fit draws it
        batch = train.batch(order[start:start + 32])
        assert [tuple(x.shape[1:]) for x in batch.inputs] == [(800,), (1, 1, 8, 8), (8,)]
    train.batch(order[:32])  # the first batch of the next epoch re-pairs
    assert train.epoch == 1 and not np.array_equal(first, train.index)
    for j in range(3):
        labels, splits = _labels(live, train, j)
        np.testing.assert_array_equal(labels, train.label_array)
        assert set(splits) == {"train"}


def test_pairing_is_seeded():
    a = build_live(synthetic_sources(), {"rows_per_epoch": 60, "test_repeats": 2, "val_unimodal": 10})
    b = build_live(synthetic_sources(), {"rows_per_epoch": 60, "test_repeats": 2, "val_unimodal": 10})
    c = build_live(synthetic_sources(), {"rows_per_epoch": 60, "test_repeats": 2, "val_unimodal": 10, "seed": 1})
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(a.splits[split].index, b.splits[split].index)
    assert not np.array_equal(a.splits["test"].index, c.splits["test"].index)


def test_batches_keep_waveform_padding_zero_and_pixels_raw(live):
    test = live.splits["test"]
    batch = test.batch(np.arange(10))
    audio, video = batch.inputs[0].numpy(), batch.inputs[1].numpy()
    lengths = live.sources.pools["audio"].lengths["audio"][test.index[:10, 0]]
    for row, n in zip(audio, lengths):
        assert not row[: 800 - n].any()
    np.testing.assert_array_equal(video, live.sources.pools["video"].inputs["video"][test.index[:10, 1]].astype(np.float32))


def test_training_augmentation_keeps_left_padding_and_changes_samples(live):
    train = live.splits["train"]
    audio_pool = live.sources.pools["audio"]
    rows = np.arange(len(train))
    batch = train.batch(rows[:30]).inputs[0].numpy()
    raw = audio_pool.inputs["audio"][train.index[:30, 0]]
    assert not np.allclose(batch, raw)
    for row in batch:  # valid samples are the last ones: once non-zero, the rest is speech
        nz = np.flatnonzero(row)
        assert len(nz) == 0 or nz[-1] == len(row) - 1
    assert np.abs(batch).max() <= 1.0


def test_speed_perturbation_resamples_in_time_and_keeps_left_padding():
    from sdk.data.live import Augmenter

    ramp = np.arange(1000, dtype=np.float32)
    faster = Augmenter.resample(ramp, 1.25, window=10_000)
    assert len(faster) == 800 and np.allclose(faster, np.arange(800) * 1.25)
    assert len(Augmenter.resample(ramp, 0.5, window=1500)) == 1500  # slower: cut to the window
    data = build_live(synthetic_sources(), {"rows_per_epoch": 90, "val_unimodal": 20, "speed_perturb": 0.2})
    train = data.splits["train"]
    batch = train.batch(np.arange(40)).inputs[0].numpy()
    for row in batch:
        nz = np.flatnonzero(row)
        assert len(nz) == 0 or nz[-1] == len(row) - 1


def test_keep_anchor_dropout_never_hides_the_anchor():
    from sdk.data.augment import modality_dropout

    data = build_live(synthetic_sources(), {"rows_per_epoch": 90, "val_unimodal": 20, "keep_anchor": True})
    train = data.splits["train"]
    batch = train.batch(np.arange(90))
    anchors = [p.split(":")[1] for p in train.parts[:90]]
    assert batch.keep.sum(1).tolist() == [1] * 90
    assert [data.modality_names[j] for j in batch.keep.int().argmax(1).tolist()] == anchors
    presence = modality_dropout(batch.presence, 0.9, torch.Generator().manual_seed(0), keep=batch.keep)
    assert bool(presence[batch.keep].all())  # anchors stay
    assert (presence.sum(1) == 1).sum() > 45  # and most partners went (p = 0.9)
    alone = presence.sum(1) == 1
    assert torch.equal(presence[alone].bool(), batch.keep[alone])  # every unimodal row is its anchor
    off = build_live(synthetic_sources(), {"rows_per_epoch": 90, "val_unimodal": 20}).splits["train"]
    assert off.batch(np.arange(10)).keep is None


def test_only_marks_other_modalities_absent(live):
    part = live.splits["test"].only(("video",))
    assert (part.index[:, [0, 2]] == -1).all() and (part.index[:, 1] >= 0).all()
    assert part.presence.sum(0).tolist() == [0.0, len(part), 0.0]


def test_train_live_writes_a_run_evaluated_by_the_protocol(live, tmp_path):
    from sdk.checkpoint import load_checkpoint
    from sdk.data.live import train_live
    from sdk.training import TrainConfig

    config = TrainConfig(epochs=1, batch_size=32, modality_dropout=0.5, noise=0.3)
    model, metrics = train_live(live, tmp_path / "run", config, progress=False, hidden_size=16, ffn_size=16)
    uni = metrics["protocol_results"]["unimodal"]
    assert set(uni) == {"ravdess_speech", "fer2013", "goemotions", "isear"}
    assert uni["goemotions"]["samples_all_rows"] == len(live.sources.goemotions_all)
    assert uni["ravdess_speech"]["samples"] == int((live.sources.pools["audio"].split == "test").sum())
    table = metrics["protocol_results"]["paired_subsets"]
    assert len(table) == 7 and all(row["samples"] == len(live.splits["test"]) for row in table.values())
    for name, row in table.items():
        for modality, weight in row["gate_weights"].items():
            assert (weight == 0.0) == (modality not in name.split("+"))
    assert "RAVDESS actors 19-24" in metrics["protocol"] and metrics["train_seconds"] > 0
    reloaded, payload = load_checkpoint(tmp_path / "run")
    assert reloaded.spec.dataset == "live" and payload["data_options"]["modalities"] == ["audio", "video", "text"]
    assert reloaded.spec.modality("audio").kind == "waveform"


def test_stagewise_training_copies_and_freezes_single_modality_encoders(live, tmp_path):
    """--encoders-from: the fused model starts from encoders trained alone; frozen ones never change."""
    from sdk.data.live import build_live, train_live
    from sdk.encoder_init import EncoderInitError
    from sdk.training import TrainConfig

    config = TrainConfig(epochs=1, batch_size=32, modality_dropout=0.5, noise=0.3)
    small = {"hidden_size": 16, "ffn_size": 16}
    alone = build_live(live.sources, live.options, ("video",), modalities=[live.modalities[1]])
    video, _ = train_live(alone, tmp_path / "video", config, progress=False, **small)
    fused, metrics = train_live(live, tmp_path / "fused", config, progress=False,
                                encoders_from={"video": tmp_path / "video"}, freeze_encoders=True, **small)
    theirs, ours = video.encoders["video"].state_dict(), fused.encoders["video"].state_dict()
    assert theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in theirs)
    assert metrics["encoders_from"]["video"]["frozen"] is True
    fused.train()
    assert not fused.encoders["video"].training and fused.encoders["audio"].training
    # a mismatch is refused with the reason: another modality's run, or a wrong name
    with pytest.raises(EncoderInitError, match="has no modality 'audio'"):
        train_live(live, None, config, progress=False, encoders_from={"audio": tmp_path / "video"}, **small)
    with pytest.raises(EncoderInitError, match="model's modalities"):
        train_live(live, None, config, progress=False, encoders_from={"face": tmp_path / "video"}, **small)


@pytest.fixture(scope="module")
def alone_runs(live, tmp_path_factory):
    """Single-modality video and audio models of the tiny live set (the stage-wise recipe's first stage)."""
    from sdk.data.live import build_live, train_live
    from sdk.training import TrainConfig

    root = tmp_path_factory.mktemp("alone")
    config = TrainConfig(epochs=1, batch_size=32, modality_dropout=0.5, noise=0.3)
    for j, name in enumerate(("audio", "video")):
        alone = build_live(live.sources, live.options, (name,), modalities=[live.modalities[j]])
        train_live(alone, root / name, config, progress=False, hidden_size=16, ffn_size=16)
    return root


def test_freezing_some_encoders_fine_tunes_the_other_copied_ones(live, alone_runs):
    """--freeze-encoders video: the video encoder stays as trained alone, the copied audio encoder trains on."""
    from sdk.checkpoint import load_checkpoint
    from sdk.data.live import train_live
    from sdk.encoder_init import EncoderInitError, parse_freeze
    from sdk.training import TrainConfig

    assert parse_freeze(None) is False and parse_freeze("all") is True and parse_freeze("video, text") == {"video", "text"}
    config = TrainConfig(epochs=1, batch_size=32, modality_dropout=0.5, noise=0.3)
    sources = {"audio": alone_runs / "audio", "video": alone_runs / "video"}
    fused, metrics = train_live(live, None, config, progress=False, encoders_from=sources, freeze_encoders={"video"},
                                hidden_size=16, ffn_size=16)
    assert metrics["encoders_from"]["video"]["frozen"] and not metrics["encoders_from"]["audio"]["frozen"]
    for name, changed in (("video", False), ("audio", True)):
        theirs = load_checkpoint(sources[name])[0].encoders[name].state_dict()
        ours = fused.encoders[name].state_dict()
        assert any(not torch.equal(theirs[k], ours[k]) for k in theirs) is changed, name
    with pytest.raises(EncoderInitError, match="does not copy"):
        train_live(live, None, config, progress=False, encoders_from={"video": sources["video"]},
                   freeze_encoders={"text"}, hidden_size=16, ffn_size=16)


def test_single_modality_models_teach_exactly_the_one_modality_rows(live, alone_runs):
    """--distill with --encoders-from: a row with one modality gets that modality's own model's logits."""
    from sdk.checkpoint import load_checkpoint
    from sdk.data.live import train_live
    from sdk.encoder_init import EncoderInitError, ModalityTeachers
    from sdk.model import build_model
    from sdk.spec import ModelSpec
    from sdk.training import TrainConfig, distillation_loss

    sources = {"audio": alone_runs / "audio", "video": alone_runs / "video"}
    model = build_model(ModelSpec(modalities=list(live.modalities), class_names=list(EMOTIONS),
                                  dataset="live", hidden_size=16, ffn_size=16, pooling="mean"))
    teachers = ModalityTeachers(sources, model)
    batch = live.splits["test"].batch(torch.arange(5))
    # rows: all three, audio alone, video alone, text alone, audio + video
    presence = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=torch.float32)
    logits, taught = teachers(*batch.inputs, presence)
    assert taught.tolist() == [False, True, True, False, False]  # text has no teacher here
    for row, name, j in ((1, "audio", 0), (2, "video", 1)):
        alone = load_checkpoint(sources[name])[0].eval()
        with torch.no_grad():
            expected, _ = alone(batch.inputs[j][row : row + 1], torch.ones(1, 1))
        assert torch.allclose(logits[row], expected[0], atol=1e-5)
    # untaught rows do not count: a student far off on them alone has zero distillation loss
    student = logits.clone()
    student[~taught] += torch.randn(int((~taught).sum()), logits.shape[1]) * 5
    assert float(distillation_loss(student, logits, 2.0, taught)) == pytest.approx(0.0, abs=1e-6)
    assert float(distillation_loss(student, logits, 2.0)) > 0.1
    config = TrainConfig(epochs=1, batch_size=32, modality_dropout=0.5, noise=0.3, distill=0.5)
    _, metrics = train_live(live, None, config, progress=False, encoders_from=sources, freeze_encoders=True,
                            hidden_size=16, ffn_size=16)
    assert metrics["config"]["distill"] == 0.5
    with pytest.raises(EncoderInitError, match="--distill"):
        train_live(live, None, config, progress=False, hidden_size=16, ffn_size=16)


def test_multilabel_macro_f1_counts_a_prediction_among_the_labels_as_correct():
    # class 0: TP 1 (row 0), FN 2 (rows 1, 2) -> F1 2/4; class 1: TP 1 (row 1) -> 1;
    # class 2: only a false positive and no gold row -> not averaged (macro over the classes that occur)
    assert multilabel_macro_f1([[0], [0, 1], [0]], np.array([0, 1, 2]), 3) == pytest.approx((0.5 + 1) / 2)
    assert multilabel_macro_f1([[0], [1]], np.array([0, 1]), 3) == 1.0


def test_label_map_covers_the_shared_classes():
    assert sorted({v for v in LABEL_MAP.values() if v}) == sorted(EMOTIONS)
    assert LABEL_MAP["calm"] == "neutral" and LABEL_MAP["joy"] == "happy" and LABEL_MAP["shame"] is None


# ----------------------------------------------------------------------------- real data
def _need(name: str):
    """The dataset's directory; skip without it (fail under CI: tests.helpers.unavailable)."""
    from tests.helpers import unavailable

    if default_data_path(name) is None:
        unavailable(f"{name} not found (set EMOEDGE_DATA or place ../shared/datasets)")
    return default_data_path(name)


@pytest.mark.data
def test_ravdess_actor_split_and_clips():
    from sdk.data.ravdess import TEST_ACTORS, actor_split, load_ravdess, read_ravdess_metadata

    path = _need("ravdess_speech")
    rows = read_ravdess_metadata(path)
    assert len(rows) == 1440
    by_split = {s: {r["actor"] for r in rows if actor_split(r["actor"]) == s} for s in ("train", "val", "test")}
    assert by_split["test"] == set(TEST_ACTORS) == set(range(19, 25))
    assert not by_split["test"] & (by_split["train"] | by_split["val"]) and not by_split["train"] & by_split["val"]
    counts = Counter(EMOTIONS[r["label"]] for r in rows)
    assert counts["neutral"] == 96 + 192 and all(counts[e] == 192 for e in EMOTIONS if e != "neutral")
    ds = load_ravdess(path, limit=6)
    assert ds.inputs["audio"].shape == (6, 48000) and ds.inputs["audio"].dtype == np.float32
    assert ds.modalities[0].kind == "waveform" and ds.modalities[0].sample_rate == 16000
    for x, n in zip(ds.inputs["audio"], ds.lengths["audio"]):
        assert 0 < n <= 48000 and not x[: 48000 - n].any() and np.abs(x).max() <= 1.0
    assert set(ds.split) == {"train"} and set(ds.groups) == {"actor01"}


@pytest.mark.data
def test_fer2013_usage_splits_and_shapes():
    from sdk.data.fer2013 import FILE, load_fer2013

    path = _need("fer2013")
    ds = load_fer2013(path)
    with np.load(path / FILE) as z:
        usage, labels, classes = z["usage"], z["labels"], list(z["classes"])
    assert classes == EMOTIONS
    np.testing.assert_array_equal(ds.split == "test", usage == "PrivateTest")
    np.testing.assert_array_equal(ds.split == "val", usage == "PublicTest")
    assert not (usage[ds.split != "test"] == "PrivateTest").any()
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.inputs["video"].shape == (35887, 1, 1, 48, 48) and (ds.split == "test").sum() == 3589
    m = ds.modalities[0]
    assert (m.channels, m.height, m.width, m.seq_len, m.normalize_in_graph) == (1, 48, 48, 1, True)


@pytest.mark.data
def test_goemotions_label_map_and_single_label_splits():
    from sdk.data.goemotions import load_goemotions, read_goemotions

    path = _need("goemotions")
    names = (path / "ekman" / "labels.txt").read_text().split()
    assert names == ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]
    test = read_goemotions(path, "test")
    assert len(test) == 5427 and sum(len(r["labels"]) > 1 for r in test) > 0
    ds = load_goemotions(path)
    assert (ds.split == "test").sum() == sum(len(r["labels"]) == 1 for r in test)
    first = next(r for r in read_goemotions(path, "train") if r["text"].startswith("WHY THE FUCK IS BAYLESS"))
    assert [EMOTIONS[i] for i in first["labels"]] == ["angry"]  # label id 0 = anger
    groups = {s: set(ds.groups[ds.split == s]) for s in ("train", "val", "test")}
    assert not groups["test"] & (groups["train"] | groups["val"])


@pytest.mark.data
def test_isear_drops_shame_guilt_and_holds_out_respondents():
    from sdk.data.isear import load_isear, read_isear

    path = _need("isear")
    rows = read_isear(path)
    assert len(rows) == 7666 - 1096 - 1093
    assert {EMOTIONS[r["label"]] for r in rows} == {"happy", "fear", "angry", "sad", "disgust"}
    groups = {s: {r["group"] for r in rows if r["split"] == s} for s in ("train", "val", "test")}
    assert not groups["test"] & (groups["train"] | groups["val"]) and not groups["train"] & groups["val"]
    respondents = len(set().union(*groups.values()))
    assert abs(len(groups["test"]) - 0.2 * respondents) <= 1
    assert read_isear(path) == rows  # seeded
    assert not any("\u00e1 " in r["text"] or "|" in r["text"][:0] for r in rows[:50])
    ds = load_isear(path)
    assert ds.inputs["text"].shape == (len(rows), 48)


@pytest.mark.data
def test_live_test_parts_and_paired_test_come_only_from_test_data():
    from sdk.data.live import load_live

    _need("ravdess_speech")
    data = load_live()
    test = data.splits["test"]
    assert len(test) == 360 * DEFAULT_OPTIONS["test_repeats"]
    actors = data.sources.pools["audio"].groups[test.index[:, 0]]
    assert set(actors) == {f"actor{a}" for a in range(19, 25)}
    for j in range(3):
        labels, splits = _labels(data, test, j)
        assert set(splits) == {"test"}
        np.testing.assert_array_equal(labels, test.label_array)
    train = data.splits["train"]
    assert set(data.sources.pools["audio"].groups[train.index[:, 0]]) <= {f"actor{a:02d}" for a in range(1, 17)}
    for j in range(3):
        assert set(_labels(data, train, j)[1]) == {"train"}
        present = data.splits["val"].index[:, j] >= 0
        assert set(_labels(data, data.splits["val"], j, present)[1]) == {"val"}


# ----------------------------------------------------------------------------- slow: the real run
@pytest.mark.slow
@pytest.mark.data
def test_live_recipe_trains_and_meets_the_protocol_floor(tmp_path):
    from sdk.train import main

    _need("ravdess_speech")
    assert main(["--dataset", "live", "--out", str(tmp_path / "live"), "--threads", "1", "--quiet"]) == 0
    metrics = json.loads((tmp_path / "live" / "metrics.json").read_text())
    uni = metrics["protocol_results"]["unimodal"]
    assert "RAVDESS actors 19-24" in metrics["protocol"]
    assert set(uni) == {"ravdess_speech", "fer2013", "goemotions", "isear"}
    table = metrics["protocol_results"]["paired_subsets"]
    assert len(table) == 7
    for name, row in table.items():
        for modality, weight in row["gate_weights"].items():
            if modality not in name.split("+"):
                assert weight == 0.0
    best_single = max(uni["ravdess_speech"]["accuracy"], uni["fer2013"]["accuracy"], uni["goemotions"]["accuracy"])
    assert table["audio+text+video"]["accuracy"] >= best_single
    assert metrics["train_seconds"] <= 45 * 60


def test_checkpoint_data_for_training_is_the_stream_not_the_calibration_sample(live, tmp_path, monkeypatch):
    """PNAO retrains a live checkpoint on its re-paired stream; export calibrates on 256 fixed rows."""
    import sdk.data.live as live_module
    from sdk.checkpoint import load_checkpoint
    from sdk.data.live import TrainStream, train_live
    from sdk.train import checkpoint_data
    from sdk.training import TrainConfig

    train_live(live, tmp_path / "run", TrainConfig(epochs=1, batch_size=32), progress=False, hidden_size=16,
               ffn_size=16)
    model, payload = load_checkpoint(tmp_path / "run")
    monkeypatch.setattr(live_module, "load_sources", lambda *a, **k: live.sources)
    stream = checkpoint_data(model, payload, for_training=True)
    assert isinstance(stream["train"], TrainStream) and len(stream["train"]) == live.options["rows_per_epoch"]
    assert set(stream) == {"train", "val", "test"}
    sample = checkpoint_data(model, payload)
    assert not isinstance(sample["train"], TrainStream)  # fixed, materialised rows (at most 256)
