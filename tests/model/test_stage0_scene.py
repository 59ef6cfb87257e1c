"""Stage 0's scene-graph supervision: the per-patch targets follow the rendered geometry, and the
heads' read-outs are recorded in the stage-0 summary."""

import numpy as np

from mmdata.model.stage0 import MAX_COUNT, SceneHeads, scene_labels
from mmdata.world.lexicon import SHAPES
from mmdata.world.render import RGB, object_mask, render
from mmdata.world.scene import OCR_WORDS, Obj, Scene, Text

COLOURS = tuple(RGB)


def _scene(**kw) -> Scene:
    objs = (Obj(0, "square", "red", "large", (0, 0, 24, 24)), Obj(1, "circle", "blue", "small", (40, 40, 53, 53)))
    return Scene("coco-1", "coco", 64, 64, kw.get("background", "gray"), kw.get("objects", objs), kw.get("text"))


def test_the_mask_is_drawn_where_the_image_is():
    s = _scene()
    m = np.asarray(object_mask(s))
    im = np.asarray(render(s))
    assert set(np.unique(m)) == {0, 1, 2}
    assert (im[m == 1] == RGB["red"]).all() and (im[m == 2] == RGB["blue"]).all() and (im[m == 0] == RGB["gray"]).all()


def test_patch_targets_follow_the_objects():
    y = scene_labels(_scene(), 64, 8)
    shape, colour = y["shape"].reshape(8, 8), y["colour"].reshape(8, 8)
    # the 24 px square fills patches (0..2, 0..2); row-major patch order as the ViT flattens them
    assert (shape[:3, :3] == SHAPES.index("square") + 1).all() and (colour[:3, :3] == COLOURS.index("red") + 1).all()
    assert shape[5, 5] == SHAPES.index("circle") + 1 and colour[5, 5] == COLOURS.index("blue") + 1
    assert shape[7, 0] == 0 and colour[0, 7] == 0  # empty patches: none
    assert int(y["count"]) == 2 and int(y["background"]) == COLOURS.index("gray") and int(y["word"]) == 0
    # object targets: the square then the circle, absent objects ignored; pooling weights sum to one
    assert y["obj_shape"][:3].tolist() == [SHAPES.index("square"), SHAPES.index("circle"), -100]
    assert y["obj_size"][:2].tolist() == [1, 0] and y["obj_colour"][1] == COLOURS.index("blue")
    w = y["obj_weights"].reshape(-1, 8, 8)
    assert np.allclose(w[:2].sum((1, 2)), 1) and w[2:].sum() == 0 and np.isclose(w[0, :3, :3].sum(), 1) and w[1, 5, 5] > 0


def test_other_image_sizes_the_word_and_large_counts():
    many = tuple(Obj(k, "star", "pink", "small", (6 * k, 0, 6 * k + 5, 5)) for k in range(10))
    y = scene_labels(_scene(objects=many, text=Text("OWL", "black", (2, 40, 62, 56))), 224, 14)
    assert y["shape"].shape == (16 * 16,) and int(y["count"]) == MAX_COUNT
    assert int(y["word"]) == OCR_WORDS.index("OWL") + 1


def test_heads_learn_the_targets():
    import torch

    torch.manual_seed(0)
    scenes = [_scene(), _scene(background="black", objects=())]
    labels = [scene_labels(s, 64, 8) for s in scenes]
    y = {k: torch.from_numpy(np.stack([lab[k] for lab in labels])) for k in labels[0]}
    feats = torch.randn(2, 65, 160)  # wider than the 130 tokens: separable
    heads = SceneHeads(160)
    opt = torch.optim.Adam(heads.parameters(), lr=0.05)
    first = None
    for _ in range(100):
        loss, acc = heads(feats, y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first and acc["shape"] == acc["obj_shape"] == acc["background"] == 1.0
