#!/usr/bin/env bash
# Tote's whole test suite. Installs the test peers that are missing (cargo-fuzz; Debian packages: systemd,
# mosquitto, mosquitto-clients, mbpoll, chromium, chromium-driver, fonts-noto-cjk, postgresql; PyPI: jsonschema,
# jsonschema-rs, pymodbus, wechatpayv3, alipay-sdk-python, stripe, schemathesis, beancount, beanquery; npm: vda-5050-lib, the third-party
# VDA 5050 vehicles, into tests/vda5050-lib from its package-lock.json), then builds,
# lints and runs every test, then runs the demo story once as a smoke test. Browser screenshots are kept in
# target/screenshots/.
# Central's PostgreSQL tests use TOTE_TEST_POSTGRES if set, else a server on 127.0.0.1:5432 (with
# the role and database `tote` this script creates there when absent), else a throwaway cluster
# this script starts (and stops at exit). Each test creates and drops its own database.
# .ci/run calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v mbpoll >/dev/null 2>&1 || missing+=(mbpoll)
# Mosquitto's own clients check the embedded broker's TLS listener and ACLs from outside.
command -v mosquitto_sub >/dev/null 2>&1 || missing+=(mosquitto-clients)
# OpenSSL checks the HMAC signatures central puts on its outgoing webhooks.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# Browser tests: Debian's Chromium and ChromeDriver, and a CJK font for the Chinese screens.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
broker_up() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }
if [ -z "${TOTE_TEST_MQTT_BROKER:-}" ] && ! broker_up 127.0.0.1:1883; then
  command -v mosquitto >/dev/null 2>&1 || missing+=(mosquitto)
  start_mosquitto=1
fi
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
# The PostgreSQL restart test (e2e/pg_faults.rs) crashes and restarts a cluster of its own:
# it needs the server binaries (initdb, pg_ctl) even when a server already answers.
[ -n "$(pg_bin)" ] || missing+=(postgresql)
if [ -z "${TOTE_TEST_POSTGRES:-}" ] && ! broker_up 127.0.0.1:5432; then
  start_postgres=1
elif [ -z "${TOTE_TEST_POSTGRES:-}" ]; then
  command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
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
# A throwaway PostgreSQL cluster (trust auth, user postgres) for central's second backend. initdb
# refuses to run as root, so as root the cluster belongs to the postgres user the package made.
if [ "${start_postgres:-0}" = 1 ]; then
  bin=$(pg_bin)
  pgdata=$(mktemp -d)
  as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$pgdata"; fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_pg "$bin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 >/dev/null
  # Parallel tests each open a pool of connections: room for many. No fsync: the tests kill
  # central, never this server, and the cluster is thrown away.
  as_pg "$bin/pg_ctl" -D "$pgdata" -l "$pgdata/log" -w \
    -o "-p $port -k $pgdata -c listen_addresses=127.0.0.1 -c max_connections=500 -c fsync=off" start >/dev/null
  trap 'as_pg "$bin/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$pgdata"' EXIT
  export TOTE_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$port/postgres"
  echo "== started PostgreSQL on 127.0.0.1:$port"
fi
if [ -z "${TOTE_TEST_POSTGRES:-}" ]; then
  # The local server: the role and database the tests connect as, created once and kept.
  as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
  admin() { psql -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 -qAtc "$1" 2>/dev/null || as_postgres psql -d postgres -v ON_ERROR_STOP=1 -qAtc "$1"; }
  [ "$(admin "SELECT 1 FROM pg_roles WHERE rolname = 'tote'")" = 1 ] || admin "CREATE ROLE tote LOGIN CREATEDB"
  [ "$(admin "SELECT 1 FROM pg_database WHERE datname = 'tote'")" = 1 ] || admin "CREATE DATABASE tote OWNER tote"
  # Databases left by an earlier run that was killed before it could drop them.
  for db in $(admin "SELECT datname FROM pg_database WHERE datname LIKE 'tote_test_%'"); do admin "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null; done
  export TOTE_TEST_POSTGRES="postgresql://tote@127.0.0.1:5432/tote"
fi
echo "== PostgreSQL for the tests: $TOTE_TEST_POSTGRES"
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
# The payment channels' own SDKs, peers of central's WeChat Pay, Alipay and Stripe code
# (tests/payment_peers.py), at exactly these versions.
pay_sdks=('wechatpayv3==2.0.4' 'alipay-sdk-python==3.7.1411' 'stripe==16.1.0')
if ! python3 -c 'import sys; from importlib.metadata import version
sys.exit(any(version(n) != v for n, v in (a.split("==") for a in sys.argv[1:])))' "${pay_sdks[@]}" >/dev/null 2>&1; then
  echo "== installing test peers: ${pay_sdks[*]}"
  python3 -m pip install --quiet "${pay_sdks[@]}" || python3 -m pip install --quiet --break-system-packages "${pay_sdks[@]}"
fi
# The OpenAPI fuzzer both daemons' documents are held to (tests/tests/e2e/openapi.rs), at
# exactly this version (its checks and defaults change between releases).
if ! python3 -c 'import sys; from importlib.metadata import version; sys.exit(version("schemathesis") != "4.32.5")' >/dev/null 2>&1; then
  echo "== installing test peer: schemathesis 4.32.5"
  python3 -m pip install --quiet 'schemathesis==4.32.5' || python3 -m pip install --quiet --break-system-packages 'schemathesis==4.32.5'
fi

# beancount and beanquery: an independent accounting engine that books the exported ledger
# (FIFO lots included) and must agree with finance to the cent.
if ! python3 -c 'import sys; from importlib.metadata import version; sys.exit(version("beancount") != "3.2.3" or version("beanquery") != "0.2.0")' >/dev/null 2>&1; then
  echo "== installing test peer: beancount 3.2.3, beanquery 0.2.0"
  python3 -m pip install --quiet 'beancount==3.2.3' 'beanquery==0.2.0' || python3 -m pip install --quiet --break-system-packages 'beancount==3.2.3' 'beanquery==0.2.0'
fi
# Siemens' vda-5050-lib: third-party VDA 5050 vehicles for the mixed-fleet tests, pinned by
# tests/vda5050-lib/package-lock.json.
if ! (cd tests/vda5050-lib && [ -d node_modules ] && npm ls --all >/dev/null 2>&1); then
  echo "== installing test peer: vda-5050-lib (npm ci)"
  (cd tests/vda5050-lib && npm ci --no-audit --no-fund --loglevel=error)
fi

# cargo-fuzz: coverage-guided fuzzing of the parsers that take outside input (fuzz/). Built on the
# machine's stable toolchain with RUSTC_BOOTSTRAP=1 (cargo fuzz needs nightly flags).
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing test peer: cargo-fuzz 0.13.2"
  cargo install --quiet --locked cargo-fuzz --version 0.13.2
fi

export CARGO_TERM_COLOR=never
echo "== lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast --config-file tests/nextest.toml
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi

echo "== fuzzing (short run: 10 s per target from the kept corpus; BENCHMARKS.md has the long run)"
for target in $(cargo fuzz list --fuzz-dir fuzz); do
  found=$(mktemp -d)
  # New inputs go to a scratch directory: the kept corpus changes only by hand (cargo fuzz cmin).
  # Without AddressSanitizer: building both daemons with it was the slowest step of the suite on
  # 2 cores, and the code is safe Rust, so a bug here is a panic either way (the long run in
  # BENCHMARKS.md keeps the sanitizer). Release, as the daemons ship: a debug build stops on
  # tokio-modbus's debug assertion that a device's answer holds every coil asked for, where the
  # release build truncates and the station map's decode takes the short answer.
  log="$found.log"
  if ! RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz -O --sanitizer none "$target" "$found" "fuzz/corpus/$target" -- -max_total_time=10 >"$log" 2>&1; then
    grep -a -m1 -A12 -E "panicked at|ERROR: libFuzzer|SUMMARY" "$log" || tail -n 60 "$log"
    grep -a -E "Test unit written|cargo fuzz run" "$log" | head -n 3
    echo "== fuzz target $target failed"
    exit 1
  fi
  tail -n 1 "$log"
  rm -rf "$found" "$log"
done

echo "== demo story (smoke)"
cargo run --locked -q -p tote-sim -- demo --once --port 0
echo "== all green"
