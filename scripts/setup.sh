#!/usr/bin/env bash
# Set up the project environment in .venv/ (idempotent; seconds when nothing changed).
#   - uv (from PyPI) installs the locked environment (uv.lock) into .venv/
#   - system packages that the data and the browser test need, when missing and we are root:
#       dataset-fashion-mnist (the embedded default data set), chromium + chromium-driver (browser test)
# Usage: bash scripts/setup.sh [--with-browser]
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
[ "${1:-}" = "--with-browser" ] && want_browser=1

find_uv() {
  if command -v uv >/dev/null 2>&1; then command -v uv; return; fi
  if [ -x .uv-bootstrap/bin/uv ]; then echo .uv-bootstrap/bin/uv; return; fi
  return 1
}
if ! UV=$(find_uv); then
  echo "[setup] installing uv into .uv-bootstrap/ (a tiny venv that only holds uv)"
  if ! python3 -m venv .uv-bootstrap 2>/dev/null; then
    rm -rf .uv-bootstrap
    # Debian/Ubuntu system Pythons ship venv's ensurepip separately
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv .uv-bootstrap
    else
      echo "[setup] error: 'python3 -m venv' failed; install uv (https://docs.astral.sh/uv/) or python3-venv" >&2
      exit 1
    fi
  fi
  .uv-bootstrap/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.5"
  UV=.uv-bootstrap/bin/uv
fi

echo "[setup] syncing .venv/ from uv.lock"
"$UV" sync --frozen --quiet

apt_pkgs=()
[ -d /usr/share/datasets/fashion-mnist ] || [ -n "${MINTLAB_FASHION_MNIST_SOURCE:-}" ] || apt_pkgs+=(dataset-fashion-mnist)
if [ "$want_browser" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || apt_pkgs+=(chromium chromium-driver)
fi
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "[setup] apt-get install ${apt_pkgs[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
  else
    echo "[setup] note: missing system packages: ${apt_pkgs[*]} (install them with your package manager," \
         "or let mintlab download the data sets if you have internet)" >&2
  fi
fi
