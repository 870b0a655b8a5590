#!/usr/bin/env bash
# Prints the flash (.text) cost of tinyproto-core + its blocking driver on thumbv7em-none-eabihf
# at opt-level "z": the probe firmware minus the same firmware without tinyproto.
set -euo pipefail
cd "$(dirname "$0")"
size_tool=$(command -v llvm-size || command -v arm-none-eabi-size || true)
[ -n "$size_tool" ] || { echo "need llvm-size or arm-none-eabi-size (apt-get install llvm)"; exit 1; }
target=thumbv7em-none-eabihf
text() { "$size_tool" -A "$1" | awk '$1 == ".text" { print $2 }'; }
cargo build --quiet --release --target $target --features baseline --target-dir target/baseline
cargo build --quiet --release --target $target --target-dir target/full
base=$(text target/baseline/$target/release/tinyproto-size-probe)
full=$(text target/full/$target/release/tinyproto-size-probe)
echo "| firmware | .text bytes |"
echo "| --- | ---: |"
echo "| runtime only (cortex-m-rt, panic-halt, memcpy, byte loop) | $base |"
echo "| with tinyproto-core blocking echo | $full |"
echo "| tinyproto-core + blocking driver (difference) | $((full - base)) |"
# The project's target for the core + blocking driver.
if [ $((full - base)) -gt 2048 ]; then
  echo "tinyproto-core + blocking driver is over the 2 KiB target"
  exit 1
fi
