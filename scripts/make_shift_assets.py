"""Regenerate the class lists and maps of ImageNet-O and ObjectNet (``pit_eval/assets/imagenet-o/``,
``pit_eval/assets/objectnet/``) from snapshots of their public repositories, at the commits named in
each folder's SOURCE.md:

    python scripts/make_shift_assets.py --natural-adv PATH --testbed PATH --template PATH --c-bar PATH

PATH: a git directory (a bare mirror is fine) or a work tree of hendrycks/natural-adv-examples (the
``imagenet_o_wnids`` list of ``eval_many_models.py``, MIT), modestyachts/imagenet-testbed (the three
files of ``src/eval_settings/objectnet_metadata/``, MIT) and abarbu/objectnet-template-pytorch
(``mapping_files/imagenet_pytorch_id_to_objectnet_id.json``, MIT) and facebookresearch/augmentation-corruption
(``imagenet_c_bar/imagenet_c_bar.csv``: ImageNet-C-bar's corruptions and severity parameters, MIT). The files are copied as released;
the only one written here is ``imagenet_o_wnids.txt``, the Python list of the script one per line.
"""
from __future__ import annotations

import argparse
import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "pit_eval" / "assets"
TESTBED_FILES = ("folder_to_objectnet_label.json", "imagenet_to_labels.json", "objectnet_to_imagenet_1k.json")
TEMPLATE_FILE = "mapping_files/imagenet_pytorch_id_to_objectnet_id.json"


def git_show(repo: str, path: str) -> bytes:
    git = ["git", "--git-dir", repo] if (Path(repo) / "HEAD").is_file() and not (Path(repo) / ".git").exists() \
        else ["git", "-C", repo]
    return subprocess.run(git + ["show", f"HEAD:{path}"], check=True, capture_output=True).stdout


def imagenet_o_wnids(source: str) -> list:
    """The ``imagenet_o_wnids = [...]`` assignment of eval_many_models.py, parsed (not executed)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "imagenet_o_wnids":
            return list(ast.literal_eval(node.value))
    raise SystemExit("eval_many_models.py has no imagenet_o_wnids list")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--natural-adv", required=True)
    p.add_argument("--testbed", required=True)
    p.add_argument("--template", required=True)
    p.add_argument("--c-bar", required=True)
    a = p.parse_args()
    wnids = imagenet_o_wnids(git_show(a.natural_adv, "eval_many_models.py").decode())
    (ASSETS / "imagenet-o" / "imagenet_o_wnids.txt").write_text("\n".join(wnids) + "\n")
    (ASSETS / "imagenet-o" / "LICENSE").write_bytes(git_show(a.natural_adv, "LICENSE"))
    for name in TESTBED_FILES:
        (ASSETS / "objectnet" / name).write_bytes(git_show(a.testbed, f"src/eval_settings/objectnet_metadata/{name}"))
    (ASSETS / "objectnet" / "LICENSE-testbed").write_bytes(git_show(a.testbed, "LICENSE"))
    (ASSETS / "objectnet" / Path(TEMPLATE_FILE).name).write_bytes(git_show(a.template, TEMPLATE_FILE))
    (ASSETS / "objectnet" / "LICENSE-template").write_bytes(git_show(a.template, "LICENSE"))
    (ASSETS / "imagenet-c-bar" / "imagenet_c_bar.csv").write_bytes(git_show(a.c_bar, "imagenet_c_bar/imagenet_c_bar.csv"))
    (ASSETS / "imagenet-c-bar" / "LICENSE").write_bytes(git_show(a.c_bar, "LICENSE"))
    print(f"{len(wnids)} ImageNet-O wnids; ObjectNet maps from the testbed and the template written")


if __name__ == "__main__":
    main()
