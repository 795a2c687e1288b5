#!/usr/bin/env bash
# Tote's whole test suite. Installs the test peers that are missing (Debian packages), then
# builds, lints and runs every test, then runs the demo story once as a smoke test.
# .ci/run calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing test peers: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The independent VDA 5050 schema validator.
if ! python3 -c 'import jsonschema' >/dev/null 2>&1; then
  echo "== installing test peer: python jsonschema"
  python3 -m pip install --quiet jsonschema || python3 -m pip install --quiet --break-system-packages jsonschema
fi

export CARGO_TERM_COLOR=never
echo "== lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi

echo "== demo story (smoke)"
cargo run --locked -q -p tote-sim -- demo --once --port 0
echo "== all green"
