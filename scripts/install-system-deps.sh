#!/usr/bin/env bash
# Installs the Debian packages the gateway and its tests use:
#   ffmpeg / ffprobe  - tests and benchmarks decode every format with them; the server runs one long-lived
#                       ffmpeg per stream only for the flac/aac formats of /v1/audio/speech (never one per chunk)
#   espeak-ng         - the local `espeak` voice provider (run as a child process; GPL code stays out of ours)
#   chromium          - only with --with-test-deps (or its old name --with-browser): the demo's browser tests
#   redis-server      - only with --with-test-deps: the scale-out tests start their own on a free port
# Idempotent: packages already present are skipped, so a second run costs nothing.
# Without root (and without sudo) it prints what is missing and carries on: the gateway still runs with the
# built-in mock_tone provider and reports espeak as down in /readyz.
set -euo pipefail

want=(ffmpeg espeak-ng)
case "${1:-}" in
  --with-test-deps | --with-browser) want+=(chromium redis-server) ;;
esac

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: not a Debian/Ubuntu system; please install: ${missing[*]}" >&2
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "install-system-deps: not root and no password-less sudo; please install: ${missing[*]}" >&2
    exit 0
  fi
fi

echo "install-system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
