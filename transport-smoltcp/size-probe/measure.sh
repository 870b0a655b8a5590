#!/usr/bin/env bash
# Prints the flash (.text) of minimal firmwares for thumbv7em-none-eabihf at opt-level "z"
# with LTO, each beside the same firmware without tinyproto:
#   measure.sh core      tinyproto-core + its blocking driver; fails above the 2 KiB target
#   measure.sh async     tinyproto-core + its async driver (feature async)
#   measure.sh smoltcp   a tinyproto echo server on smoltcp, and what each layer adds (default)
#   measure.sh all       all three
set -euo pipefail
cd "$(dirname "$0")"
size_tool=$(command -v llvm-size || command -v arm-none-eabi-size || true)
[ -n "$size_tool" ] || { echo "need llvm-size or arm-none-eabi-size (apt-get install llvm)"; exit 1; }
target=thumbv7em-none-eabihf
# build DIR BIN [FEATURE]: one target directory per feature set, shared by both binaries.
build() { cargo build --quiet --release --target $target --target-dir "target/$1" --bin "$2" ${3:+--features $3}; }
text() { "$size_tool" -A "target/$1/$target/release/$2" | awk '$1 == ".text" { print $2 }'; }
# table HEADING ROW...: a Markdown table; each ROW is "label=bytes".
table() {
  echo "| $1 | .text bytes |"
  echo "| --- | ---: |"
  shift
  for row in "$@"; do echo "| ${row%=*} | ${row##*=} |"; done
}

core() {
  build baseline core baseline
  build full core
  local base full
  base=$(text baseline core)
  full=$(text full core)
  table "firmware" \
    "runtime only (cortex-m-rt, panic-halt, memcpy, byte loop)=$base" \
    "with tinyproto-core blocking echo=$full" \
    "tinyproto-core + blocking driver (difference)=$((full - base))"
  # The project's target for the core + blocking driver.
  if [ $((full - base)) -gt 2048 ]; then
    echo "tinyproto-core + blocking driver is over the 2 KiB target"
    return 1
  fi
}

async_core() {
  build baseline core-async baseline
  build full core-async
  local base full
  base=$(text baseline core-async)
  full=$(text full core-async)
  table "firmware" \
    "runtime only (cortex-m-rt, panic-halt, memcpy, async byte loop, no-op-waker executor)=$base" \
    "with tinyproto-core async echo=$full" \
    "tinyproto-core + async driver (difference)=$((full - base))"
}

smoltcp() {
  build baseline smoltcp baseline
  build smoltcp smoltcp smoltcp-only
  build full smoltcp
  local base smol full
  base=$(text baseline smoltcp)
  smol=$(text smoltcp smoltcp)
  full=$(text full smoltcp)
  table "firmware ($target, opt-level z, LTO)" \
    "runtime only (cortex-m-rt, panic-halt, memcpy)=$base" \
    "plain smoltcp TCP echo (Ethernet, IPv4, TCP; 3 sockets)=$smol" \
    "tinyproto echo server on smoltcp (core + smoltcp + tinyproto-smoltcp)=$full" \
    "tinyproto-core + tinyproto-smoltcp (difference to plain smoltcp)=$((full - smol))"
}

case "${1:-smoltcp}" in
  core) core ;;
  smoltcp) smoltcp ;;
  async) async_core ;;
  # Every table, the core's verdict on the 2 KiB target last.
  all) smoltcp; async_core; core ;;
  *) echo "usage: $0 [core|async|smoltcp|all]"; exit 2 ;;
esac
