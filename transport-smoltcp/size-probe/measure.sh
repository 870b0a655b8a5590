#!/usr/bin/env bash
# Prints the flash (.text) of a minimal tinyproto echo firmware on smoltcp for
# thumbv7em-none-eabihf at opt-level "z" with LTO, and what each layer adds.
set -euo pipefail
cd "$(dirname "$0")"
size_tool=$(command -v llvm-size || command -v arm-none-eabi-size || true)
[ -n "$size_tool" ] || { echo "need llvm-size or arm-none-eabi-size (apt-get install llvm)"; exit 1; }
target=thumbv7em-none-eabihf
text() { "$size_tool" -A "$1" | awk '$1 == ".text" { print $2 }'; }
build() { cargo build --quiet --release --target $target --target-dir "target/$1" ${2:+--features $2}; }
build baseline baseline
build smoltcp smoltcp-only
build full
bin=release/tinyproto-smoltcp-size-probe
base=$(text target/baseline/$target/$bin)
smol=$(text target/smoltcp/$target/$bin)
full=$(text target/full/$target/$bin)
echo "| firmware ($target, opt-level z, LTO) | .text bytes |"
echo "| --- | ---: |"
echo "| runtime only (cortex-m-rt, panic-halt, memcpy) | $base |"
echo "| plain smoltcp TCP echo (Ethernet, IPv4, TCP; 3 sockets) | $smol |"
echo "| tinyproto echo server on smoltcp (core + smoltcp + tinyproto-smoltcp) | $full |"
echo "| tinyproto-core + tinyproto-smoltcp (difference to plain smoltcp) | $((full - smol)) |"
