"""The `live` recipe: one model on what a phone has (16 kHz speech, 48x48 face crops, typed text).

No dataset records the same people in all three modalities, so tri-modal samples are
formed by cross-dataset pairing by label ("Lightweight Multimodal Emotion Recognition Using Cross-Dataset Feature Fusion of Text and Facial Expressions", `sdk.data.pairing.draw_partners`)
over the shared 7 emotions (sdk.data.emotions):

    audio  RAVDESS speech (sdk.data.ravdess), waveform, 3 s at 16 kHz
    video  FER2013 face crops (sdk.data.fer2013), frames, T = 1, 1x48x48, 0..255
    text   GoEmotions-Ekman single-label comments + ISEAR reports (sdk.data.goemotions,
           sdk.data.isear), tokens, one vocabulary learned from both train parts.
           MELD is not used: its utterances are dialogue transcripts with their own
           benchmark (`--dataset meld`), and GoEmotions + ISEAR already cover all 7 classes.

Memory: a 3 s waveform is 192 KB, so tens of thousands of paired rows are never
materialised. Each source is loaded once (about 400 MB in all); a split is a table of
row indices into the sources (-1 = absent), and a batch is gathered, augmented and
normalised when it is drawn (`IndexedSplit`).

Training (`TrainStream`): every epoch is `rows_per_epoch` tri-modal rows, re-paired
from scratch each epoch with a `numpy.random.default_rng((seed, epoch))` stream: a
third of the rows are anchored on RAVDESS training clips (drawn uniformly), a third
on FER2013 Training images and a third on text training rows (each walking through
its own seeded permutation, so all images and sentences are used across epochs);
each anchor gets partners of the other two modalities with the same label from
their training parts (`draw_partners`). Modality dropout in `sdk.training.fit`
(`TrainConfig.modality_dropout`) then hides modalities so every subset is trained.
Training-time augmentation: audio gain (+-6 dB), a random sub-span (up to 15 % cut
at each end), optionally speed perturbation (option `speed_perturb`: the clip resampled
by a factor drawn from [1 - s, 1 + s], which moves tempo and pitch together as in Ko et al.,
"Audio Augmentation for Speech Recognition", Interspeech 2015) and noise at 20-40 dB SNR;
faces flipped left-right with p = 0.5 and shifted up to 4 px.

With option `keep_anchor`, modality dropout never hides a row's anchor
(`SplitTensors.keep`), so a row left with one modality is always an anchor row: the
fused model's audio-only rows follow RAVDESS's class distribution, its video-only rows
FER2013's and its text-only rows the text sets', as at test time. Without it, two thirds
of the video-only rows are label-matched partners of audio and text anchors, whose class
mix differs from FER2013's.

Validation (selection only; never a test part): RAVDESS actors 17-18 (audio alone),
a seeded 400 of FER2013 PublicTest (video alone), a seeded 400 of the text val parts
(GoEmotions dev, ISEAR's validation respondents; text alone) and a paired part anchored
on the RAVDESS validation clips (`repeats` partners each).

The evaluation protocol is `PROTOCOL` (printed by `python -m sdk.train --dataset live`
and stored in metrics.json); `evaluate_protocol` measures it.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sdk.data.dataset import MultimodalDataset, fit_normalization, normalize
from sdk.data.emotions import EMOTIONS, WAVEFORM, token_dataset
from sdk.data.pairing import draw_partners
from sdk.metrics import classification_metrics

MODALITIES = ("audio", "video", "text")
#: Defaults of the loader options (all stored in the checkpoint's data_options).
DEFAULT_OPTIONS = {
    "window_s": 3.0,
    "max_tokens": 48,
    "rows_per_epoch": 4500,
    "test_repeats": 3,
    "val_unimodal": 400,
    "seed": 0,
    "audio_encoder": "",  # "" (1-D convs over the mel bands) or "mel2d" (sdk.layers.MelConv2dEncoder)
    "speed_perturb": 0.0,  # training audio resampled by a factor in [1 - s, 1 + s] (0 = off)
    "keep_anchor": False,  # modality dropout never hides a row's anchor (unimodal rows keep their set's prior)
}

PROTOCOL = """\
Evaluation protocol (fixed before training; the test parts are never used to train or select):
  speech  RAVDESS actors 19-24 (360 clips, 7 classes, calm -> neutral), audio alone; training uses
          actors 1-16, selection actors 17-18.
  faces   FER2013 PrivateTest (3,589 images), video alone; selection may use PublicTest.
  text    GoEmotions-Ekman test: accuracy on the single-label comments, macro F1 over all comments
          (multi-label ones: a prediction among the comment's labels counts as correct); ISEAR: the
          seeded 20 % respondent hold-out (numpy default_rng(0)), accuracy. Text alone.
  paired  tri-modal test built only from those test parts: every RAVDESS test clip x {test_repeats}
          with a FER2013 PrivateTest face and a test sentence of the same label (default_rng(seed)).
  subsets all 7 modality subsets of the paired test through the one model, with mean gate weights
          (an absent modality's gate weight is exactly 0)."""


# ----------------------------------------------------------------------------- sources
@dataclass
class LiveSources:
    """The four sources, loaded once; one single-modality dataset per model modality."""

    pools: dict[str, MultimodalDataset]
    #: per text row: "goemotions" or "isear"
    text_source: np.ndarray
    #: GoEmotions-Ekman test, every comment (multi-label included): tokenized dataset + label sets
    goemotions_all: MultimodalDataset
    goemotions_label_sets: list[list[int]]


def load_sources(path=None, window_s: float = 3.0, max_tokens: int = 48, vocabulary: list[str] | None = None,
                 min_count: int = 2, max_vocab: int = 20000) -> LiveSources:
    """RAVDESS, FER2013, GoEmotions and ISEAR from the data root (or `path`, holding all four)."""
    from sdk.data import resolve_directory
    from sdk.data.fer2013 import load_fer2013
    from sdk.data.goemotions import goemotions_records, read_goemotions
    from sdk.data.isear import read_isear
    from sdk.data.ravdess import load_ravdess
    from sdk.tokenizer import WordTokenizer

    audio = load_ravdess(resolve_directory("ravdess_speech", path), window_s=window_s)
    video = load_fer2013(resolve_directory("fer2013", path))
    goe_dir = resolve_directory("goemotions", path)
    records = goemotions_records(goe_dir)
    isear = read_isear(resolve_directory("isear", path))
    sources = np.array(["goemotions"] * len(records) + ["isear"] * len(isear))
    records = records + isear
    if vocabulary is None:
        tokenizer = WordTokenizer.build((r["text"] for r in records if r["split"] == "train"),
                                        min_count=min_count, max_size=max_vocab)
    else:
        tokenizer = WordTokenizer.from_vocabulary(vocabulary)
    text = token_dataset(records, "goemotions+isear", max_tokens, tokenizer=tokenizer)
    every = read_goemotions(goe_dir, "test")
    all_records = [{"text": r["text"], "label": r["labels"][0], "group": r["group"], "split": "test"} for r in every]
    goemotions_all = token_dataset(all_records, "goemotions_all", max_tokens, tokenizer=tokenizer)
    return LiveSources({"audio": audio, "video": video, "text": text}, sources, goemotions_all,
                       [r["labels"] for r in every])


# ----------------------------------------------------------------------------- indexed splits
@dataclass
class IndexedSplit:
    """A split as index rows into single-modality pools; batches are gathered on demand.

    Quacks like `sdk.training.SplitTensors` for `fit` and `predict`: `len`, `labels`,
    `presence` and `batch(index) -> SplitTensors` (materialised, normalised with the spec).
    `index` is (N, M) int64 in `modality_names` order, -1 where a modality is absent.
    """

    pools: dict[str, MultimodalDataset]
    modalities: list  # ModalitySpec, spec order
    index: np.ndarray
    label_array: np.ndarray
    parts: np.ndarray  # (N,) str: which protocol part a row belongs to
    augment: "Augmenter | None" = None

    def __post_init__(self):
        self.labels = torch.from_numpy(self.label_array.astype(np.int64))
        self.presence = torch.from_numpy((self.index >= 0).astype(np.float32))

    def __len__(self) -> int:
        return len(self.label_array)

    def select(self, rows: np.ndarray) -> "IndexedSplit":
        return dataclasses.replace(self, index=self.index[rows], label_array=self.label_array[rows],
                                   parts=self.parts[rows])

    def only(self, names: tuple[str, ...]) -> "IndexedSplit":
        """The rows with at least one of `names`, with the other modalities marked absent."""
        index = self.index.copy()
        for j, m in enumerate(self.modalities):
            if m.name not in names:
                index[:, j] = -1
        rows = (index >= 0).any(axis=1)
        return dataclasses.replace(self, index=index[rows], label_array=self.label_array[rows], parts=self.parts[rows])

    def batch(self, rows) -> "SplitTensors":
        from sdk.training import SplitTensors

        rows = np.asarray(rows.numpy() if isinstance(rows, torch.Tensor) else rows)
        index = self.index[rows]
        inputs = []
        for j, m in enumerate(self.modalities):
            present = index[:, j] >= 0
            x = np.zeros((len(rows), *m.input_shape()), np.int64 if m.kind == "tokens" else np.float32)
            if present.any():
                source = self.pools[m.name].subset(index[present, j])
                if self.augment is not None:
                    source = self.augment(m, source)
                x[present] = normalize(source, [m])[m.name]
            inputs.append(torch.from_numpy(x))
        return SplitTensors(inputs, self.presence[rows], self.labels[rows])

    def materialize(self) -> "SplitTensors":
        """Every row at once (for bounded splits: export, the generic subset table)."""
        return self.batch(np.arange(len(self)))


class Augmenter:
    """Training-time augmentation of raw source samples (see the module docstring); seeded."""

    def __init__(self, seed: int, speed_perturb: float = 0.0):
        self.rng = np.random.default_rng(seed)
        self.speed_perturb = float(speed_perturb)

    def __call__(self, m, source: MultimodalDataset) -> MultimodalDataset:
        x = source.inputs[m.name]
        if m.kind == WAVEFORM:
            x, lengths = self.waveform(x, source.lengths[m.name])
            return dataclasses.replace(source, inputs={m.name: x}, lengths={m.name: lengths})
        if m.kind == "frames":
            return dataclasses.replace(source, inputs={m.name: self.frames(x)})
        return source

    def waveform(self, x: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = np.zeros_like(x, dtype=np.float32)
        new_lengths = lengths.copy()
        window = x.shape[1]
        for i, n in enumerate(lengths):
            n = int(n)
            seg = x[i, window - n:].astype(np.float32)
            cut = int(0.15 * n)
            a = int(self.rng.integers(0, cut + 1))
            b = n - int(self.rng.integers(0, cut + 1))
            seg = seg[a:b] * np.float32(10 ** (self.rng.uniform(-6, 6) / 20))
            if self.speed_perturb > 0 and len(seg) > 1:
                seg = self.resample(seg, self.rng.uniform(1 - self.speed_perturb, 1 + self.speed_perturb), window)
            power = float(np.mean(seg ** 2)) if len(seg) else 0.0
            if power > 0:
                snr = self.rng.uniform(20, 40)
                seg = seg + self.rng.normal(0, np.sqrt(power / 10 ** (snr / 10)), len(seg)).astype(np.float32)
            seg = np.clip(seg, -1, 1)
            out[i, window - len(seg):] = seg
            new_lengths[i] = len(seg)
        return out, new_lengths

    @staticmethod
    def resample(seg: np.ndarray, factor: float, window: int) -> np.ndarray:
        """`seg` played `factor` times faster (linear interpolation), at most `window` samples (its start kept)."""
        positions = np.arange(0.0, len(seg) - 1, factor)[:window]
        return np.interp(positions, np.arange(len(seg)), seg).astype(np.float32)

    def frames(self, x: np.ndarray) -> np.ndarray:
        x = x.copy()
        flip = self.rng.random(len(x)) < 0.5
        x[flip] = x[flip][..., ::-1]
        h, w = x.shape[-2:]
        for i in range(len(x)):
            dy, dx = self.rng.integers(-4, 5, size=2)
            shifted = np.zeros_like(x[i])
            ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
            xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
            shifted[..., yd, xd] = x[i][..., ys, xs]
            x[i] = shifted
        return x


class TrainStream(IndexedSplit):
    """The training split: `rows` tri-modal rows per epoch, re-paired by label every epoch.

    `fit` draws a permutation of range(len) each epoch and asks for batches; a new
    epoch table (anchors + partners, module docstring) is drawn once every `len`
    rows served, so each epoch sees a fresh pairing.
    """

    def __init__(self, pools, modalities, rows: int, seed: int, anchors: tuple[str, ...] | None = None,
                 speed_perturb: float = 0.0, keep_anchor: bool = False):
        self.pools, self.modalities = pools, modalities
        self.keep_anchor = keep_anchor
        self.seed = seed
        self.rows = rows
        self.anchor_names = tuple(anchors or [m.name for m in modalities])
        self.epoch = -1
        self.served = 0
        self._orders: dict[str, np.ndarray] = {}
        self._cursor: dict[str, int] = {}
        super().__init__(pools, modalities, *self._table(0), augment=Augmenter(seed + 1, speed_perturb))
        self.epoch = 0

    def _walk(self, name: str, rng: np.random.Generator, count: int) -> np.ndarray:
        """The next `count` training rows of source `name` along its seeded permutation (wrapping)."""
        train_rows = np.flatnonzero(self.pools[name].split == "train")
        out = []
        while count > 0:
            if name not in self._orders or self._cursor[name] >= len(train_rows):
                self._orders[name] = train_rows[rng.permutation(len(train_rows))]
                self._cursor[name] = 0
            take = self._orders[name][self._cursor[name]: self._cursor[name] + count]
            self._cursor[name] += len(take)
            count -= len(take)
            out.append(take)
        return np.concatenate(out)

    def _table(self, epoch: int):
        rng = np.random.default_rng((self.seed, epoch))
        names = [m.name for m in self.modalities]
        share = np.full(len(self.anchor_names), self.rows // len(self.anchor_names))
        share[: self.rows - share.sum()] += 1
        index_parts, labels, parts = [], [], []
        for anchor, count in zip(self.anchor_names, share):
            pool = self.pools[anchor]
            if anchor == "audio":  # 960 clips: uniform draws, each clip about rows/3/960 times an epoch
                train_rows = np.flatnonzero(pool.split == "train")
                picked = train_rows[rng.integers(len(train_rows), size=count)]
            else:
                picked = self._walk(anchor, rng, count)
            index = np.full((count, len(names)), -1)
            index[:, names.index(anchor)] = picked
            anchor_labels = pool.labels[picked]
            for j, name in enumerate(names):
                if name == anchor:
                    continue
                other = self.pools[name]
                index[:, j] = draw_partners(_names(anchor_labels), np.full(count, "train"), _names(other.labels),
                                            other.split, rng, other_name=name)
            index_parts.append(index)
            labels.append(anchor_labels)
            parts.append(np.full(count, f"anchor:{anchor}"))
        return np.concatenate(index_parts), np.concatenate(labels), np.concatenate(parts)

    def batch(self, rows):
        if self.served >= len(self):  # a new epoch: re-pair
            self.epoch += 1
            self.served = 0
            self.index, self.label_array, self.parts = self._table(self.epoch)
            self.__post_init__()
        self.served += len(rows)
        tensors = super().batch(rows)
        if self.keep_anchor:
            names = [m.name for m in self.modalities]
            anchors = [p.split(":", 1)[1] for p in self.parts[np.asarray(rows)]]
            keep = np.zeros((len(anchors), len(names)), bool)
            keep[np.arange(len(anchors)), [names.index(a) for a in anchors]] = True
            tensors.keep = torch.from_numpy(keep)
        return tensors


# ----------------------------------------------------------------------------- the live data
@dataclass
class LiveData:
    """The live recipe's data: sources, modality specs and the train / val / test index splits."""

    sources: LiveSources
    modalities: list
    options: dict
    splits: dict[str, IndexedSplit] = field(default_factory=dict)
    name: str = "live"
    class_names: list[str] = field(default_factory=lambda: list(EMOTIONS))

    @property
    def modality_names(self) -> list[str]:
        return [m.name for m in self.modalities]

    def part(self, name: str, modality: str) -> IndexedSplit:
        """Protocol part `name` of a single source (e.g. the RAVDESS test clips), that modality alone."""
        return _unimodal(self.sources.pools, self.modalities, modality, self.sources.pools[modality].split == name,
                         f"{modality}:{name}")

    def materialized(self, train_rows: int = 256) -> dict:
        """SplitTensors for export / generic tools: a train sample, val, and the paired test (bounded)."""
        train = self.splits["train"]
        return {"train": IndexedSplit(train.pools, train.modalities, train.index[:train_rows],
                                      train.label_array[:train_rows], train.parts[:train_rows]).materialize(),
                "val": self.splits["val"].materialize(),
                "test": self.splits["test"].materialize()}


def _names(labels: np.ndarray) -> np.ndarray:
    """Class names of label indices (pairing matches labels by name)."""
    return np.asarray(EMOTIONS)[labels]


def _unimodal(pools, modalities, name: str, rows: np.ndarray, part: str) -> IndexedSplit:
    names = [m.name for m in modalities]
    picked = np.flatnonzero(rows)
    index = np.full((len(picked), len(names)), -1)
    index[:, names.index(name)] = picked
    return IndexedSplit(pools, modalities, index, pools[name].labels[picked], np.full(len(picked), part))


def _paired(pools, modalities, split: str, repeats: int, rng: np.random.Generator) -> IndexedSplit:
    """Every `split` clip of the audio pool x `repeats`, with same-label, same-split partners."""
    names = [m.name for m in modalities]
    anchor = "audio" if "audio" in names else names[0]
    clips = np.repeat(np.flatnonzero(pools[anchor].split == split), repeats)
    index = np.full((len(clips), len(names)), -1)
    index[:, names.index(anchor)] = clips
    labels = pools[anchor].labels[clips]
    for j, name in enumerate(names):
        if name != anchor:
            index[:, j] = draw_partners(_names(labels), np.full(len(clips), split), _names(pools[name].labels),
                                        pools[name].split, rng, other_name=name)
    return IndexedSplit(pools, modalities, index, labels, np.full(len(clips), f"paired:{split}"))


def build_live(sources: LiveSources, options: dict, modality_names: tuple[str, ...] = MODALITIES,
               modalities: list | None = None) -> LiveData:
    """The splits of the live recipe (module docstring) over the given modalities (a subset for 'trained alone')."""
    options = {**DEFAULT_OPTIONS, **options}
    if modalities is None:
        fitted = {}
        for name in modality_names:
            (fitted[name],) = fit_normalization(sources.pools[name])
            if fitted[name].kind == WAVEFORM and options["audio_encoder"]:
                fitted[name] = dataclasses.replace(fitted[name], encoder=options["audio_encoder"])
                fitted[name].validate()
        modalities = [fitted[n] for n in modality_names]
    pools = {m.name: sources.pools[m.name] for m in modalities}
    seed = int(options["seed"])
    train = TrainStream(pools, modalities, int(options["rows_per_epoch"]), seed,
                        speed_perturb=float(options["speed_perturb"]), keep_anchor=bool(options["keep_anchor"]))
    rng = np.random.default_rng((seed, 1_000_000))
    val_parts = []
    for name in pools:
        rows = pools[name].split == "val"
        k = int(options["val_unimodal"])
        if name != "audio" and rows.sum() > k:
            keep = rng.choice(np.flatnonzero(rows), size=k, replace=False)
            rows = np.zeros_like(rows)
            rows[keep] = True
        val_parts.append(_unimodal(pools, modalities, name, rows, f"{name}:val"))
    test_rng = np.random.default_rng((seed, 2_000_000))
    if len(pools) > 1:
        val_parts.append(_paired(pools, modalities, "val", int(options["test_repeats"]), rng))
        test = _paired(pools, modalities, "test", int(options["test_repeats"]), test_rng)
    else:
        (name,) = pools
        test = _unimodal(pools, modalities, name, pools[name].split == "test", f"{name}:test")
    val = _concat(val_parts)
    return LiveData(sources, modalities, options, {"train": train, "val": val, "test": test})


def _concat(parts: list[IndexedSplit]) -> IndexedSplit:
    first = parts[0]
    return IndexedSplit(first.pools, first.modalities, np.concatenate([p.index for p in parts]),
                        np.concatenate([p.label_array for p in parts]), np.concatenate([p.parts for p in parts]))


def load_live(path=None, modalities: list | tuple | None = None, vocabulary: list[str] | None = None,
              **options) -> LiveData:
    """`load_dataset("live")`: the sources and splits (options: DEFAULT_OPTIONS; `modalities` a subset)."""
    unknown = set(options) - set(DEFAULT_OPTIONS)
    if unknown:
        raise ValueError(f"unknown live option(s) {sorted(unknown)}; choose from {sorted(DEFAULT_OPTIONS)}")
    options = {**DEFAULT_OPTIONS, **options}
    names = tuple(modalities or MODALITIES)
    bad = set(names) - set(MODALITIES)
    if bad:
        raise ValueError(f"unknown live modalities {sorted(bad)}; choose from {MODALITIES}")
    sources = load_sources(path, window_s=float(options["window_s"]), max_tokens=int(options["max_tokens"]),
                           vocabulary=vocabulary)
    return build_live(sources, options, names)


# ----------------------------------------------------------------------------- protocol
def evaluate_protocol(model, data: LiveData, batch_size: int = 128) -> dict:
    """Every part of PROTOCOL that the model's modalities allow (unimodal parts, paired subsets)."""
    from sdk.data.goemotions import multilabel_macro_f1
    from sdk.evaluate import modality_subsets
    from sdk.spec import subset_name
    from sdk.training import predict

    names = data.modality_names
    out: dict = {"unimodal": {}}
    sources = data.sources
    text_source = sources.text_source
    for name in names:
        part = data.part("test", name)
        probs, gates = predict(model, part, batch_size)
        predictions = probs.argmax(1)
        if name == "text":
            pools = {"goemotions": text_source[part.index[:, names.index("text")]] == "goemotions"}
            pools["isear"] = ~pools["goemotions"]
            own = {"goemotions": ("goemotions",), "isear": ("isear",)}.get(model.spec.dataset, tuple(pools))
            for source, rows in pools.items():
                if source not in own:  # a model trained on one text set alone is measured on that set
                    continue
                out["unimodal"][source] = {**classification_metrics(part.label_array[rows], predictions[rows]),
                                           "samples": int(rows.sum())}
            if "goemotions" not in own:
                continue
            every = IndexedSplit({"text": sources.goemotions_all}, data.modalities,
                                 _only_column(len(sources.goemotions_all), names, "text"),
                                 sources.goemotions_all.labels, np.full(len(sources.goemotions_all), "goemotions_all"))
            probs_all, _ = predict(model, _with_pools(every, data), batch_size)
            out["unimodal"]["goemotions"]["macro_f1_all_rows"] = multilabel_macro_f1(
                sources.goemotions_label_sets, probs_all.argmax(1))
            out["unimodal"]["goemotions"]["samples_all_rows"] = len(sources.goemotions_all)
        else:
            key = {"audio": "ravdess_speech", "video": "fer2013"}[name]
            out["unimodal"][key] = {**classification_metrics(part.label_array, predictions), "samples": len(part)}
    if len(names) > 1:
        paired = data.splits["test"]
        table = {}
        for subset in modality_subsets(names):
            part = paired.only(subset)
            probs, gates = predict(model, part, batch_size)
            table[subset_name(subset)] = {
                **classification_metrics(part.label_array, probs.argmax(1)),
                "samples": len(part),
                "gate_weights": {n: float(gates[:, i].mean()) for i, n in enumerate(names)},
            }
        out["paired_subsets"] = table
    return out


def _only_column(n: int, names: list[str], name: str) -> np.ndarray:
    index = np.full((n, len(names)), -1)
    index[:, names.index(name)] = np.arange(n)
    return index


def _with_pools(split: IndexedSplit, data: LiveData) -> IndexedSplit:
    pools = dict(data.sources.pools)
    pools.update(split.pools)
    return dataclasses.replace(split, pools={m.name: pools[m.name] for m in data.modalities})


def format_protocol(results: dict) -> str:
    """The protocol results as text: unimodal rows, then the paired subset table."""
    lines = [f"{'unimodal test part':<16} {'n':>6} {'acc':>7} {'macroF1':>8}"]
    for name, r in results["unimodal"].items():
        extra = f"  (macro F1 over all {r['samples_all_rows']} comments: {r['macro_f1_all_rows']:.4f})" \
            if "macro_f1_all_rows" in r else ""
        lines.append(f"{name:<16} {r['samples']:>6} {r['accuracy']:>7.4f} {r['macro_f1']:>8.4f}{extra}")
    if "paired_subsets" in results:
        from sdk.evaluate import format_table

        table = results["paired_subsets"]
        names = list(next(iter(table.values()))["gate_weights"])
        lines += ["", "paired tri-modal test, every modality subset:", format_table(table, names)]
    return "\n".join(lines)


def checkpoint_live_data(model, payload: dict, data_path=None) -> LiveData:
    """The LiveData of a checkpoint trained on `live` or on one of its sources (ravdess_speech, fer2013,
    goemotions, isear: same modality names), with the checkpoint's options, window, token length and vocabulary."""
    spec = model.spec
    options = {k: v for k, v in payload.get("data_options", {}).items() if k in DEFAULT_OPTIONS}
    by_name = {m.name: m for m in spec.modalities}
    window_s = by_name["audio"].seq_len / by_name["audio"].sample_rate if "audio" in by_name else 3.0
    max_tokens = by_name["text"].seq_len if "text" in by_name else DEFAULT_OPTIONS["max_tokens"]
    sources = load_sources(data_path, window_s=window_s, max_tokens=max_tokens,
                           vocabulary=by_name["text"].vocabulary if "text" in by_name else None)
    return build_live(sources, options, tuple(spec.modality_names), modalities=list(spec.modalities))


# ----------------------------------------------------------------------------- the one command
def train_live(data: LiveData, out: Path | None, config, progress: bool = True, encoders_from: dict | None = None,
               freeze_encoders=False, **spec_options) -> tuple:
    """Train one model on `data` with `config` (sdk.training.fit), evaluate the protocol, write `out`.

    `encoders_from` ({modality: run dir}) starts those encoders from single-modality models
    (stage-wise training, sdk.encoder_init), frozen with `freeze_encoders` (True: all of them; or a set of
    names, the other copied encoders then fine-tune with the fusion layers). With `config.distill > 0` the
    frozen encoders' single-modality models also teach their one-modality rows (sdk.encoder_init.ModalityTeachers).
    Returns (model, metrics); `train_seconds` counts fit alone (data loading and evaluation excluded).
    """
    from sdk.encoder_init import EncoderInitError, ModalityTeachers, copy_encoders, frozen_names

    from sdk.checkpoint import save_checkpoint, write_json
    from sdk.metrics import confusion
    from sdk.model import build_model, count_parameters
    from sdk.plots import plot_confusion, plot_training_curves
    from sdk.spec import ModelSpec
    from sdk.training import evaluate_split, fit, predict

    torch.manual_seed(config.seed)
    spec = ModelSpec(modalities=list(data.modalities), class_names=list(EMOTIONS), dataset="live",
                     **spec_options).validate()
    model = build_model(spec)
    initialised = copy_encoders(model, encoders_from or {}, freeze=freeze_encoders)
    teacher = None
    if config.distill > 0:  # the frozen encoders' own models teach; a fine-tuned encoder is meant to outgrow its
        frozen = frozen_names(freeze_encoders, encoders_from or {})
        if not frozen:
            raise EncoderInitError("--distill on the live set distils the single-modality models of the frozen "
                                   "encoders: add --encoders-from audio=RUN,video=RUN,text=RUN --freeze-encoders, "
                                   "or drop --distill")
        teacher = ModalityTeachers({name: encoders_from[name] for name in frozen}, model)
    splits = {"train": data.splits["train"], "val": data.splits["val"]}
    if progress:
        print(f"live: modalities {data.modality_names}; {len(splits['train'])} training rows per epoch (re-paired "
              f"each epoch), {len(splits['val'])} validation rows, {count_parameters(model):,} parameters", flush=True)
        for name, item in initialised.items():
            print(f"live: {name} encoder ({item['parameters']:,} parameters) from {item['from']}"
                  f"{', frozen' if item['frozen'] else ''}", flush=True)
    started = time.perf_counter()
    result = fit(model, splits, config, progress=progress, teacher=teacher)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    evaluated = evaluate_protocol(model, data)
    test = data.splits["test"]
    probs, _ = predict(model, test)
    protocol = PROTOCOL.format(test_repeats=data.options["test_repeats"])
    metrics = {
        "dataset": "live",
        "modalities": data.modality_names,
        "protocol": protocol,
        "params": count_parameters(model),
        "train_seconds": train_seconds,
        "evaluate_seconds": time.perf_counter() - started,
        "threads": torch.get_num_threads(),
        "encoders_from": initialised,
        "best_epoch": result["best_epoch"],
        "epochs_run": len(result["history"]),
        "val": evaluate_split(model, splits["val"]),
        "test": classification_metrics(test.label_array, probs.argmax(1)),
        "protocol_results": evaluated,
        "sizes": {"train_rows_per_epoch": len(splits["train"]), "val": len(splits["val"]), "test": len(test)},
        "data_options": dict(data.options),
        "config": dataclasses.asdict(config),
    }
    if out is not None:
        out = Path(out)
        save_checkpoint(out, model, {"train_config": dataclasses.asdict(config), "metrics": metrics,
                                     "data_options": {**data.options, "modalities": data.modality_names}})
        write_json(out / "spec.json", spec.to_dict())
        write_json(out / "metrics.json", metrics)
        write_json(out / "history.json", result["history"])
        plot_training_curves(result["history"], out / "curves.png", config.monitor)
        plot_confusion(confusion(test.label_array, probs.argmax(1), spec.num_classes), spec.class_names,
                       out / "confusion.png")
    return model, metrics


def run_live(args) -> int:
    """`python -m sdk.train --dataset live --out RUN`: print the protocol, train, evaluate it, write RUN."""
    import json
    import sys

    from sdk.train import DATASET_DEFAULTS, config_from_args, spec_options

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    names = tuple(m.strip() for m in args.modalities.split(",")) if getattr(args, "modalities", None) else MODALITIES
    options = dict(DEFAULT_OPTIONS)
    if getattr(args, "live_options", None):
        try:
            options.update(json.loads(args.live_options))
        except json.JSONDecodeError as err:
            print(f"error: --live-options is not valid JSON ({err})", file=sys.stderr)
            return 2
    print(PROTOCOL.format(test_repeats=options["test_repeats"]), flush=True)
    started = time.perf_counter()
    try:
        data = load_live(args.data, modalities=names, **options)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"live: data loaded in {time.perf_counter() - started:.0f} s", flush=True)
    from sdk.encoder_init import EncoderInitError, parse_encoders_from, parse_freeze

    try:
        encoders_from = parse_encoders_from(getattr(args, "encoders_from", None) or "")
        model, metrics = train_live(data, Path(args.out), config_from_args(args), progress=not args.quiet,
                                    encoders_from=encoders_from,
                                    freeze_encoders=parse_freeze(getattr(args, "freeze_encoders", None)),
                                    **{**DATASET_DEFAULTS.get("live", {}), **spec_options(args)})
    except EncoderInitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_protocol(metrics["protocol_results"]))
    print(f"live: {metrics['params']:,} parameters, trained in {metrics['train_seconds']:.0f} s at "
          f"{metrics['threads']} thread(s), best epoch {metrics['best_epoch']}; paired test accuracy "
          f"{metrics['test']['accuracy']:.4f}")
    print(f"wrote {args.out}/ (model.pt, metrics.json, curves.png, confusion.png)")
    return 0
