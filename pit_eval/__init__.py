"""pit_eval: robustness and detection evaluation for vision backbones, starting with PiT.

``pit_eval.evaluate(model, ...)`` evaluates a timm name or any ``nn.Module`` (see :mod:`pit_eval.api`);
the command line is ``python run_eval.py``."""
__version__ = "0.1.0"
__all__ = ["evaluate", "EvalResult"]


def __getattr__(name: str):
    # imported on first use, so that `import pit_eval` (mmdet configs, backbones) stays light
    if name in __all__:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'pit_eval' has no attribute {name!r}")
