"""Tests of the data layer: synthetic set, tokenizer, augmentation, npz, normalization, real loaders."""
from __future__ import annotations

import csv
import json
import itertools
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import unavailable
import torch

from sdk.data import (DATASETS, MultimodalDataset, default_data_path, fit_normalization, load_dataset,
                      normalize)
from sdk.data.augment import inject_noise, modality_dropout
from sdk.data.npz import load_npz, save_npz
from sdk.data.synthetic import AROUSAL, VALENCE, load_synthetic
from sdk.tokenizer import SEP_ID, UNK_ID, WordTokenizer


@pytest.fixture(scope="module")
def synthetic() -> MultimodalDataset:
    return load_synthetic()


def _padding_mask(lengths: np.ndarray, seq_len: int) -> np.ndarray:
    return np.arange(seq_len)[None, :] < (seq_len - lengths[:, None])


# ---------------------------------------------------------------- synthetic
def test_synthetic_is_deterministic_and_shaped():
    a, b, c = load_synthetic(300, seed=1), load_synthetic(300, seed=1), load_synthetic(300, seed=2)
    assert a.modality_names == ["audio", "video", "text"]
    assert a.class_names == ["neutral", "happy", "sad", "angry"]
    for name in a.modality_names:
        assert np.array_equal(a.inputs[name], b.inputs[name])
        assert np.array_equal(a.lengths[name], b.lengths[name])
        assert not np.array_equal(a.inputs[name], c.inputs[name])
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.split, b.split)
    assert a.inputs["audio"].shape == (300, 16, 12) and a.inputs["audio"].dtype == np.float32
    assert a.inputs["video"].shape == (300, 6, 1, 12, 12) and a.inputs["video"].dtype == np.float32
    assert a.inputs["text"].shape == (300, 10) and a.inputs["text"].dtype == np.int64
    assert len(a.modalities[2].vocabulary) == 40 and a.modalities[2].vocabulary[:3] == ["<pad>", "<unk>", "<sep>"]
    assert a.inputs["text"].max() < 40


def test_synthetic_padding_presence_groups(synthetic):
    d = synthetic
    assert len(d) == 1200 and set(np.unique(d.labels)) == {0, 1, 2, 3}
    assert (d.presence.sum(axis=1) >= 1).all()
    assert 0.05 < 1 - d.presence.mean() < 0.25
    for i, m in enumerate(d.modalities):
        x = d.inputs[m.name].reshape(len(d), m.seq_len, -1)
        assert (x[d.presence[:, i] == 0] == 0).all()  # absent -> zero
        assert (x[_padding_mask(d.lengths[m.name], m.seq_len)] == 0).all()  # padding -> zero
        present = d.presence[:, i] > 0
        assert d.lengths[m.name][present].min() < m.seq_len  # some left padding
    train, test = set(d.groups[d.split == "train"]), set(d.groups[d.split == "test"])
    assert not train & test
    assert 0.15 < (d.split == "test").mean() < 0.25
    assert 8 <= len(d) / len(np.unique(d.groups)) <= 12
    assert (load_synthetic(200, missing_rate=0.0).presence == 1).all()


def _pooled(d: MultimodalDataset, x: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A fixed-size vector per sample: mean and std over valid steps, or a bag of words."""
    lengths = d.lengths[name][:, None].astype(np.float64)
    if name == "text":
        bags = np.zeros((len(d), 40))
        np.add.at(bags, (np.arange(len(d))[:, None].repeat(x[name].shape[1], 1), x[name]), 1.0)
        return bags[:, 1:] / lengths
    v = x[name].reshape(len(d), x[name].shape[1], -1).astype(np.float64)
    mean = v.sum(1) / lengths
    std = np.sqrt(np.maximum((v ** 2).sum(1) / lengths - mean ** 2, 0.0))
    return np.concatenate([mean, std], axis=1)


def _calibrated_log_probs(dist: np.ndarray, labels: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """log softmax(-dist / t), with the temperature t that fits the `fit` rows best."""
    best = None
    for t in np.geomspace(0.5, 200, 40):
        z = -dist / t
        z = z - z.max(1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(1, keepdims=True))
        likelihood = log_probs[fit, labels[fit]].mean()
        if best is None or likelihood > best[0]:
            best = (likelihood, log_probs)
    return best[1]


def test_synthetic_each_modality_shows_part_of_the_class_and_all_three_beat_every_pair(synthetic):
    """Audio shows the arousal, video the valence, text the class weakly; a nearest-centroid model
    per modality, fused by summing calibrated log-probabilities, is best with all three."""
    d = synthetic
    x = normalize(d, fit_normalization(d))
    train, test = d.split == "train", d.split == "test"
    all_present = test & (d.presence.sum(axis=1) == 3)
    log_probs = {}
    for i, name in enumerate(d.modality_names):
        feats = _pooled(d, x, name)
        present = d.presence[:, i] > 0
        mu, sd = feats[train & present].mean(0), feats[train & present].std(0) + 1e-6
        feats = (feats - mu) / sd
        centroids = np.stack([feats[train & present & (d.labels == k)].mean(0) for k in range(4)])
        dist = ((feats[:, None, :] - centroids[None]) ** 2).sum(-1)
        predicted, truth = dist.argmin(1)[test & present], d.labels[test & present]
        accuracy = {"class": (predicted == truth).mean(), "arousal": (AROUSAL[predicted] == AROUSAL[truth]).mean(),
                    "valence": (VALENCE[predicted] == VALENCE[truth]).mean()}
        if name == "audio":  # the arousal row, nothing about the valence
            assert accuracy["arousal"] > 0.75 and accuracy["valence"] < 0.62, (name, accuracy)
        elif name == "video":  # the valence column, nothing about the arousal
            assert accuracy["valence"] > 0.75 and accuracy["arousal"] < 0.62, (name, accuracy)
        else:  # the class, weakly
            assert 0.45 < accuracy["class"] < 0.8, (name, accuracy)
        log_probs[name] = _calibrated_log_probs(dist, d.labels, train & present)

    def fused(names) -> float:
        scores = sum(log_probs[n] for n in names)
        return (scores[all_present].argmax(1) == d.labels[all_present]).mean()

    pairs = {pair: fused(pair) for pair in itertools.combinations(d.modality_names, 2)}
    assert fused(d.modality_names) > max(pairs.values()) + 0.05, (fused(d.modality_names), pairs)


# ---------------------------------------------------------------- normalization
def test_normalization_keeps_padding_and_absent_at_zero(synthetic):
    d = synthetic
    specs = fit_normalization(d)
    assert len(specs[0].normalization.mean) == 12 and len(specs[1].normalization.mean) == 1
    assert specs[2].normalization.mean == []
    x = normalize(d, specs)
    for i, m in enumerate(specs):
        v = x[m.name].reshape(len(d), m.seq_len, -1)
        assert (v[_padding_mask(d.lengths[m.name], m.seq_len)] == 0).all()
        assert (v[d.presence[:, i] == 0] == 0).all()
    audio = x["audio"][(d.split == "train") & (d.presence[:, 0] > 0)]
    valid = ~_padding_mask(d.lengths["audio"][(d.split == "train") & (d.presence[:, 0] > 0)], 16)
    steps = audio[valid]
    assert np.allclose(steps.mean(0), 0, atol=1e-3) and np.allclose(steps.std(0), 1, atol=1e-2)


# ---------------------------------------------------------------- tokenizer
def test_tokenizer_build_encode_roundtrip():
    texts = ["Hello, world!", "hello there", "Don’t stop... hello"]
    tok = WordTokenizer.build(texts)
    assert tok.vocabulary[:4] == ["<pad>", "<unk>", "<sep>", "hello"]
    assert WordTokenizer.build(list(reversed(texts))).vocabulary == tok.vocabulary  # deterministic
    assert WordTokenizer.tokenize("Don’t stop…") == WordTokenizer.tokenize("don't stop...") == ["don't", "stop", "..."]
    ids, n = tok.encode("Hello there!", 6)
    assert ids.dtype == np.int64 and ids.shape == (6,) and n == 3
    assert list(ids[:3]) == [0, 0, 0] and tok.decode(ids) == ["hello", "there", "!"]
    ids, n = tok.encode("hello unseenword", 4)
    assert list(ids) == [0, 0, tok.index["hello"], UNK_ID] and n == 2
    ids, n = tok.encode("hello there hello world", 2)  # keeps the LAST tokens
    assert n == 2 and tok.decode(ids) == ["hello", "world"]
    assert tok.encode("", 3)[1] == 0 and not tok.encode("", 3)[0].any()
    again = WordTokenizer.from_vocabulary(list(tok.vocabulary))
    assert np.array_equal(again.encode("hello, world", 5)[0], tok.encode("hello, world", 5)[0])
    assert WordTokenizer.build(texts, min_count=2).vocabulary == ["<pad>", "<unk>", "<sep>", "hello"]
    assert len(WordTokenizer.build(texts, max_size=5)) == 5


def test_tokenizer_dialogue_and_errors():
    tok = WordTokenizer.build(["a b c d e"])
    ids, n = tok.encode_dialogue(["a b", "c"], "d e", 10)
    assert n == 7 and tok.decode(ids) == ["a", "b", "<sep>", "c", "<sep>", "d", "e"]
    ids, n = tok.encode_dialogue(["a b", "c"], "d e", 3)
    assert n == 3 and tok.decode(ids) == ["<sep>", "d", "e"]
    assert tok.encode_dialogue([], "a", 2)[0].tolist() == [0, tok.index["a"]]
    with pytest.raises(ValueError, match="str"):
        tok.encode(None, 4)
    with pytest.raises(ValueError, match="str"):
        tok.encode_dialogue(["a", 3], "b", 4)
    with pytest.raises(ValueError, match="<pad>"):
        WordTokenizer.from_vocabulary(["a", "b", "c"])


# ---------------------------------------------------------------- augment
def test_modality_dropout_keeps_one_present():
    g = torch.Generator().manual_seed(0)
    presence = (torch.rand(500, 3, generator=torch.Generator().manual_seed(1)) > 0.3).float()
    presence[presence.sum(1) == 0, 0] = 1.0
    before = presence.clone()
    for p in (0.3, 0.7, 1.0):
        out = modality_dropout(presence, p, g)
        assert torch.equal(presence, before)  # pure
        assert (out.sum(1) >= 1).all() and (out <= presence).all()
        assert out.sum() < presence.sum()
    assert (modality_dropout(presence, 1.0, g).sum(1) == 1).all()
    assert torch.equal(modality_dropout(presence, 0.0, g), presence)
    a = modality_dropout(presence, 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(a, modality_dropout(presence, 0.5, torch.Generator().manual_seed(3)))


def test_inject_noise_never_unpads(synthetic):
    d = synthetic.subset(np.arange(200))
    specs = fit_normalization(synthetic)
    inputs = {k: torch.from_numpy(v) for k, v in normalize(d, specs).items()}
    inputs["text"][:5, -3] = SEP_ID
    copies = {k: v.clone() for k, v in inputs.items()}
    out = inject_noise(inputs, specs, torch.Generator().manual_seed(0), p=1.0, word_drop=0.5, frame_drop=0.5)
    for k in inputs:
        assert torch.equal(inputs[k], copies[k])  # pure
        assert out[k].shape == inputs[k].shape and out[k].dtype == inputs[k].dtype
        assert not torch.equal(out[k], inputs[k])  # something changed
        zero = inputs[k] == 0
        assert (out[k][zero] == 0).all()  # padding stays padding
    changed = out["audio"] != inputs["audio"]
    assert (out["audio"][changed] == 0).all()  # masking only writes zeros
    frames = out["video"].flatten(2)
    assert ((frames == 0).all(-1) | (frames == inputs["video"].flatten(2)).all(-1)).all()  # whole frames
    text_changed = out["text"] != inputs["text"]
    assert (out["text"][text_changed] == UNK_ID).all()
    assert (out["text"][inputs["text"] != 0] != 0).all() and (out["text"][:5, -3] == SEP_ID).all()
    same = inject_noise(inputs, specs, torch.Generator().manual_seed(0), p=0.0)
    assert all(torch.equal(same[k], inputs[k]) for k in inputs)


# ---------------------------------------------------------------- npz
def test_npz_roundtrip(tmp_path, synthetic):
    d = synthetic.subset(np.arange(50))
    path = save_npz(d, tmp_path / "syn.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["syn.npz"]  # no temp file left
    e = load_npz(path)
    assert e.modalities == d.modalities and e.class_names == d.class_names and e.name == "synthetic"
    for k in d.modality_names:
        assert np.array_equal(e.inputs[k], d.inputs[k]) and e.inputs[k].dtype == d.inputs[k].dtype
        assert np.array_equal(e.lengths[k], d.lengths[k])
    for field in ("presence", "labels", "groups", "split"):
        assert np.array_equal(getattr(e, field), getattr(d, field))


def _plain_arrays(n=6):
    rng = np.random.default_rng(0)
    return dict(labels=np.arange(n) % 2, split=np.array(["train"] * 4 + ["test"] * (n - 4)),
                groups=np.array([f"s{i // 2}" for i in range(n)]), x_audio=rng.normal(size=(n, 5, 3)),
                lengths_audio=np.full(n, 4), x_words=rng.integers(0, 5, size=(n, 7)),
                vocab_words=np.array(["<pad>", "<unk>", "<sep>", "yes", "no"]),
                class_names=np.array(["neg", "pos"]), modality_names=np.array(["audio", "words"]),
                modality_kinds=np.array(["features", "tokens"]))


def test_npz_plain_numpy_file(tmp_path):
    np.savez(tmp_path / "mine.npz", **_plain_arrays())
    d = load_npz(tmp_path / "mine.npz")
    assert d.modality_names == ["audio", "words"] and d.name == "mine"
    assert d.modalities[0].feature_dim == 3 and d.modalities[1].vocabulary[3] == "yes"
    assert d.inputs["audio"].dtype == np.float32 and (d.lengths["words"] == 7).all()
    assert (d.presence == 1).all() and d.class_names == ["neg", "pos"]
    assert len(load_dataset("npz", tmp_path / "mine.npz")) == 6


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("labels"), "missing array 'labels'"),
    (lambda a: a.pop("x_audio"), "missing array 'x_audio'"),
    (lambda a: a.update(x_audio=np.zeros((6, 5))), r"'x_audio' has shape \(6, 5\).*\(N, T, F\)"),
    (lambda a: a.update(split=np.array(["train"] * 5 + ["dev"])), "'dev'"),
    (lambda a: a.update(lengths_audio=np.full(6, 9)), "lengths_audio"),
    (lambda a: a.update(presence=np.zeros((6, 2))), "no modality present"),
    (lambda a: a.update(presence=np.ones((6, 3))), r"'presence' has shape \(6, 3\), expected \(6, 2\)"),
    (lambda a: a.update(labels=np.arange(6)), "labels"),
    (lambda a: a.update(x_words=np.full((6, 7), 9)), "x_words"),
    (lambda a: a.update(groups=np.array(["g"] * 6, dtype=object)), "object arrays"),
])
def test_npz_errors_name_the_array(tmp_path, change, message):
    arrays = _plain_arrays()
    change(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=message):
        load_npz(tmp_path / "bad.npz")


# ---------------------------------------------------------------- load_dataset
def test_load_dataset_names_and_missing_data(tmp_path, monkeypatch):
    assert DATASETS == ("synthetic", "synthetic_live", "mosi", "meld", "npz", "ravdess_speech", "fer2013", "goemotions",
                        "isear", "live")
    assert len(load_dataset("synthetic", n_samples=100)) == 100
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="--data"):
        load_dataset("npz")
    monkeypatch.setenv("EMOEDGE_DATA", str(tmp_path))
    assert default_data_path("mosi") is None
    with pytest.raises(FileNotFoundError, match="EMOEDGE_DATA") as err:
        load_dataset("mosi")
    assert str(tmp_path / "mosi") in str(err.value) and "--data" in str(err.value)
    (tmp_path / "meld").mkdir()
    assert default_data_path("meld") == tmp_path / "meld"
    with pytest.raises(FileNotFoundError, match="train_sent_emo.csv"):
        load_dataset("meld")
    with pytest.raises(FileNotFoundError, match="transcripts.csv"):
        load_dataset("mosi", path=tmp_path / "meld")


# ---------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def mosi_dir() -> Path:
    path = default_data_path("mosi")
    if path is None:
        unavailable("MOSI data not found (set EMOEDGE_DATA or provide ../shared/datasets/mosi)")
    return path


@pytest.fixture(scope="module")
def meld_dir() -> Path:
    path = default_data_path("meld")
    if path is None:
        unavailable("MELD data not found (set EMOEDGE_DATA or provide ../shared/datasets/meld)")
    return path


@pytest.fixture(scope="module")
def mosi(mosi_dir):
    start = time.perf_counter()
    d = load_dataset("mosi", mosi_dir)
    print(f"load_mosi: {time.perf_counter() - start:.2f} s")
    return d


@pytest.mark.data
def test_mosi_counts_and_split(mosi):
    d = mosi
    assert d.modality_names == ["audio", "video", "text"] and d.class_names == ["negative", "positive"]
    assert [m.feature_dim for m in d.modalities] == [73, 100, 100] and all(m.seq_len == 7 for m in d.modalities)
    train, test = d.part("train"), d.part("test")
    assert (len(train), len(test)) == (1447, 752)
    assert (len(np.unique(train.groups)), len(np.unique(test.groups))) == (62, 31)
    assert not set(train.groups) & set(test.groups)
    assert np.bincount(train.labels).tolist() == [738, 709] and np.bincount(test.labels).tolist() == [285, 467]
    assert (d.presence == 1).all()


@pytest.mark.data
def test_mosi_context_windows_follow_the_video(mosi, mosi_dir):
    """Rebuild every window from transcripts.csv and the raw text features."""
    d = mosi
    with open(mosi_dir / "transcripts.csv", newline="") as f:
        transcripts = list(csv.reader(f))
    features, utterance_of = {}, []
    for split in ("train", "test"):
        with open(mosi_dir / f"text_{split}.csv", newline="") as f:
            for row in csv.reader(f):
                utt_id, _, _, label = transcripts[int(row[0])]
                video, _, n = utt_id.rpartition("_")
                features[video, int(n)] = np.array(row[1:], np.float32)
                utterance_of.append((video, int(n), int(label)))
    assert len(utterance_of) == len(d)
    for i, (video, n, label) in enumerate(utterance_of):
        assert d.groups[i] == video and d.labels[i] == label
        length = d.lengths["text"][i]
        assert length == min(n, 7)  # positions start at 1 and have no gaps
        assert (d.lengths["audio"][i], d.lengths["video"][i]) == (length, length)
        for step in range(length):
            expected = features[video, n - (length - 1 - step)]
            assert np.allclose(d.inputs["text"][i, 7 - length + step], expected, atol=1e-6)
        assert not d.inputs["audio"][i, : 7 - length].any() and not d.inputs["text"][i, : 7 - length].any()
    assert load_dataset("mosi", mosi_dir.parent, context=0).inputs["audio"].shape == (2199, 1, 73)


@pytest.mark.data
def test_mosi_missing_file_is_named(mosi_dir, tmp_path):
    for f in mosi_dir.iterdir():
        if f.name != "video_test0.csv":
            (tmp_path / f.name).symlink_to(f)
    with pytest.raises(FileNotFoundError, match="video_test0.csv.*transcripts.csv"):
        load_dataset("mosi", tmp_path)


@pytest.mark.data
def test_mosi_malformed_file_is_named(mosi_dir, tmp_path):
    for f in mosi_dir.iterdir():
        if f.name != "audio_test0.csv":
            (tmp_path / f.name).symlink_to(f)
    (tmp_path / "audio_test0.csv").write_text('"1.0","2.0","0"\n')
    with pytest.raises(ValueError, match=r"audio_test0.csv: row 1 has 3 columns, expected 74"):
        load_dataset("mosi", tmp_path)


@pytest.mark.data
def test_meld_counts_context_and_vocabulary(meld_dir):
    start = time.perf_counter()
    d = load_dataset("meld", meld_dir)
    print(f"load_meld: {time.perf_counter() - start:.2f} s")
    text = d.modalities[0]
    assert d.modality_names == ["text"] and text.seq_len == 60
    assert d.class_names == ["neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear"]
    assert [(d.split == s).sum() for s in ("train", "val", "test")] == [9989, 1109, 2610]
    assert all(g.startswith(f"{s}:") for g, s in zip(d.groups, d.split))
    tok = WordTokenizer.from_vocabulary(text.vocabulary)
    assert "must've" in tok.index and "’" not in "".join(tok.vocabulary)

    rows = {}
    train_tokens = set()
    for prefix, split in (("train", "train"), ("dev", "val"), ("test", "test")):
        with open(meld_dir / f"{prefix}_sent_emo.csv", newline="", encoding="utf-8") as f:
            rows[split] = list(csv.DictReader(f))
        if split == "train":
            for r in rows[split]:
                train_tokens.update(tok.tokenize(r["Utterance"]))
    assert set(text.vocabulary[3:]) <= train_tokens  # built from train only

    offset = 0
    for split in ("train", "val", "test"):
        dialogues = defaultdict(list)
        for r in rows[split]:
            dialogues[r["Dialogue_ID"]].append(r)
        for i, r in enumerate(rows[split]):
            j = offset + i
            assert d.labels[j] == d.class_names.index(r["Emotion"]) and d.groups[j] == f"{split}:{r['Dialogue_ID']}"
            same = sorted(dialogues[r["Dialogue_ID"]], key=lambda u: int(u["Utterance_ID"]))
            earlier = [u["Utterance"] for u in same if int(u["Utterance_ID"]) < int(r["Utterance_ID"])][-3:]
            ids, n = tok.encode_dialogue(earlier, r["Utterance"], 60)
            assert np.array_equal(d.inputs["text"][j], ids) and d.lengths["text"][j] == n
            assert (d.inputs["text"][j] == SEP_ID).sum() <= 3
        offset += len(rows[split])


def test_validation_from_test_groups_is_disjoint_and_seeded(synthetic):
    dataset = synthetic
    carved = dataset.with_validation(0.5, seed=3, source="test")
    test_groups = set(dataset.groups[dataset.split == "test"])
    val = set(carved.groups[carved.split == "val"])
    rest = set(carved.groups[carved.split == "test"])
    assert val and rest and not (val & rest) and val | rest == test_groups
    assert (carved.split == "train").sum() == (dataset.split == "train").sum()  # train untouched
    again = dataset.with_validation(0.5, seed=3, source="test")
    assert (again.split == carved.split).all()
    with pytest.raises(ValueError, match="'train' or 'test'"):
        dataset.with_validation(source="dev")


def test_sample_cli_writes_the_raw_valid_steps_predict_takes(tmp_path, capsys):
    from sdk.data.sample import main

    d = load_synthetic()  # what --dataset synthetic loads
    test = d.part("test")
    index = int(np.flatnonzero(test.presence.sum(axis=1) < 3)[0])  # a sample with an absent modality
    assert main(["--dataset", "synthetic", "--index", str(index), "--out", str(tmp_path)]) == 0
    description = json.loads((tmp_path / "sample.json").read_text())
    assert description["label"] == d.class_names[test.labels[index]]
    for j, m in enumerate(d.modalities):
        file = tmp_path / f"{m.name}.npy"
        assert file.is_file() == bool(test.presence[index, j]) == (m.name in description["files"])
        if file.is_file():
            length = int(test.lengths[m.name][index])
            assert np.array_equal(np.load(file), test.inputs[m.name][index, m.seq_len - length:])
    assert main(["--dataset", "synthetic", "--index", "100000", "--out", str(tmp_path / "x")]) == 2
    assert "outside the test split" in capsys.readouterr().err
