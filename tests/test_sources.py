"""Dataset arguments in four layouts (pit_eval.sources; docs/data.md): the same photographs as a folder
tree, a save_to_disk dataset, Parquet files and WebDataset shards, made by the docs' own recipes, give
the same data fingerprint and the same predictions with real weights; shards are read once per sample
over workers and ranks; bad samples and unknown layouts are named."""
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import pit_eval
from pit_eval import sources
from pit_eval.datasets import imagenet_wnids, scan
from pit_eval.images import SAMPLE_ROOT, DataError, EvalTransform, ImageList

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

ROOT = Path(__file__).resolve().parents[1]
VAL = SAMPLE_ROOT / "imagenet" / "val"
QUIET = dict(batch_size=2, workers=0, quiet=True, device="cpu")


def _recipes() -> dict:
    """The docs' python blocks: the preamble, then one per layout (named by what they write)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs/data.md").read_text(), re.S)
    return {re.search(r'f"\{OUT\}/(val-\w+)', b).group(1) if "OUT}/" in b else "preamble": b for b in blocks}


def _copies(src: Path, out: Path, layouts=("val-hf", "val-parquet", "val-wds")) -> dict:
    """Run the docs' recipes on ``src`` (a val tree) into ``out``: {layout: path}."""
    recipes = _recipes()
    assert set(recipes) == {"preamble", "val-hf", "val-parquet", "val-wds"}
    env = {}
    pre = recipes["preamble"].replace('SRC, OUT = "imagenet/val", "imagenet-copies"', f"SRC, OUT = {str(src)!r}, {str(out)!r}")
    assert pre != recipes["preamble"]
    exec(pre, env)
    for layout in layouts:
        exec(recipes[layout], env)
    return {layout: str(out / layout) for layout in layouts}


def _fingerprint(path: str) -> dict:
    samples, reader = scan(path, imagenet_wnids(), "imagenet", "--imagenet")
    ds = ImageList(samples, EvalTransform().full(), root=path, reader=reader)
    return pit_eval.datasets.fingerprint(ds)


def _predictions(tmp_path, name: str, path: str, weights: str, out=None) -> tuple:
    out = out or tmp_path / f"r-{name}"
    pit_eval.evaluate("efficientnet_lite0", weights=weights, benchmarks="clean", imagenet=path, out=str(out), **QUIET)
    cell = json.loads((out / "cells.jsonl").read_text().splitlines()[-1])
    df = pit_eval.predictions(out, "clean")
    return cell["data"].get("layout", "class folders"), cell["pred_fingerprint"], cell["correct1"], list(df["path"]), [list(t) for t in df["top5"]]


def test_parquet_and_shards_of_the_same_photographs_give_the_folder_trees_predictions(tmp_path, lite0_weights):
    copies = _copies(VAL, tmp_path / "copies", layouts=("val-parquet", "val-wds"))
    folder = _fingerprint(str(VAL))
    shards = copies["val-wds"]
    n_shards = len(list(Path(shards).glob("*.tar")))
    given = {**copies, "parquet glob": copies["val-parquet"] + "/validation-*.parquet",
             "shard pattern": shards + "/val-{%06d..%06d}.tar" % (0, n_shards - 1)}
    kinds = {}
    for name, path in given.items():
        fp = _fingerprint(path)
        assert fp["files_sha256"] == folder["files_sha256"] and fp["images"] == folder["images"] == 6, name
        kinds[name] = fp["layout"]                      # a copy's layout is provenance beside its root
    assert kinds == {"val-parquet": "Parquet files", "val-wds": "WebDataset shards",
                     "parquet glob": "Parquet files", "shard pattern": "WebDataset shards"}
    ref = _predictions(tmp_path, "folder", str(VAL), lite0_weights)
    assert "layout" not in folder and ref[0] == "class folders" and ref[2] >= 4          # real weights: most of the photographs right
    for name in copies:
        assert _predictions(tmp_path, name, copies[name], lite0_weights) == (kinds[name],) + ref[1:], name
    # a results directory made from the folder tree resumes from the shards: nothing recomputed
    before = (tmp_path / "r-folder" / "cells.jsonl").read_text()
    _predictions(tmp_path, "folder", shards, lite0_weights)
    assert (tmp_path / "r-folder" / "cells.jsonl").read_text() == before


def test_a_save_to_disk_copy_gives_the_folder_trees_predictions(tmp_path, lite0_weights):
    pytest.importorskip("datasets")           # the hf extra (the full install); the core's message: below
    hf = _copies(VAL, tmp_path / "copies", layouts=("val-hf",))["val-hf"]
    assert _fingerprint(hf)["files_sha256"] == _fingerprint(str(VAL))["files_sha256"]
    ref = _predictions(tmp_path, "folder", str(VAL), lite0_weights)
    assert _predictions(tmp_path, "hf", hf, lite0_weights) == ("save_to_disk dataset",) + ref[1:]


def _photos(n: int):
    """``n`` distinct val images (the sample's photographs under new names), as (key, label, bytes)."""
    photos = sorted(p for p in VAL.rglob("*") if p.is_file())
    out = []
    for i in range(n):
        p = photos[i % len(photos)]
        out.append((f"{p.parent.name}/img{i:03d}", imagenet_wnids().index(p.parent.name), p.read_bytes(), p.suffix[1:]))
    return out


def _shards(folder: Path, photos, per_shard: int) -> Path:
    import webdataset as wds
    folder.mkdir(parents=True)
    with wds.ShardWriter(str(folder / "s-%06d.tar"), maxcount=per_shard, verbose=0) as sink:
        for key, label, data, ext in photos:
            sink.write({"__key__": key, ext: data, "cls": label})
    return folder


def test_shards_are_read_once_per_sample_over_two_workers_and_two_ranks(tmp_path):
    """Every sample of 3 shards is read exactly once: by one of two DataLoader workers, and by one of two
    gloo ranks (each with two workers); the reads are logged by each process that makes them."""
    shards = _shards(tmp_path / "wds", _photos(24), per_shard=8)
    log = tmp_path / "reads.log"
    script = tmp_path / "run.py"
    script.write_text(f"""
import os, sys
sys.path.insert(0, {str(ROOT)!r})
from pit_eval import sources
data = sources.TarReader.data
def logged(self, locator):
    with open({str(log)!r}, "a") as f:
        f.write(f"{{os.environ.get('RANK', '0')}} {{os.getpid()}} {{locator}}\\n")
    return data(self, locator)
sources.TarReader.data = logged
from pit_eval.cli import main
sys.exit(main(["robustness", "--model", "test_resnet", "--weights", "random", "--benchmarks", "clean",
               "--imagenet", {str(shards)!r}, "--out", sys.argv[1], "--batch-size", "2", "--workers", "2",
               "--device", "cpu", "--quiet"]))
""")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    one = subprocess.run([sys.executable, str(script), str(tmp_path / "one")], capture_output=True, text=True,
                         timeout=600, env=env)
    assert one.returncode == 0, one.stderr[-3000:]
    reads = [line.split() for line in log.read_text().splitlines()]
    keys = sorted(k for _, _, k in reads)
    assert len(reads) == 24 and len(set(keys)) == 24                # each sample once
    assert len({pid for _, pid, _ in reads}) == 2                     # by the two workers
    log.unlink()
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          "29571", str(script), str(tmp_path / "two")], capture_output=True, text=True, timeout=600,
                         env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    reads = [line.split() for line in log.read_text().splitlines()]
    assert sorted(k for _, _, k in reads) == keys                     # each sample once over both ranks
    assert {r for r, _, _ in reads} == {"0", "1"} and len({pid for _, pid, _ in reads}) == 4
    cells = [json.loads((tmp_path / d / "cells.jsonl").read_text().splitlines()[-1]) for d in ("one", "two")]
    assert cells[0]["n"] == cells[1]["n"] == 24 and cells[0]["pred_fingerprint"] == cells[1]["pred_fingerprint"]
    assert cells[1]["data"] == {**cells[0]["data"], "root": cells[1]["data"]["root"]}


def _bad_tar(path: Path) -> Path:
    """A shard of four samples: two good, one with bytes that are no image, one without its cls."""
    good = _photos(2)
    with tarfile.open(path, "w") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for key, label, data, ext in good:
            add(f"{key}.{ext}", data)
            add(f"{key}.cls", str(label).encode())
        add("n01440764/broken.jpg", b"not a jpeg")
        add("n01440764/broken.cls", b"0")
        add("n01440764/nolabel.jpg", good[0][2])
    return path


def _bad_parquet(path: Path) -> Path:
    good = _photos(2)
    rows = [{"image": {"bytes": data, "path": key.split("/")[1] + "." + ext}, "label": label}
            for key, label, data, ext in good]
    rows += [{"image": {"bytes": b"not a jpeg", "path": "broken.jpg"}, "label": 0},
             {"image": {"bytes": good[0][2], "path": "nolabel.jpg"}, "label": None}]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize("layout", ["shards", "parquet"])
def test_a_bad_sample_follows_on_bad_image_named_by_its_part_and_key(tmp_path, layout):
    data = _bad_tar(tmp_path / "v.tar") if layout == "shards" else _bad_parquet(tmp_path / "v.parquet")
    kw = dict(weights="random", benchmarks="clean", imagenet=str(data), **QUIET)
    with pytest.raises(DataError) as e:
        pit_eval.evaluate("test_resnet", out=str(tmp_path / "a"), **kw)
    assert str(e.value) == (f"sample 'nolabel.jpg' in {str(data)!r} has no label (no class column value or .cls "
                            "member); give it one, or pass --on-bad-image skip to count it as skipped")
    s = pit_eval.evaluate("test_resnet", out=str(tmp_path / "b"), on_bad_image="skip", **kw).summary
    assert s["benchmarks"]["clean"]["n"] == 2 and s["benchmarks"]["clean"]["skipped"] == 2
    # the undecodable one, alone: named by its key and part
    samples, reader = scan(str(data), imagenet_wnids(), "imagenet", "--imagenet")
    ds = ImageList([s for s in samples if "broken" in s[0]], EvalTransform().full(), reader=reader)
    with pytest.raises(DataError, match=re.escape(f"cannot decode sample 'n01440764/broken.jpg' in {str(data)!r}")
                       + r".*: cannot identify image file .*Fix or remove the sample, or pass --on-bad-image skip"):
        ds[0]


def test_labels_map_from_wnids_class_label_names_and_subset_positions(tmp_path):
    photo = _photos(1)[0]
    wnids = imagenet_wnids()

    def table(labels, names=None):
        rows = [{"image": {"bytes": photo[2], "path": f"p{i}.JPEG"}, "label": y} for i, y in enumerate(labels)]
        t = pa.Table.from_pylist(rows)
        if names is not None:
            meta = {"info": {"features": {"image": {"_type": "Image"}, "label": {"_type": "ClassLabel", "names": names}}}}
            t = t.replace_schema_metadata({b"huggingface": json.dumps(meta).encode()})
        path = tmp_path / f"t{len(list(tmp_path.glob('*.parquet')))}.parquet"
        pq.write_table(t, path)
        return str(path)

    def labels(path, class_names=wnids):
        return [y for _, y in scan(path, class_names, "x", "--x")[0]]

    assert labels(table(["n01440764", "n15075141"])) == [0, 999]                   # wnid strings
    assert labels(table([1, 0], names=["n15075141", "n01440764"])) == [0, 999]     # ClassLabel names: wnids
    assert labels(table([3], names=["tench, Tinca tinca"] * 1000)) == [3]          # other names: the index
    a_wnids = [wnids[i] for i in pit_eval.datasets.subset_indices("a")]
    assert labels(table([0, 199]), a_wnids) == [0, 199]                            # ImageNet-A: positions among 200
    with pytest.raises(DataError, match=r"x: sample row 0 of .* has label 200, outside its 200 classes \(0..199"):
        labels(table([200]), a_wnids)
    with pytest.raises(DataError, match=r"has label 'n99999999', not one of its classes"):
        labels(table(["n99999999"]))
    # plain bytes in a jpg column, the class in cls: read the same; no stored path, so keyed by row
    pq.write_table(pa.table({"jpg": [photo[2]], "cls": ["n02123045"]}), tmp_path / "plain.parquet")
    samples, reader = scan(str(tmp_path / "plain.parquet"), wnids, "x", "--x")
    assert samples == [("n02123045/00000000", wnids.index("n02123045"))]
    assert ImageList(samples, EvalTransform().full(), reader=reader)[0][0].shape == (3, 224, 224)


def test_unknown_layouts_and_wrong_columns_say_what_is_accepted(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"")
    with pytest.raises(DataError, match=r"imagenet \(--imagenet\): '.*x.zip' names files of kinds \['.zip'\]; "
                                        r"accepted: class folders \(DIR/<class>/<image>\); a save_to_disk dataset"):
        scan(str(tmp_path / "x.zip"), imagenet_wnids(), "imagenet", "--imagenet")
    with pytest.raises(DataError, match=r"'.*nothing-\*.parquet' matches no file; accepted: class folders"):
        scan(str(tmp_path / "nothing-*.parquet"), imagenet_wnids(), "imagenet", "--imagenet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"contains no images .* Accepted: class folders .*WebDataset shards"):
        scan(str(tmp_path / "empty"), imagenet_wnids(), "imagenet", "--imagenet")
    dd = tmp_path / "dd"
    dd.mkdir()
    (dd / "dataset_dict.json").write_text('{"splits": ["train", "validation"]}')
    with pytest.raises(DataError, match=r"is a DatasetDict \(splits \['train', 'validation'\]\); give one split's "
                                        r"folder, e.g. '.*dd/train'"):
        scan(str(dd), imagenet_wnids(), "imagenet", "--imagenet")
    splits = tmp_path / "splits"
    splits.mkdir()
    for s in ("train", "validation"):
        _bad_parquet(splits / f"{s}-00000-of-00001.parquet")
    with pytest.raises(DataError, match=r"holds the files of several splits \(train, validation\); give one, e.g. "
                                        r"'.*splits/validation-\*.parquet'"):
        scan(str(splits), imagenet_wnids(), "imagenet", "--imagenet")
    pq.write_table(pa.table({"picture": [b"x"], "label": [0]}), tmp_path / "cols.parquet")
    with pytest.raises(DataError, match=r"no image column among \['picture', 'label'\]; expected an image column "
                                        r"named one of \['image', 'img'"):
        scan(str(tmp_path / "cols.parquet"), imagenet_wnids(), "imagenet", "--imagenet")
    pq.write_table(pa.table({"image": [{"bytes": None, "path": "/elsewhere/a.JPEG"}], "label": [0]}),
                   tmp_path / "paths.parquet")
    with pytest.raises(DataError, match=r"the image cells refer to files \(e.g. '/elsewhere/a.JPEG'\) instead of "
                                        r"holding their bytes"):
        scan(str(tmp_path / "paths.parquet"), imagenet_wnids(), "imagenet", "--imagenet")
    with tarfile.open(tmp_path / "noimg.tar", "w") as tar:
        info = tarfile.TarInfo("n01440764/a.cls")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"0"))
    with pytest.raises(DataError, match=r"sample 'n01440764/a' in '.*noimg.tar' has no image member \(jpg, jpeg"):
        scan(str(tmp_path / "noimg.tar"), imagenet_wnids(), "imagenet", "--imagenet")


def test_a_save_to_disk_dataset_without_the_datasets_library_says_what_to_install(tmp_path, monkeypatch):
    d = tmp_path / "hf"
    d.mkdir()
    (d / "state.json").write_text("{}")
    (d / "data-00000-of-00001.arrow").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(DataError) as e:
        scan(str(d), imagenet_wnids(), "imagenet", "--imagenet")
    assert str(e.value) == (f"imagenet (--imagenet): {str(d)!r} is a Hugging Face save_to_disk dataset; reading it "
                            "needs the datasets library: pip install 'pit_eval[hf]' (or datasets), or give its "
                            "Parquet files")


def test_the_plan_counts_samples_without_decoding_and_imagenet_c_cells_may_be_shards(tmp_path):
    shards = _shards(tmp_path / "wds", _photos(10), per_shard=4)
    table = tmp_path / "t.parquet"
    _bad_parquet(table)
    assert sources.count(str(shards)) == 10 and sources.count(str(table)) == 4
    assert sources.count(str(VAL)) == 6 and sources.count(str(tmp_path / "absent")) == 0
    # released ImageNet-C: each <corruption>/<severity> cell as a folder tree, or as shards
    folders, wds_root = tmp_path / "c", tmp_path / "c-wds"
    shutil.copytree(VAL, folders / "fog" / "3")
    _copies(folders / "fog" / "3", tmp_path / "copy", layouts=("val-wds",))
    shutil.copytree(tmp_path / "copy" / "val-wds", wds_root / "fog" / "3")
    cells = []
    for root in (folders, wds_root):
        out = tmp_path / f"r-{root.name}"
        pit_eval.evaluate("test_resnet", weights="random", benchmarks="imagenet-c", imagenet_c=str(root), imagenet=str(VAL),
                          corruptions="fog", severities="3", imagenet_c_source="prerendered", out=str(out), **QUIET)
        cells.append(json.loads((out / "cells.jsonl").read_text().splitlines()[-1]))
    assert [c["key"] for c in cells] == ["imagenet-c/fog/3"] * 2 and cells[1]["data"]["layout"] == "WebDataset shards"
    assert cells[0]["pred_fingerprint"] == cells[1]["pred_fingerprint"] and cells[0]["n"] == 6
    assert pit_eval.datasets.comparable(cells[0]["data"]) == pit_eval.datasets.comparable(cells[1]["data"])


def test_the_same_name_in_two_shards_is_two_samples_each_read_from_its_own(tmp_path):
    """Keys are made unique over the whole source, not per shard: each sample keeps its own bytes."""
    photos = [p for p in sorted(VAL.rglob("*.JPEG")) if p.parent.name == "n02123045"] + \
             [p for p in sorted(VAL.rglob("*.PNG"))][:1]
    for i, photo in enumerate(photos[:2]):
        with tarfile.open(tmp_path / f"s-{i}.tar", "w") as tar:
            for name, data in (("n02123045/same.jpg", photo.read_bytes()), ("n02123045/same.cls", b"281")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    samples, reader = scan(str(tmp_path), imagenet_wnids(), "imagenet", "--imagenet")
    assert [k for k, _ in samples] == ["n02123045/same.jpg", "n02123045/same.jpg#2"]
    sizes = [reader.load(k).size for k, _ in samples]
    assert sizes == [Image.open(p).size for p in photos[:2]] and sizes[0] != sizes[1]
