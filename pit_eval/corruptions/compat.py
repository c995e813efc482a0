"""Compatibility layers that make the two corruption generators run on numpy 2 / scikit-image >= 0.20:
imagecorruptions 1.1.2 (:func:`apply`) and Hendrycks' imagenet-c 0.0.3 (:func:`apply_imagenet_c`).

Each patches names *inside* the generator's module only; numpy, scikit-image and the warning filters
of the process are left untouched.

imagecorruptions (applied automatically by :mod:`pit_eval.corruptions`, and therefore for mmdet's
``Corrupt`` transform too, which imports the same module):

* ``np.float_`` (removed in numpy 2) used by ``plasma_fractal`` (fog);
* ``skimage.filters.gaussian(..., multichannel=True)`` (removed in scikit-image 0.20) used by
  gaussian_blur and glass_blur -> ``channel_axis=-1`` (same arithmetic);
* ``skimage.util.random_noise`` (impulse_noise) draws from its own unseeded generator on current
  scikit-image; we hand it a generator seeded from the global ``np.random`` state so that seeding
  ``np.random`` makes every corruption reproducible;
* ``pkg_resources`` (setuptools < 81) and ``scipy.ndimage.interpolation`` are shimmed if missing.

imagenet-c (installed without its obsolete pins ``wand~=0.4``, ``opencv-python~=3.4``):

* the same ``np.float_``, ``multichannel=`` and import shims, plus ``np.fromstring`` (binary mode
  removed in numpy 2) -> ``np.frombuffer`` for the ImageMagick round trips of motion_blur and snow;
* impulse_noise: ``skimage.util.random_noise(mode='s&p')`` as scikit-image 0.13-0.18 drew it (the
  releases of the ImageNet-C era): two ``np.random.choice`` draws from the global state (which
  pixels flip, then salt or pepper). Current scikit-image draws from its own generator instead;
* frost: the PyPI wheel lacks the six texture files; they are read from imagecorruptions' copies,
  which are byte-identical to the generator's (``FROST_BLOBS``);
* motion_blur and snow call ImageMagick through Wand. Without the MagickWand library the package still
  imports (stand-ins for ``wand``) and those two raise :data:`MAGICKWAND_MISSING`;
* the module's ``warnings.simplefilter("ignore", UserWarning)`` at import is confined to the import.
"""
from __future__ import annotations

import importlib
import logging
import sys
import types
import warnings
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)
_APPLIED = False


def _forwarding_module(name: str, target: types.ModuleType, **overrides) -> types.ModuleType:
    """A module that forwards attribute access to ``target`` except for ``overrides``."""
    mod = types.ModuleType(name)
    mod.__dict__.update(overrides)
    mod.__getattr__ = lambda attr: getattr(target, attr)  # PEP 562
    return mod


def _shim_missing_imports() -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pkg_resources deprecation notice
            import pkg_resources  # noqa: F401
    except ImportError:  # setuptools >= 81: only resource_filename is needed (frost textures)
        def resource_filename(package: str, resource: str) -> str:
            return str(Path(sys.modules[package].__file__).parent / resource)
        sys.modules["pkg_resources"] = _forwarding_module(
            "pkg_resources", types.ModuleType("empty"), resource_filename=resource_filename)
    try:
        importlib.import_module("scipy.ndimage.interpolation")
    except ImportError:
        import scipy.ndimage
        sys.modules["scipy.ndimage.interpolation"] = scipy.ndimage


def _gaussian_compat(gaussian):
    def gaussian_with_multichannel(image, *args, multichannel=None, **kwargs):
        if multichannel:
            kwargs.setdefault("channel_axis", -1)
        return gaussian(image, *args, **kwargs)
    return gaussian_with_multichannel


def _random_noise_seeded(random_noise):
    def random_noise_from_global_state(image, *args, **kwargs):
        if kwargs.get("rng") is None and kwargs.get("seed") is None:
            kwargs["rng"] = np.random.default_rng(np.random.randint(0, 2**32, dtype=np.uint64))
        return random_noise(image, *args, **kwargs)
    return random_noise_from_global_state


def salt_and_pepper(image: np.ndarray, amount: float, salt_vs_pepper: float = 0.5) -> np.ndarray:
    """scikit-image 0.13-0.18's ``random_noise(image, mode='s&p', amount=...)`` for a float image in
    [0, 1]: which values flip, then which flipped ones become salt (1) rather than pepper (0), both
    drawn with ``np.random.choice`` from the global state."""
    out = image.copy()
    flipped = np.random.choice([True, False], size=image.shape, p=[amount, 1 - amount])
    salted = np.random.choice([True, False], size=image.shape, p=[salt_vs_pepper, 1 - salt_vs_pepper])
    out[flipped & salted] = 1
    out[flipped & ~salted] = 0
    return np.clip(out, 0, 1.0)


def _random_noise_skimage_018(random_noise):
    def random_noise_as_in_2018(image, mode="gaussian", **kwargs):
        if mode == "s&p" and image.min() >= 0 and set(kwargs) <= {"amount", "salt_vs_pepper"}:
            return salt_and_pepper(np.asarray(image, dtype=np.float64), **kwargs)
        return random_noise(image, mode=mode, **kwargs)
    return random_noise_as_in_2018


#: what to install for motion_blur and snow of the imagenet-c protocol
MAGICKWAND_MISSING = (
    "motion_blur and snow of the imagenet-c protocol run ImageMagick's motion blur, as the released "
    "ImageNet-C was made, and the MagickWand library is not installed. Install it (Debian/Ubuntu: "
    "apt-get install libmagickwand-6.q16-6; Fedora: dnf install ImageMagick-libs; macOS: brew install "
    "imagemagick@6), or leave those corruptions out (--corruptions without motion_blur,snow), or use "
    "--corruption-protocol imagecorruptions (then published mCE values are not compared)")

#: git blob ids of the six frost textures in github.com/hendrycks/robustness
#: (ImageNet-C/create_c/frost*.{png,jpg}, the files that made the released set; identical in
#: ImageNet-C/imagenet_c/imagenet_c/frost/); imagecorruptions 1.1.2 ships the same bytes
FROST_BLOBS = {
    "frost1.png": "c7b78a17938df51894497b4782decbd82532dd5f",
    "frost2.png": "48f7a861ffa41b6d7496b701fef96d5edf739282",
    "frost3.png": "d47f9d25f41251ee9a66b294c0bbfad6053017c9",
    "frost4.jpg": "f8b0c413176d70150b593e029d84b4a88c21dd4b",
    "frost5.jpg": "95dc9056926d8201df760535f9bb9112f012e862",
    "frost6.jpg": "14e5d58e762a5d0808df9fa6494fd6d78ee4409b",
}


def frost_file(name: str) -> Path:
    """A frost texture of the released generator, read from imagecorruptions' byte-identical copy."""
    import imagecorruptions
    return Path(imagecorruptions.__file__).parent / "frost" / name


def magickwand_version() -> "str | None":
    """ImageMagick's version string as Wand loads it, or None when the library is missing."""
    try:
        import wand.version
    except ImportError:
        return None
    return str(wand.version.MAGICK_VERSION)


def _wand_stand_ins() -> dict:
    """Modules standing in for ``wand`` while imagenet_c is imported without the MagickWand library:
    the import succeeds; making an ImageMagick image raises :data:`MAGICKWAND_MISSING`."""
    class MissingImage:
        def __init__(self, *args, **kwargs):
            raise RuntimeError(MAGICKWAND_MISSING)
    library = types.SimpleNamespace(MagickMotionBlurImage=types.SimpleNamespace())
    mods = {name: types.ModuleType(name) for name in ("wand", "wand.image", "wand.api", "wand.color")}
    mods["wand.image"].Image = MissingImage
    mods["wand.api"].library = library
    return mods


_IMAGENET_C = None


def apply_imagenet_c() -> types.ModuleType:
    """Import Hendrycks' ``imagenet_c.corruptions`` patched for today's libraries (once) and return it."""
    global _IMAGENET_C
    if _IMAGENET_C is not None:
        return _IMAGENET_C
    _shim_missing_imports()
    stand_ins = {}
    if magickwand_version() is None:
        stand_ins = _wand_stand_ins()
        sys.modules.update(stand_ins)
    try:
        with warnings.catch_warnings():  # its import-time simplefilter stays inside this block
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)  # scipy.ndimage.interpolation
            try:
                corr = importlib.import_module("imagenet_c.corruptions")
            except ImportError as e:
                raise ImportError("the imagenet-c protocol needs Hendrycks' package: pip install --no-deps "
                                  "imagenet-c==0.0.3 wand==0.7.2 (scripts/setup.sh does)") from e
    finally:
        for name in stand_ins:
            sys.modules.pop(name, None)
    import skimage
    import skimage.util
    corr.np = _forwarding_module("numpy_compat", np, float_=np.float64,
                                 fromstring=lambda data, dtype=float: np.frombuffer(data, dtype))
    corr.gaussian = _gaussian_compat(skimage.filters.gaussian)
    util = _forwarding_module("skimage_util_compat", skimage.util,
                              random_noise=_random_noise_skimage_018(skimage.util.random_noise))
    corr.sk = _forwarding_module("skimage_compat", skimage, util=util)
    corr.resource_filename = lambda package, resource: str(frost_file(Path(resource).name))
    _IMAGENET_C = corr
    logger.debug("imagenet-c compatibility layer applied")
    return corr


def apply() -> types.ModuleType:
    """Patch ``imagecorruptions.corruptions`` once and return it."""
    global _APPLIED
    _shim_missing_imports()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pkg_resources is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy.ndimage.interpolation
        corr = importlib.import_module("imagecorruptions.corruptions")
    if _APPLIED:
        return corr
    import skimage
    import skimage.util
    corr.np = _forwarding_module("numpy_compat", np, float_=np.float64)
    corr.gaussian = _gaussian_compat(skimage.filters.gaussian)
    util = _forwarding_module("skimage_util_compat", skimage.util,
                              random_noise=_random_noise_seeded(skimage.util.random_noise))
    corr.sk = _forwarding_module("skimage_compat", skimage, util=util)
    _APPLIED = True
    logger.debug("imagecorruptions compatibility layer applied")
    return corr
