import json

import numpy as np
import pytest

from tfsem.data.labels import LabelSpace, load_label_space


def test_cityscapes_label_space():
    space = load_label_space("cityscapes")
    assert space.num_classes == 35 and space.num_channels("extra_class") == 35
    assert space.dont_care_id is None
    assert space.classes[7].name == "road" and space.classes[7].color == (128, 64, 128)
    assert space.classes[26].name == "car" and space.classes[26].has_instances
    assert space.classes[34].name == "license plate" and space.classes[34].id == -1
    train = space.train_id_table()
    assert train[7] == 0 and train[8] == 1 and train[33] == 18 and train[0] == 255
    assert len([t for t in train if t != 255]) == 19
    assert 0 in space.ignore_indices() and 7 not in space.ignore_indices()
    ids = np.arange(34).reshape(2, 17)
    np.testing.assert_array_equal(space.encode(ids), ids)
    np.testing.assert_array_equal(space.decode(space.encode(ids)), ids)


def test_coco_stuff_dont_care_modes():
    space = load_label_space("coco_stuff")
    assert space.num_classes == 182 and space.dont_care_id == 255
    assert space.classes[0].name == "person" and space.classes[181].name == "wood"
    raw = np.array([[0, 181, 255]])
    np.testing.assert_array_equal(space.encode(raw, "extra_class"), [[0, 181, 182]])
    np.testing.assert_array_equal(space.encode(raw, "zero"), [[0, 181, -1]])
    assert space.num_channels("extra_class") == 183 and space.num_channels("zero") == 182
    np.testing.assert_array_equal(space.decode(np.array([182, -1, 5])), [255, 255, 5])
    assert space.palette("extra_class").shape == (183, 3)


def test_ade20k_label_space():
    space = load_label_space("ade20k")
    assert space.num_classes == 150 and space.dont_care_id == 0
    assert space.classes[0].name == "wall" and space.classes[0].id == 1
    np.testing.assert_array_equal(space.encode(np.array([0, 1, 150])), [150, 0, 149])
    assert space.num_channels() == 151


def test_ids_outside_the_label_space_are_named():
    space = load_label_space("coco_stuff")
    with pytest.raises(ValueError) as err:
        space.encode(np.array([[3, 200, 201, 200]]), where="x.png")
    message = str(err.value)
    assert message.startswith("x.png: label ids outside the 'coco_stuff' label space: 200, 201")
    assert "(3 pixels)" in message and "valid ids: 0..181, 255" in message


def test_custom_label_space_from_json(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({
        "name": "mine", "dont_care_id": 9, "ignore_ids": [9],
        "classes": [{"id": 0, "name": "sky", "color": [0, 0, 255]},
                    {"id": 3, "name": "grass", "color": [0, 255, 0]}]}))
    space = load_label_space(str(path))
    assert space.name == "mine" and space.num_channels() == 3
    np.testing.assert_array_equal(space.encode(np.array([3, 0, 9])), [1, 0, 2])
    np.testing.assert_array_equal(space.colorize(np.array([1, -1])), [[0, 255, 0], [0, 0, 0]])
    assert space.index_of("grass") == 1
    with pytest.raises(ValueError, match="no class 'gras'; did you mean 'grass'"):
        space.index_of("gras")
    assert LabelSpace.from_dict(space.to_dict()) == space


@pytest.mark.parametrize("data, message", [
    ({"classes": [{"id": 0, "name": "a", "color": [0, 0]}]}, r"classes\[0\]\.color: expected \[r, g, b\]"),
    ({"classes": [{"id": 0, "name": "a"}]}, r"classes\[0\]: missing 'color'"),
    ({"classes": [{"id": 0, "name": "a", "color": [1, 2, 3], "colour": 1}]}, "unknown key"),
    ({"classes": [{"id": 0, "name": "a", "color": [1, 2, 3]}] * 2}, "duplicate class ids"),
    ({"clases": []}, "unknown key"),
])
def test_bad_custom_label_space_is_explained(tmp_path, data, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message):
        load_label_space(str(path))


def test_unknown_builtin_name():
    with pytest.raises(ValueError, match="unknown label space 'citiscapes'"):
        load_label_space("citiscapes")
