#!/usr/bin/env bash
# Tote's whole test suite. Installs the test peers that are missing (Debian packages: systemd,
# mosquitto, mbpoll, chromium, chromium-driver, fonts-noto-cjk; PyPI: jsonschema, jsonschema-rs,
# pymodbus), then builds, lints and runs every test, then runs the demo story once as a smoke
# test. Browser screenshots are kept in target/screenshots/.
# .ci/run calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip)
command -v mbpoll >/dev/null 2>&1 || missing+=(mbpoll)
# Browser tests: Debian's Chromium and ChromeDriver, and a CJK font for the Chinese screens.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
broker_up() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }
if [ -z "${TOTE_TEST_MQTT_BROKER:-}" ] && ! broker_up 127.0.0.1:1883; then
  command -v mosquitto >/dev/null 2>&1 || missing+=(mosquitto)
  start_mosquitto=1
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing test peers: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# A Mosquitto for the MQTT tests (they also run against the edge's embedded broker).
if [ "${start_mosquitto:-0}" = 1 ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  conf=$(mktemp); printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" > "$conf"
  mosquitto -d -c "$conf"
  export TOTE_TEST_MQTT_BROKER="127.0.0.1:$port"
  for _ in $(seq 50); do broker_up "$TOTE_TEST_MQTT_BROKER" && break; sleep 0.1; done
  echo "== started Mosquitto on $TOTE_TEST_MQTT_BROKER"
fi
# The independent VDA 5050 schema validator.
if ! python3 -c 'import jsonschema, jsonschema_rs' >/dev/null 2>&1; then
  echo "== installing test peer: python jsonschema, jsonschema-rs"
  python3 -m pip install --quiet jsonschema jsonschema-rs || python3 -m pip install --quiet --break-system-packages jsonschema jsonschema-rs
fi
# The independent Modbus peer: a station PLC played by pymodbus (3.8: its data-store API;
# later 3.x releases rename it on the way to 4.0).
if ! python3 -c 'import pymodbus, sys; sys.exit(not pymodbus.__version__.startswith("3.8."))' >/dev/null 2>&1; then
  echo "== installing test peer: pymodbus 3.8"
  python3 -m pip install --quiet 'pymodbus==3.8.6' || python3 -m pip install --quiet --break-system-packages 'pymodbus==3.8.6'
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
