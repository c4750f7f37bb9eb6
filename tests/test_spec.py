import json

import pytest

from sdk.spec import Components, ModelSpec, SpecError, subset_name
from tests.helpers import make_spec


def test_json_round_trip_preserves_everything():
    spec = make_spec(fusion="cbp", components=Components(recurrent="lstm", gating=False), widths={"audio.rnn": 24})
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec
    assert json.loads(spec.to_json())["version"] == 1


def test_shapes_follow_kind():
    spec = make_spec()
    assert spec.modality("audio").input_shape() == (8, 5)
    assert spec.modality("video").input_shape() == (4, 1, 12, 12)
    assert spec.modality("text").input_shape() == (6,)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(version=99), "version 99"),
        (lambda d: d.update(fusion="nope"), "fusion"),
        (lambda d: d["modalities"][0].update(feature_dim=0), "feature_dim"),
        (lambda d: d["modalities"][2].update(vocabulary=[]), "vocabulary"),
        (lambda d: d.update(class_names=["one"]), "two class names"),
        (lambda d: d["modalities"][1].update(name="audio"), "unique"),
        (lambda d: d.pop("modalities"), "malformed"),
    ],
)
def test_invalid_specs_are_rejected_with_a_reason(mutate, message):
    data = make_spec().to_dict()
    mutate(data)
    with pytest.raises(SpecError, match=message):
        ModelSpec.from_dict(data)


def test_not_json():
    with pytest.raises(SpecError, match="not valid JSON"):
        ModelSpec.from_json("{oops")


def test_subset_name_is_sorted():
    assert subset_name(["video", "audio", "text"]) == "audio+text+video"
