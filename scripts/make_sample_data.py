"""Regenerate the embedded sample data in pit_eval/assets/sample from photographs that ship inside
scikit-image (public-domain / CC0 images, see skimage/data/README.txt) plus a few drawings.

Every number computed on this data is labelled "sample data — not comparable to the paper".
Run:  python scripts/make_sample_data.py   (deterministic; the output is committed)
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import skimage.data as skd
from PIL import Image, ImageDraw, ImageFilter, ImageOps

OUT = Path(__file__).resolve().parents[1] / "pit_eval" / "assets" / "sample"

# photo -> (ImageNet wnid, class index, stored format)
VAL = {
    "chelsea": ("n02123045", "tabby cat", "rgb_jpeg"),
    "coffee": ("n07920052", "espresso", "cmyk_jpeg"),
    "rocket": ("n03773504", "missile", "rgba_png"),
    "camera": ("n04485082", "tripod", "gray16_png"),
    "clock": ("n04548280", "wall clock", "gray_jpeg"),
}

# a drawing in val (wnid, digits, lit and dim colour): ImageNet-O's class 'digital clock'
VAL_DRAWN = ("n03196217", "1028", (60, 255, 90), (12, 40, 16))
# ImageNet-O stand-ins: photographs of no ImageNet class, filed under 'digital clock'
IMAGENET_O = ("moon", "coins")


def _save(img: Image.Image, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "rgb_jpeg":
        img.convert("RGB").save(path, "JPEG", quality=92)
    elif fmt == "cmyk_jpeg":
        img.convert("RGB").convert("CMYK").save(path, "JPEG", quality=92)
    elif fmt == "rgba_png":
        img.convert("RGBA").save(path, "PNG")
    elif fmt == "gray16_png":
        a = np.asarray(img.convert("L"), dtype=np.uint16) * 257
        Image.fromarray(a).save(path, "PNG")  # mode I;16
    elif fmt == "gray_jpeg":
        img.convert("L").save(path, "JPEG", quality=92)
    else:
        raise ValueError(fmt)


def _photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(skd, name)())


def _sketch(img: Image.Image) -> Image.Image:
    """A pencil-sketch rendition: inverted edges on white."""
    g = ImageOps.grayscale(img).filter(ImageFilter.GaussianBlur(1.0))
    return ImageOps.autocontrast(ImageOps.invert(g.filter(ImageFilter.FIND_EDGES)))


def _cartoon(img: Image.Image) -> Image.Image:
    """A cartoon rendition: posterised colours with dark edges."""
    rgb = img.convert("RGB")
    flat = ImageOps.posterize(rgb.filter(ImageFilter.MedianFilter(7)), 3)
    edges = ImageOps.grayscale(rgb).filter(ImageFilter.FIND_EDGES).point(lambda v: 0 if v > 40 else 255)
    return Image.composite(flat, Image.new("RGB", rgb.size), edges)


def _digital_clock(digits: str = "1208", colour=(255, 40, 30), dim=(40, 12, 10)) -> Image.Image:
    """A drawn seven-segment digital clock reading 12:08 by default ('digital clock', ImageNet-A's and
    ImageNet-O's class n03196217)."""
    img = Image.new("RGB", (320, 240), (24, 24, 28))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((20, 50, 300, 190), radius=18, fill=(10, 10, 10), outline=(90, 90, 90), width=6)
    seg = {"0": "abcdef", "1": "bc", "2": "abdeg", "8": "abcdefg"}
    def digit(x, ch):
        on = seg[ch]
        boxes = {"a": (x + 6, 70, x + 44, 78), "g": (x + 6, 116, x + 44, 124),
                 "d": (x + 6, 162, x + 44, 170), "f": (x, 76, x + 8, 118), "b": (x + 42, 76, x + 50, 118),
                 "e": (x, 122, x + 8, 164), "c": (x + 42, 122, x + 50, 164)}
        for s, b in boxes.items():
            d.rectangle(b, fill=colour if s in on else dim)
    for x, ch in zip((40, 100, 180, 240), digits):
        digit(x, ch)
    d.ellipse((160, 95, 170, 105), fill=colour)
    d.ellipse((160, 135, 170, 145), fill=colour)
    return img


# Tiny COCO-format detection set: (image source, [(category, [x, y, w, h]), ...]); boxes drawn by hand
COCO_CATEGORIES = [(1, "person"), (2, "bicycle"), (4, "motorcycle"), (15, "bench"), (17, "cat"),
                   (47, "cup"), (50, "spoon")]
COCO_IMAGES = {
    "chelsea": [("cat", [5, 0, 440, 300])],
    "coffee": [("cup", [172, 18, 238, 287]), ("spoon", [325, 65, 100, 262])],
    "astronaut": [("person", [18, 15, 345, 497])],
    "motorcycle_left": [("motorcycle", [92, 80, 593, 370]), ("bench", [40, 105, 245, 200]),
                        ("bicycle", [0, 165, 45, 135])],
}


def _coco_image(name: str) -> Image.Image:
    if name == "motorcycle_left":
        import skimage.io
        return Image.fromarray(skimage.io.imread(Path(skd.__file__).parent / "motorcycle_left.png")[..., :3])
    return _photo(name)


def make_tiny_coco(out: Path) -> None:
    """COCO layout: <out>/{train2017,val2017}/*.jpg and annotations/instances_{split}2017.json."""
    cat_id = {n: i for i, n in COCO_CATEGORIES}
    images, anns = [], []
    for img_id, (name, boxes) in enumerate(COCO_IMAGES.items(), start=1):
        img = _coco_image(name)
        for split in ("train2017", "val2017"):
            _save(img, out / split / f"{name}.jpg", "rgb_jpeg")
        images.append({"id": img_id, "file_name": f"{name}.jpg", "width": img.width, "height": img.height})
        for cat, (x, y, w, h) in boxes:
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": cat_id[cat],
                         "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0,
                         "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]})
    doc = {"info": {"description": "pit_eval tiny COCO-format set (" + SAMPLE_NOTE + ")"},
           "licenses": [], "images": images, "annotations": anns,
           "categories": [{"id": i, "name": n, "supercategory": "none"} for i, n in COCO_CATEGORIES]}
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    for split in ("train2017", "val2017"):
        (out / "annotations" / f"instances_{split}.json").write_text(json.dumps(doc, indent=1) + "\n")


SAMPLE_NOTE = "sample data — not comparable to the paper"

# Tiny ImageNet-9 / Background Challenge tree. The only IN-9 class among scikit-image's photographs is
# "wheeled vehicle" (the stereo motorcycle pair); its masks are hand-drawn polygons. Backgrounds: the
# motorcycle photos with the foreground tiled over ("only_bg_t") plus crops of other photographs.
IN9_FOLDERS = ("00_dog", "01_bird", "02_vehicle", "03_reptile", "04_carnivore", "05_insect",
               "06_instrument", "07_primate", "08_fish")
IN9_VEHICLE = "02_vehicle"
#: (name, which stereo view, mirrored, crop box in the 741x500 photo, mask polygon in crop pixels)
IN9_FOREGROUNDS = (
    ("motorcycle_left", 0, False, (80, 40, 700, 500),
     [(20, 250), (60, 130), (200, 60), (330, 40), (470, 70), (590, 170), (600, 330), (520, 420),
      (380, 440), (150, 430), (40, 380)]),
    ("motorcycle_right", 1, False, (60, 40, 680, 500),
     [(30, 250), (70, 130), (210, 60), (340, 40), (480, 70), (600, 170), (610, 330), (530, 420),
      (390, 440), (160, 430), (50, 380)]),
    ("motorcycle_mirrored", 0, True, (41, 40, 661, 500),
     [(0, 170), (130, 70), (270, 40), (400, 60), (540, 130), (580, 250), (560, 380), (450, 430),
      (220, 440), (80, 420), (0, 330)]),
)
IN9_OTHER_BACKGROUNDS = ("brick", "grass", "gravel", "coffee", "astronaut")
IN9_SIZE = 224


def _in9_foreground(view: int, mirrored: bool, box, polygon):
    img = Image.fromarray(skd.stereo_motorcycle()[view]).crop(box)
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).polygon(polygon, fill=1)
    if mirrored:
        img, mask = ImageOps.mirror(img), ImageOps.mirror(mask)
    img = img.resize((IN9_SIZE, IN9_SIZE), Image.BICUBIC)
    mask = np.asarray(mask.resize((IN9_SIZE, IN9_SIZE), Image.NEAREST), dtype=np.uint8)
    return img, mask


def _tile_over(img: Image.Image, mask: np.ndarray) -> Image.Image:
    """Fill the foreground with copies of the rows above it (as only_bg_t tiles background)."""
    a = np.asarray(img).copy()
    rows = np.nonzero(mask.any(axis=1))[0]
    top = max(int(rows[0]), 8)
    strip = a[:top]
    for y in range(a.shape[0]):
        a[y][mask[y] > 0] = strip[y % top][mask[y] > 0]
    return Image.fromarray(a)


def _square_crop(name: str) -> Image.Image:
    im = Image.fromarray(getattr(skd, name)()).convert("RGB")
    side = min(im.size)
    return im.crop((0, 0, side, side)).resize((IN9_SIZE, IN9_SIZE), Image.BICUBIC)


def make_in9(out: Path) -> None:
    fgs = [(n, *_in9_foreground(v, m, b, p)) for n, v, m, b, p in IN9_FOREGROUNDS]
    bgs = {f"{n}_bg": _tile_over(img, mask) for n, img, mask in fgs}
    bgs.update({f"{n}_crop": _square_crop(n) for n in IN9_OTHER_BACKGROUNDS})
    for variant in ("original", "fg_mask", "only_fg", "only_bg_t", "mixed_same", "mixed_rand"):
        for c in IN9_FOLDERS:
            d = out / variant / "val" / c
            d.mkdir(parents=True, exist_ok=True)
            (d / ".gitkeep").write_text("")
    val = lambda v: out / v / "val" / IN9_VEHICLE  # noqa: E731
    black = Image.new("RGB", (IN9_SIZE, IN9_SIZE))
    others = list(IN9_OTHER_BACKGROUNDS)
    for i, (name, img, mask) in enumerate(fgs):
        m = Image.fromarray(mask * 255)
        img.save(val("original") / f"{name}.JPEG", quality=92)
        np.save(val("fg_mask") / f"{name}.npy", mask)
        Image.composite(img, black, m).save(val("only_fg") / f"{name}.JPEG", quality=92)
        same = bgs[f"{fgs[(i + 1) % len(fgs)][0]}_bg"]
        Image.composite(img, same, m).save(val("mixed_same") / f"{name}.JPEG", quality=92)
        rand = bgs[f"{others[i % len(others)]}_crop"]
        Image.composite(img, rand, m).save(val("mixed_rand") / f"{name}.JPEG", quality=92)
    for name, bg in bgs.items():
        bg.save(val("only_bg_t") / f"{name}.JPEG", quality=92)


#: stand-in cue-conflict stimuli: (shape photo, shape category, texture photo, texture category, file)
CUE_CONFLICT = (("chelsea", "cat", "clock", "clock", "cat1-clock1.png"),
                ("clock", "clock", "chelsea", "cat", "clock1-cat1.png"),
                ("chelsea", "cat", "chelsea", "cat", "cat2-cat1.png"),
                ("clock", "clock", "clock", "clock", "clock2-clock1.png"))


def _square(img: Image.Image, size: int = 224) -> Image.Image:
    img = img.convert("RGB")
    side = min(img.size)
    left, top = (img.size[0] - side) // 2, (img.size[1] - side) // 2
    return img.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)


def make_cue_conflict(out: Path) -> None:
    """The cue-conflict layout with stand-ins (not Geirhos et al.'s style-transfer stimuli): the shape
    photo's luminance modulating a crop of the texture photo, 224x224 PNG, two with a conflict."""
    for shape_name, shape, texture_name, _, file in CUE_CONFLICT:
        lum = np.asarray(_square(_photo(shape_name)).convert("L"), dtype=np.float32) / 255
        tex = np.asarray(_square(_photo(texture_name).convert("RGB").crop((0, 0, 256, 256))), dtype=np.float32)
        img = np.clip(tex * (0.25 + 0.75 * lum[..., None]), 0, 255).astype(np.uint8)
        (out / shape).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(out / shape / file)


#: ObjectNet stand-ins: (val photograph, ObjectNet folder) in its layout, each with a 2-px border
OBJECTNET = (("coffee", "mug"), ("clock", "alarm_clock"), ("camera", "still_camera"))
#: corruption-set stand-ins: (set, corruption, severity folder, how the stand-in is drawn)
CORRUPTION_SETS = (("imagenet-c-bar", "checkerboard_cutout", "3.00", "grey squares cut on a 32-px grid"),
                   ("imagenet-c-bar", "checkerboard_cutout", "3", "grey squares cut on a 24-px grid"),
                   ("imagenet-3dcc", "low_light", "1", "darkened to 40 %"))


def make_objectnet(out: Path) -> None:
    for name, folder in OBJECTNET:
        photo = _photo(name).convert("RGB")
        photo = photo.resize((256 * photo.width // min(photo.size), 256 * photo.height // min(photo.size)), Image.BICUBIC)
        img = ImageOps.expand(photo, border=2, fill=(255, 0, 0))
        (out / "images" / folder).mkdir(parents=True, exist_ok=True)
        img.save(out / "images" / folder / f"{name}.png")


def _stand_in(img: Image.Image, how: str) -> Image.Image:
    a = np.asarray(img, dtype=np.float32)
    if how.startswith("grey squares"):
        cell = int(how.split("-px")[0].split()[-1])
        yy, xx = np.mgrid[0:a.shape[0], 0:a.shape[1]] // (cell // 2)
        a = np.where((((yy + xx) % 2) == 0)[..., None] & ((yy % 2) == 0)[..., None], 128.0, a)
    else:
        a = a * 0.4
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def make_corruption_sets(out: Path) -> None:
    """The val photographs at 224 x 224 (resize 256, centre crop 224), drawn over by simple stand-ins
    in each set's layout (not the sets' generators: the folders name the corruption they stand in for)."""
    for dataset, corruption, severity, how in CORRUPTION_SETS:
        for name, (wnid, _, _) in VAL.items():
            img = _photo(name).convert("RGB")
            img = ImageOps.fit(img.resize((256 * img.width // min(img.size), 256 * img.height // min(img.size)),
                                          Image.BICUBIC), (224, 224))
            dest = out / dataset / corruption / severity / wnid / f"{name}.JPEG"
            dest.parent.mkdir(parents=True, exist_ok=True)
            _stand_in(img, how).save(dest, quality=85)


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    for name, (wnid, _, fmt) in VAL.items():
        img = _photo(name)
        ext = "PNG" if fmt.endswith("png") else "JPEG"
        _save(img, OUT / "imagenet" / "val" / wnid / f"{name}.{ext}", fmt)
        _save(_sketch(img), OUT / "imagenet-sketch" / wnid / f"{name}_sketch.JPEG", "gray_jpeg")
        idx = _class_index(wnid)
        _save(ImageOps.mirror(img.convert("RGB")), OUT / "imagenet-v2" / str(idx) / f"{name}_mirror.jpeg",
              "rgb_jpeg")
    for name in ("chelsea", "coffee"):  # both classes are in ImageNet-R's 200
        wnid = VAL[name][0]
        _save(_cartoon(_photo(name)), OUT / "imagenet-r" / wnid / f"cartoon_{name}.jpg", "rgb_jpeg")
    _save(_digital_clock(), OUT / "imagenet-a" / "n03196217" / "drawn_digital_clock.jpg", "rgb_jpeg")
    # val's one class of ImageNet-O's 200 (its in-distribution side), and photographs of no ImageNet class
    # filed under it as ImageNet-O files the images a classifier took for that class
    _save(_digital_clock(*VAL_DRAWN[1:]), OUT / "imagenet" / "val" / VAL_DRAWN[0] / "drawn_digital_clock.JPEG",
          "rgb_jpeg")
    for name in IMAGENET_O:
        _save(_photo(name), OUT / "imagenet-o" / VAL_DRAWN[0] / f"{name}.jpg", "rgb_jpeg")
    make_tiny_coco(OUT / "coco")
    make_in9(OUT / "imagenet-9")
    make_cue_conflict(OUT / "cue-conflict")
    make_objectnet(OUT / "objectnet")
    make_corruption_sets(OUT)
    (OUT / "SOURCES.json").write_text(json.dumps({
        "note": "sample data — not comparable to the paper",
        "photographs": "scikit-image skimage.data (see skimage/data/README.txt for each image's licence)",
        "val": {k: {"wnid": v[0], "class": v[1], "stored_as": v[2]} for k, v in VAL.items()},
        "val_drawn": {"drawn_digital_clock": {"wnid": VAL_DRAWN[0], "class": "digital clock",
                                              "stored_as": "rgb_jpeg",
                                              "what": f"a drawn green seven-segment clock reading {VAL_DRAWN[1]}"}},
        "imagenet-o": "ImageNet-O's layout with stand-ins, not its adversarially filtered images: the moon and "
                      "coins photographs (no ImageNet class) filed under digital clock, the one val class of "
                      "ImageNet-O's 200",
        "imagenet-sketch": "edge-sketch renditions of the val photographs",
        "imagenet-v2": "mirrored val photographs in class-index folders",
        "imagenet-r": "cartoon renditions of chelsea (tabby) and coffee (espresso)",
        "imagenet-a": "a drawn seven-segment digital clock",
        "coco": "4 scikit-image photographs with hand-drawn boxes (7 COCO categories); train = val",
        "imagenet-9": "ImageNet-9 layout: 3 motorcycle foregrounds (the stereo pair and a mirror, class "
                      "wheeled vehicle) with hand-drawn masks; only_bg_t = the photos with the foreground "
                      "tiled over plus crops of brick, grass, gravel, coffee, astronaut; mixed_same / "
                      "mixed_rand / only_fg composited from them; the other 8 class folders are empty",
        "objectnet": "ObjectNet 1.0's layout (images/<folder>/*.png, 2-px red border): coffee as mug, clock "
                     "as alarm_clock, camera as still_camera",
        "imagenet-c-bar": "stand-ins in C-bar's layout, not its generator: the val photographs at 224x224 with "
                          "grey squares cut out, filed as checkerboard_cutout severity 2 (folder named by its "
                          "parameter, 3.00) and 3",
        "imagenet-3dcc": "stand-ins in 3DCC's layout, not its generator: the val photographs at 224x224 darkened "
                         "to 40 %, filed as low_light severity 1",
        "cue-conflict": "the cue-conflict layout with stand-ins, not Geirhos et al.'s stimuli: the luminance "
                        "of chelsea (cat) or clock modulating a crop of the other photo (two conflicts) or "
                        "of itself (two without)",
    }, indent=2) + "\n")
    print(f"wrote {sum(1 for p in OUT.rglob('*') if p.is_file())} files to {OUT}")


def _class_index(wnid: str) -> int:
    from pit_eval.datasets import imagenet_wnids
    return imagenet_wnids().index(wnid)


if __name__ == "__main__":
    main()
