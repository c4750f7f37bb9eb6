import numpy as np
import pytest

from sdk.data.pairing import pair_by_label
from sdk.train import select_modalities


@pytest.fixture(scope="module")
def unimodal(synthetic):
    text = select_modalities(synthetic, ["text"])
    video = select_modalities(synthetic, ["video"])
    # Shuffle the image dataset and reorder its class names, as an independent dataset would be.
    order = np.random.default_rng(5).permutation(len(video))
    video = video.subset(order)
    mapping = [2, 0, 3, 1]
    video.labels = np.array([mapping[l] for l in video.labels])
    video.class_names = [video.class_names[mapping.index(i)] for i in range(4)]
    return text, video


def test_every_paired_sample_shares_its_label(unimodal):
    text, video = unimodal
    result = pair_by_label({"text": text, "video": video}, seed=0)
    paired = result.dataset
    assert len(paired) == len(text) and paired.modality_names == ["text", "video"]
    for i in range(len(paired)):
        label = paired.class_names[paired.labels[i]]
        assert text.class_names[text.labels[result.sources["text"][i]]] == label
        assert video.class_names[video.labels[result.sources["video"][i]]] == label
        assert video.split[result.sources["video"][i]] == paired.split[i]
    np.testing.assert_array_equal(paired.inputs["video"], video.inputs["video"][result.sources["video"]])


def test_pairing_is_reproducible_and_seed_dependent(unimodal):
    text, video = unimodal
    a = pair_by_label({"text": text, "video": video}, seed=1)
    b = pair_by_label({"text": text, "video": video}, seed=1)
    c = pair_by_label({"text": text, "video": video}, seed=2)
    np.testing.assert_array_equal(a.sources["video"], b.sources["video"])
    np.testing.assert_array_equal(a.dataset.inputs["video"], b.dataset.inputs["video"])
    assert (a.sources["video"] != c.sources["video"]).any()


def test_missing_partner_label_is_a_clear_error_or_dropped(unimodal):
    text, video = unimodal
    no_sad = video.subset(np.array([video.class_names[l] != "sad" for l in video.labels]))
    with pytest.raises(ValueError, match="no .* sample labelled 'sad'"):
        pair_by_label({"text": text, "video": no_sad})
    kept = pair_by_label({"text": text, "video": no_sad}, on_missing="drop").dataset
    assert "sad" not in {kept.class_names[l] for l in kept.labels} and len(kept) < len(text)
