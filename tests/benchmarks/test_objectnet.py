"""ObjectNet: top-1 on a generated ObjectNet-layout tree with real weights equals a plain
re-implementation of imagenet-testbed's objectnet-1.0-beta setting image by image (border crop, logits
on the 125 classes, a hit when the best is of the folder's classes; other classes not scored); top-5
equals the testbed's collapsed logits; the template's map groups the same classes; bad trees refused."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageOps
from torchvision import transforms as T

import pit_eval
from pit_eval.benchmarks.objectnet import objectnet_classes
from pit_eval.datasets import ASSETS
from pit_eval.images import SAMPLE_ROOT, DataError

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

QUIET = dict(batch_size=4, workers=0, quiet=True, device="cpu")
FOLDERS = ("umbrella", "computer_mouse", "still_camera", "alarm_clock", "banana")   # mapped to ImageNet
UNMAPPED = "squeegee"                                                               # one of the other 200


def _tree(root: Path) -> Path:
    """ObjectNet 1.0's layout: <root>/images/<folder>/<hash>.png, each image with a 2-px red border."""
    photos = sorted(p for p in (SAMPLE_ROOT / "imagenet/val").rglob("*") if p.is_file())
    for i, p in enumerate(photos):
        im = Image.open(p).convert("RGB")
        for j, img in enumerate([im, ImageOps.mirror(im), im.rotate(90, expand=True)]):
            folder = (FOLDERS + (UNMAPPED,))[(i + j) % 6]
            dest = root / "images" / folder / f"{i:02d}{j}.png"
            dest.parent.mkdir(parents=True, exist_ok=True)
            ImageOps.expand(img, border=2, fill=(255, 0, 0)).save(dest)
    return root


def _testbed(model, mean, std, images: Path):
    """The testbed: its metadata files, crop_image, logits on class_sublist, objectnet_accuracy per image,
    and accuracy_topk on the collapsed logits for top-5."""
    meta = ASSETS / "objectnet"
    folder_map = {v: k for k, v in json.loads((meta / "folder_to_objectnet_label.json").read_text()).items()}
    objectnet_map = json.loads((meta / "objectnet_to_imagenet_1k.json").read_text())
    imagenet_map = {v: k for k, v in json.loads((meta / "imagenet_to_labels.json").read_text()).items()}
    folder_to_ids, class_sublist = {}, []
    for name, names in objectnet_map.items():
        ids = [int(imagenet_map[n]) for n in names.split("; ")]
        class_sublist.extend(ids)
        folder_to_ids[folder_map[name]] = ids
    sub = {k: [class_sublist.index(x) for x in v] for k, v in folder_to_ids.items()}
    groups = sorted(sub)
    tf = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224), T.PILToTensor()])
    out = {}
    for f in sorted(images.rglob("*.png")):
        x = tf(ImageOps.crop(Image.open(f).convert("RGB"), border=2)).float()[None] / 255
        x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
        with torch.no_grad():
            logits = model(x)[:, class_sublist]
        folder = f.parent.name
        if folder not in sub:
            continue
        pred = int(logits.argmax(1))
        collapsed = torch.stack([logits[0, sub[g]].max() for g in groups])
        top5 = [groups[int(k)] for k in collapsed.topk(5).indices]
        out[f"{folder}/{f.name}"] = (pred in sub[folder], folder in top5)
    return out


def test_top1_equals_the_testbed_image_by_image_with_real_weights(tmp_path, lite0_weights):
    from pit_eval.models import create_model
    root = _tree(tmp_path / "objectnet-1.0")
    r = pit_eval.evaluate("efficientnet_lite0", weights=lite0_weights, benchmarks="objectnet", objectnet=str(root),
                          out=str(tmp_path / "r"), **QUIET)
    e = r.summary["benchmarks"]["objectnet"]
    model, _ = create_model("efficientnet_lite0", lite0_weights)
    ref = _testbed(model.eval(), model.pretrained_cfg["mean"], model.pretrained_cfg["std"], root / "images")
    df = pit_eval.predictions(tmp_path / "r", "objectnet")
    on = objectnet_classes()
    ours = {p: on.group[int(t[0])] == label for p, t, label in zip(df["path"], df["top5"], df["label"])}
    assert ours == {k: v[0] for k, v in ref.items()} and len(ours) == len(ref) == 15   # the squeegee images not scored
    assert e["n"] == 15 and e["acc1"] == sum(v[0] for v in ref.values()) / 15
    assert e["acc5"] == sum(v[1] for v in ref.values()) / 15
    assert 0 < e["acc5"] and e["acc1"] <= e["acc5"], e


def test_the_templates_map_groups_the_same_imagenet_classes():
    template = json.loads((ASSETS / "objectnet/imagenet_pytorch_id_to_objectnet_id.json").read_text())
    on = objectnet_classes()
    ours = {}
    for imagenet_id, group in zip(on.class_sublist, on.group):
        ours.setdefault(group, set()).add(imagenet_id)
    theirs = {}
    for imagenet_id, objectnet_id in template.items():
        theirs.setdefault(objectnet_id, set()).add(int(imagenet_id))
    assert sorted(map(sorted, ours.values())) == sorted(map(sorted, theirs.values()))
    assert (len(on.folders), len(on.mapped), len(on.class_sublist)) == (313, 113, 125)


def test_the_images_folder_or_its_parent_and_bad_trees(tmp_path):
    root = _tree(tmp_path / "objectnet-1.0")
    a = pit_eval.evaluate("test_vit", weights="random", benchmarks="objectnet", objectnet=str(root / "images"),
                          out=str(tmp_path / "a"), **QUIET).summary["benchmarks"]["objectnet"]
    assert a["n"] == 15
    (root / "images" / "n02123045").mkdir()
    with pytest.raises(DataError, match=r"objectnet folder .* has 1 class folder\(s\) that are not expected classes"):
        pit_eval.evaluate("test_vit", weights="random", benchmarks="objectnet", objectnet=str(root), **QUIET)
    shutil.rmtree(root / "images")
    (root / "images" / UNMAPPED).mkdir(parents=True)
    Image.new("RGB", (64, 64)).save(root / "images" / UNMAPPED / "x.png")
    with pytest.raises(DataError, match="has no images of the 113 classes ObjectNet shares with ImageNet"):
        pit_eval.evaluate("test_vit", weights="random", benchmarks="objectnet", objectnet=str(root), **QUIET)
