"""Every run setting is declared once (pit_eval.settings): its CLI flag, API keyword and config field are
generated from that declaration, so the three cannot drift; the flags that had none (--input-size,
--mean, --std) reach the eval transform and the model's normalisation."""
import argparse
import dataclasses
import json

import pytest

import pit_eval
from pit_eval import api, benchmarks
from pit_eval.cli import build_parser
from pit_eval.engine import EngineConfig
from pit_eval.robustness import RobustnessConfig, RunSettings
from pit_eval.settings import OptionError, declared

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)


def _dests(sub: str) -> dict:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in action.choices[sub]._actions}


@pytest.mark.parametrize("command", ["robustness", "paper", "sweep"])
def test_every_setting_is_one_flag_one_keyword_and_one_field(command):
    settings = {f.name: f for f in declared(RunSettings)} | benchmarks.options() | {f.name: f for f in declared(EngineConfig)}
    assert set(api.SETTINGS) == set(settings)
    flags = _dests(command)
    for name, f in settings.items():
        action = flags[name]                                       # the flag writes the field's own name
        assert action.default == f.default, name
        assert f.metadata["help"] in action.help, name
        if f.metadata["flag"]:
            assert action.option_strings == [f.metadata["flag"]]
        else:
            assert action.option_strings == ["--" + name.replace("_", "-")], name
    config = {f.name for f in dataclasses.fields(RobustnessConfig)}
    engine = {f.name for f in dataclasses.fields(EngineConfig)}
    assert set(api.SETTINGS) <= config | engine and set(api.OPTIONS) == set(api.RUN) | set(api.SETTINGS) | {
        n.replace("-", "_") for n in pit_eval.datasets.DATASETS}


def test_a_setting_parses_the_same_from_the_cli_the_api_and_the_config():
    a = build_parser().parse_args(["robustness", "--model", "test_vit", "--mean", "0.5, 0.5,0.5", "--std",
                                   "0.25,0.25,0.25", "--input-size", "96", "--amp", "--no-channels-last",
                                   "--batch-size", "8"])
    from pit_eval.cli.robustness import options
    cfg = api.build_config("test_vit", **options(a))
    assert cfg.mean == (0.5, 0.5, 0.5) and cfg.std == (0.25, 0.25, 0.25) and cfg.input_size == 96
    assert cfg.engine == EngineConfig(amp="bf16", channels_last=False, batch_size=8)
    assert api.build_config("test_vit", mean="0.5,0.5,0.5", std=[0.25] * 3, input_size="96").mean == cfg.mean
    assert RobustnessConfig(model="x", mean=[0.5, 0.5, 0.5], input_size="96") == RobustnessConfig(
        model="x", mean=(0.5, 0.5, 0.5), input_size=96)
    with pytest.raises(OptionError, match=r"^--input-size: must be >= 1, got 0$"):
        RobustnessConfig(model="x", input_size=0)
    with pytest.raises(OptionError, match=r"^--batch-size: must be >= 1, got 0$"):
        EngineConfig(batch_size=0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["robustness", "--model", "x", "--mean", "a,b"])


def test_input_size_mean_and_std_from_the_cli_reach_the_transform(tmp_path):
    from pit_eval.cli import main
    out = tmp_path / "r"
    assert main(["robustness", "--model", "test_vit", "--weights", "random", "--benchmarks", "clean", "--out", str(out),
                 "--input-size", "128", "--crop-pct", "1.0", "--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25",
                 "--batch-size", "6", "--workers", "0", "--device", "cpu", "--quiet"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    t = meta["identity"]["transform"]
    assert (t["input_size"], t["crop_pct"], t["mean"], t["std"]) == (128, 1.0, [0.5] * 3, [0.25] * 3)
