import numpy as np
import pytest
from PIL import Image

from pit_eval.images import SAMPLE_ROOT, BadImageError, DataError, EvalTransform, ImageList, load_rgb
from pit_eval.datasets import imagenet_wnids, scan_class_folders
import pit_eval.benchmarks  # noqa: F401  (the benchmark modules declare the datasets)
from pit_eval.datasets import DATASETS, class_names


def test_imagenet_a_r_masks_equal_timm_index_files():
    import timm.data
    from pathlib import Path
    info = Path(timm.data.__file__).parent / "_info"
    for sub in ("a", "r"):
        idx = [int(v) for v in (info / f"imagenet_{sub}_indices.txt").read_text().split()]
        wnids = (info / f"imagenet_{sub}_synsets.txt").read_text().split()
        names, mask = class_names(DATASETS[f"imagenet-{sub}"])
        assert mask == idx and len(mask) == 200
        assert names == [imagenet_wnids()[i] for i in idx] == wnids


def test_v2_uses_index_folders():
    names, mask = class_names(DATASETS["imagenet-v2"])
    assert names[:3] == ["0", "1", "2"] and len(names) == 1000 and mask is None


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "I;16", "P", "LA"])
def test_odd_formats_decode_to_rgb(tmp_path, mode):
    rgb = Image.fromarray(np.random.RandomState(0).randint(0, 255, (40, 50, 3), dtype=np.uint8))
    if mode == "I;16":
        img = Image.fromarray((np.asarray(rgb.convert("L"), dtype=np.uint16) * 257))
        ext = "png"
    else:
        img = rgb.convert(mode)
        ext = "jpg" if mode in ("L", "CMYK") else "png"
    path = tmp_path / f"x.{ext}"
    img.save(path)
    out = load_rgb(path)
    assert out.mode == "RGB" and out.size == (50, 40)
    if mode == "I;16":  # scaled, not clipped to white
        assert np.array_equal(np.asarray(out)[..., 0], np.asarray(rgb.convert("L")))


def test_alpha_composited_on_white(tmp_path):
    a = np.zeros((10, 10, 4), np.uint8)
    a[..., 3] = 0
    Image.fromarray(a, "RGBA").save(tmp_path / "t.png")
    assert np.asarray(load_rgb(tmp_path / "t.png")).min() == 255


def test_bad_files_name_the_file(tmp_path):
    (tmp_path / "empty.JPEG").write_bytes(b"")
    with pytest.raises(BadImageError, match="empty.JPEG.*0 bytes"):
        load_rgb(tmp_path / "empty.JPEG")
    src = SAMPLE_ROOT / "imagenet/val/n02123045/chelsea.JPEG"
    (tmp_path / "trunc.JPEG").write_bytes(src.read_bytes()[:2000])
    with pytest.raises(BadImageError, match="trunc.JPEG"):
        load_rgb(tmp_path / "trunc.JPEG")
    (tmp_path / "text.JPEG").write_text("not an image")
    with pytest.raises(BadImageError, match="text.JPEG.*--on-bad-image skip"):
        load_rgb(tmp_path / "text.JPEG")


def test_skip_mode_yields_placeholder(tmp_path):
    d = tmp_path / "n01440764"
    d.mkdir()
    (d / "bad.JPEG").write_bytes(b"")
    samples = scan_class_folders(tmp_path, imagenet_wnids(), "imagenet", "--imagenet")
    assert ImageList(samples, EvalTransform().full(), "skip")[0][1] == -1
    with pytest.raises(BadImageError):
        ImageList(samples, EvalTransform().full(), "error")[0]


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist.*--imagenet"):
        scan_class_folders(tmp_path / "nope", imagenet_wnids(), "imagenet", "--imagenet")
    (tmp_path / "n01440764").mkdir()
    with pytest.raises(DataError, match="no images"):
        scan_class_folders(tmp_path, imagenet_wnids(), "imagenet", "--imagenet")
    (tmp_path / "train").mkdir()
    with pytest.raises(DataError, match="not expected classes.*'train'"):
        scan_class_folders(tmp_path, imagenet_wnids(), "imagenet", "--imagenet")


def test_transform_from_pit_cfg():
    import timm
    t = EvalTransform.from_model(timm.create_model("pit_s_224"))
    assert (t.crop_pct, t.interpolation, t.input_size, t.resize_size) == (0.9, "bicubic", 224, 248)
    t2 = EvalTransform.from_model(timm.create_model("pit_s_224"), crop_pct=0.875, interpolation=None)
    assert t2.crop_pct == 0.875 and t2.interpolation == "bicubic"


def test_sample_data_has_true_classes():
    import json
    src = json.loads((SAMPLE_ROOT / "SOURCES.json").read_text())
    for name, v in src["val"].items():
        assert (SAMPLE_ROOT / "imagenet/val" / v["wnid"]).is_dir(), name
    lemma = {"n02123045": "tabby", "n07920052": "espresso", "n03773504": "missile",
             "n04485082": "tripod", "n04548280": "wall clock"}
    import timm.data
    from pathlib import Path
    lemmas = dict(l.split("\t", 1) for l in (Path(timm.data.__file__).parent / "_info" /
                                            "imagenet_synset_to_lemma.txt").read_text().splitlines())
    for wnid, word in lemma.items():
        assert word in lemmas[wnid], (wnid, lemmas[wnid])
