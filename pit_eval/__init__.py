"""pit_eval: robustness and detection evaluation for vision backbones, starting with PiT.

``pit_eval.evaluate(model, ...)`` evaluates a timm name or any ``nn.Module`` (see :mod:`pit_eval.api`);
the command line is ``python run_eval.py``. ``pit_eval.predictions(run_dir, key)`` reads a cell's
per-image predictions as a pandas DataFrame (:mod:`pit_eval.prediction_files`); ``pit_eval.sweep(models,
out=..., ...)`` runs many models (:mod:`pit_eval.sweeps`)."""
__version__ = "0.1.0"
__all__ = ["evaluate", "EvalResult", "predictions", "sweep"]


def predictions(run_dir, key: str):
    """The per-image predictions of cell ``key`` (e.g. ``"clean"``, ``"imagenet-c/fog/3"``) of the
    results directory ``run_dir``, as a pandas DataFrame (columns: docs/results.md)."""
    from .prediction_files import read
    return read(run_dir, key)


def __getattr__(name: str):
    # imported on first use, so that `import pit_eval` (mmdet configs, backbones) stays light
    if name in ("evaluate", "EvalResult"):
        from . import api
        return getattr(api, name)
    if name == "sweep":
        from . import sweeps
        return sweeps.api
    raise AttributeError(f"module 'pit_eval' has no attribute {name!r}")
