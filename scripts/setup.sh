#!/usr/bin/env bash
# bash scripts/setup.sh               the core: .venv, requirements.txt, pit_eval editable; nothing compiled
# bash scripts/setup.sh --detection   the core plus requirements-detection.txt and mmcv 2.1.0 with ops
#                                     (built once, then reused from a cached wheel), and requirements-hf.txt
#                                     (the Hugging Face datasets reader): the full install the tests use
# Idempotent: a re-run with nothing changed takes seconds.
set -euo pipefail
DETECTION=0
case "${1:-}" in
  --detection) DETECTION=1 ;;
  "") ;;
  *) echo "usage: bash scripts/setup.sh [--detection]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
MMCV_VERSION=2.1.0
CACHE=${PIT_EVAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pit_eval}
log() { echo "[setup] $*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$(cd "$VENV" && pwd)/bin/python"
PIP=("$VPY" -m pip --disable-pip-version-check)

req_hash=$(sha256sum requirements.txt pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
stamp="$VENV/.pit_eval-req-$req_hash"
if [ ! -f "$stamp" ]; then
  log "installing requirements.txt (the core; a few minutes the first time)"
  "${PIP[@]}" install -q --upgrade "pip<26.2"
  "${PIP[@]}" install -q -r requirements.txt
  # torchattacks 3.5.1 pins requests~=2.25.1 (an old requests, idna 2 and urllib3 1, which break
  # huggingface_hub's httpx); it needs only torch, torchvision, scipy, numpy and tqdm, all installed.
  "${PIP[@]}" install -q --no-deps "torchattacks==3.5.1"
  # Hendrycks' ImageNet-C generator (the imagenet-c protocol's reference) pins wand~=0.4 and
  # opencv-python~=3.4, neither of which installs today; pit_eval.corruptions.compat makes it run.
  "${PIP[@]}" install -q --no-deps "imagenet-c==0.0.3" "wand==0.7.2"
  rm -f "$VENV"/.pit_eval-req-*
  touch "$stamp"
else
  log "requirements unchanged"
fi

if [ "$DETECTION" = 1 ]; then
det_hash=$(sha256sum requirements-detection.txt requirements-hf.txt | sha256sum | cut -c1-16)
det_stamp="$VENV/.pit_eval-det-$det_hash"
if [ ! -f "$det_stamp" ]; then
  log "installing requirements-detection.txt (mmdet, mmengine, pycocotools, openmim) and requirements-hf.txt (datasets)"
  "${PIP[@]}" install -q -r requirements-detection.txt -r requirements-hf.txt
  rm -f "$VENV"/.pit_eval-det-*
  touch "$det_stamp"
fi

if ! "$VPY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
  key=$("$VPY" -c "import torch, sys, platform; print(f'mmcv{\"$MMCV_VERSION\"}-torch{torch.__version__.split(\"+\")[0]}-{torch.version.cuda or \"cpu\"}-cp{sys.version_info[0]}{sys.version_info[1]}-{platform.machine()}')")
  wheel_dir="$CACHE/wheels/$key"
  wheel=$(ls "$wheel_dir"/mmcv-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    log "building mmcv $MMCV_VERSION with ops (about 10 minutes on 2 cores; cached in $wheel_dir)"
    build=$(mktemp -d)
    "${PIP[@]}" download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV_VERSION" -d "$build"
    tar -xzf "$build"/mmcv-*.tar.gz -C "$build"
    src=$(find "$build" -maxdepth 1 -type d -name "mmcv-*" | head -n1)
    # torch >= 2.10 headers need C++20; mmcv 2.1.0 appends -std=c++17 last.
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    mkdir -p "$wheel_dir"
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} CFLAGS=-g0 CXXFLAGS=-g0 \
      "${PIP[@]}" wheel -q --no-deps --no-build-isolation "$src" -w "$build/out"
    mv "$build"/out/mmcv-*.whl "$wheel_dir/"
    rm -rf "$build"
    wheel=$(ls "$wheel_dir"/mmcv-*.whl | head -n1)
  else
    log "reusing cached mmcv wheel $wheel"
  fi
  "${PIP[@]}" install -q --no-deps "$wheel"
else
  log "mmcv $MMCV_VERSION with ops already installed"
fi
fi

# ImageMagick's library, for the imagenet-c reference backend's motion_blur and snow (the default fast
# backend reproduces them without it; the tests compare the two).
if ! ldconfig -p 2>/dev/null | grep -q "libMagickWand"; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ImageMagick's MagickWand library (libmagickwand-6.q16-6)"
    (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmagickwand-6.q16-6 >/dev/null) \
      || log "could not install libmagickwand-6.q16-6; the imagenet-c reference backend's motion_blur and snow will say so"
  else
    log "ImageMagick's MagickWand library is missing (Debian/Ubuntu: apt-get install libmagickwand-6.q16-6); only the imagenet-c reference backend's motion_blur and snow need it"
  fi
fi

if ! (cd / && "$VPY" -c "import pit_eval, backbones") 2>/dev/null; then
  log "installing pit_eval (editable)"
  "${PIP[@]}" install -q --no-deps --no-build-isolation -e .
fi
log "ready: $VENV (activate with: source $VENV/bin/activate)"
