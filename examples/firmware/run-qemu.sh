#!/usr/bin/env bash
# Runs the firmware images on an emulated Cortex-M4 (qemu-system-arm -M mps2-an386) against the
# Python tinyproto package, 2.0.1 and 3.0, and prints one line per case, then "N passed, M failed".
#
#   UART (CMSDK UART0, joined by QEMU to a loopback TCP socket; no privileges needed), for the
#   image `uart` (BlockingConnection) and `uart-async` (AsyncConnection on embassy-executor):
#     firmware client -> Python echo server: hello, 0 B, 100 x 100 B, 3 x 10,000 B, SRVQUIT
#     Python client -> firmware server: 0 B, 20 x 100 B, 10,000 B, then SRVQUIT
#   Ethernet (LAN9118 on a TAP device inside a network namespace this script creates and
#   deletes; smoltcp at 192.168.69.1, the kernel at 192.168.69.100; needs root):
#     Python client -> firmware server: 0, 1, 100, 1,000, 10,000, 65,536 B, then SRVQUIT
#     (before it, limit_probe.py fills the 3 slots and checks that a 4th peer is answered fe)
#     firmware client -> Python echo server: hello, 0 B, 100 x 100 B, 3 x 65,000 B, SRVQUIT
#   A case that must fail: the firmware client against a server with a plugin it lacks; the
#   firmware must detect the mismatch and exit non-zero.
#
# Every QEMU and Python run is bounded by `timeout`. Without QEMU (or, for the Ethernet cases,
# without a network namespace) it prints a NOT RUN banner and exits 0; with CI set, it fails.
# Firmware output: examples/firmware/target/qemu-logs/. Last, the images' sizes (llvm-size).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python_dir=$root/examples/python
fw=$here/target/thumbv7em-none-eabihf/release
logs=$here/target/qemu-logs
run_limit=60 # seconds, each QEMU or Python process
ns=tp-fw-$$
passed=0
failed=0
not_run=()

not_run_banner() {
  echo "=================================================================="
  echo " NOT RUN: $1"
  echo "=================================================================="
  if [ -n "${CI:-}" ]; then
    echo "CI is set: a suite that cannot run is a failure"
    exit 1
  fi
}

if ! command -v qemu-system-arm >/dev/null; then
  not_run_banner "firmware suite (qemu-system-arm missing: apt-get install qemu-system-arm)"
  exit 0
fi

bash "$root/.ci/setup-python" >/dev/null || exit 1
(cd "$here" && cargo build --release --quiet) || exit 1
rm -rf "$logs" && mkdir -p "$logs"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  ip netns delete "$ns" 2>/dev/null
}
trap cleanup EXIT

# Commands run inside the namespace for the Ethernet cases (`ip netns exec NS`), else nothing.
wrap=()

# qemu IMAGE LOG ARG... : runs an image (with the options in qemu_extra); the semihosting command
# line is ARG...
qemu() {
  local image=$1 log=$2
  shift 2
  local semi="enable=on,target=native"
  for a in "$@"; do semi+=",arg=$a"; done
  "${wrap[@]}" timeout "$run_limit" qemu-system-arm -M mps2-an386 -display none -monitor none \
    -kernel "$fw/$image" -semihosting-config "$semi" "${qemu_extra[@]}" >"$log" 2>&1
}

# py VERSION SCRIPT ARG... : one of the example programs under the venv of VERSION.
py() {
  local version=$1 script=$2
  shift 2
  (cd "$python_dir" && "${wrap[@]}" timeout "$run_limit" "$root/target/py/venv-$version/bin/python" -u "$script" "$@")
}

# wait_for FILE TEXT : until FILE contains TEXT (5 s at most).
wait_for() {
  for _ in $(seq 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# report NAME OK DETAIL LOG... : one line for the case; on failure, the tail of each log.
report() {
  local name=$1 ok=$2 detail=$3
  shift 3
  if [ "$ok" = 1 ]; then
    passed=$((passed + 1))
    echo "PASS  $name${detail:+ ($detail)}"
  else
    failed=$((failed + 1))
    echo "FAIL  $name"
    for log in "$@"; do
      echo "  --- $log"
      tail -n 15 "$log" | sed 's/^/  | /'
    done
  fi
}

# The firmware's per-batch times, on one line.
batch_times() { grep -h '^batch' "$1" | sed 's/^batch //' | paste -sd ';' | sed 's/;/; /g'; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The Python client's messages to a UART server (fewer than the firmware client sends: the Python
# 3.0 client takes 30 to 100 ms a message, its connection lock held across a 30 ms select).
uart_sizes=0,$(printf '100,%.0s' $(seq 20))10000

# The label of a UART image in the report.
uart_label() { [ "$1" = uart ] && echo UART || echo "UART async (embassy)"; }

uart_client() { # IMAGE VERSION [PLUGIN]: firmware client -> Python server on 127.0.0.1
  local image=$1 v=$2 plugin=${3:-} tag=$1-client-$2${3:+-$3} label
  label=$(uart_label "$image")
  local srv=$logs/$tag.python.log fwlog=$logs/$tag.firmware.log
  py "$v" echo_server.py --port 0 ${plugin:+--plugin $plugin} >"$srv" 2>&1 &
  local srv_pid=$!
  pids+=("$srv_pid")
  wait_for "$srv" LISTENING || { report "$tag" 0 "" "$srv"; return; }
  local port
  port=$(awk '/LISTENING/ { print $2 }' "$srv")
  qemu_extra=(-serial "tcp:127.0.0.1:$port,nodelay=on")
  qemu "$image" "$fwlog" client 1x0 100x100 3x10000
  local rc=$?
  if [ -n "$plugin" ]; then
    kill "$srv_pid" 2>/dev/null
    wait "$srv_pid" 2>/dev/null
    # Must fail: the firmware sees replies that are not the echo of its messages.
    local ok=0
    [ "$rc" -ne 0 ] && grep -q MISMATCH "$fwlog" && ok=1
    report "$label, firmware client vs Python $v server with plugin $plugin: must fail" "$ok" \
      "firmware exit status $rc, $(grep -o 'MISMATCH.*' "$fwlog" | head -1)" "$fwlog" "$srv"
    return
  fi
  wait "$srv_pid"
  local src=$? ok=0
  [ "$rc" -eq 0 ] && [ "$src" -eq 0 ] && grep -q '^PASS' "$fwlog" && grep -q 'SERVER STOPPED' "$srv" && ok=1
  report "$label, firmware client vs Python $v server" "$ok" "$(batch_times "$fwlog")" "$fwlog" "$srv"
}

uart_server() { # IMAGE VERSION: Python client -> firmware server (QEMU listens on a loopback port)
  local image=$1 v=$2 tag=$1-server-$2 label
  label=$(uart_label "$image")
  local cli=$logs/$tag.python.log fwlog=$logs/$tag.firmware.log port
  port=$(free_port)
  qemu_extra=(-serial "tcp:127.0.0.1:$port,server=on,wait=on,nodelay=on")
  qemu "$image" "$fwlog" server &
  local fw_pid=$!
  pids+=("$fw_pid")
  for _ in $(seq 100); do
    [ -n "$(ss -Hltn "sport = :$port")" ] && break
    sleep 0.05
  done
  local start=$SECONDS
  py "$v" echo_client.py --port "$port" --sizes "$uart_sizes" --finally SRVQUIT >"$cli" 2>&1
  local crc=$?
  wait "$fw_pid"
  local rc=$? ok=0
  [ "$rc" -eq 0 ] && [ "$crc" -eq 0 ] && grep -q '^OK 22' "$cli" && ok=1
  report "$label, Python $v client vs firmware server" "$ok" \
    "$(grep -o 'server: .*' "$fwlog"), $((SECONDS - start)) s" "$fwlog" "$cli"
}

eth_server() { # VERSION: Python client -> firmware server at 192.168.69.1:9123
  local v=$1 tag=eth-server-$1
  local cli=$logs/$tag.python.log fwlog=$logs/$tag.firmware.log
  qemu_extra=(-serial null -nic tap,ifname=tap0,script=no,downscript=no)
  qemu eth "$fwlog" server 9123 &
  local fw_pid=$!
  pids+=("$fw_pid")
  wait_for "$fwlog" LISTENING || { report "$tag" 0 "" "$fwlog"; return; }
  # The connection limit first: 3 slots taken, a 4th peer answered fe; then the slots re-arm.
  local limit=$logs/$tag.limit.log
  "${wrap[@]}" timeout "$run_limit" python3 "$here/limit_probe.py" 192.168.69.1 9123 3 >"$limit" 2>&1
  for _ in $(seq 100); do
    [ "$(grep -c 'closed by peer' "$fwlog")" -ge 3 ] && break
    sleep 0.05
  done
  py "$v" echo_client.py --host 192.168.69.1 --port 9123 \
    --sizes 0,1,100,1000,10000,65536 --finally SRVQUIT >"$cli" 2>&1
  local crc=$?
  wait "$fw_pid"
  local rc=$? ok=0
  [ "$rc" -eq 0 ] && [ "$crc" -eq 0 ] && grep -q '^OK 6' "$cli" && grep -q '^PASS' "$fwlog" &&
    grep -q 'LIMIT OK' "$limit" && ok=1
  report "Ethernet, Python $v client vs firmware server" "$ok" \
    "limit: 4th peer answered fe; 0 to 65,536 B and SRVQUIT; $(grep -o 'server: .*' "$fwlog")" \
    "$fwlog" "$limit" "$cli"
}

eth_client() { # VERSION: firmware client -> Python server at 192.168.69.100
  local v=$1 tag=eth-client-$1
  local srv=$logs/$tag.python.log fwlog=$logs/$tag.firmware.log
  py "$v" echo_server.py --host 192.168.69.100 --port 0 >"$srv" 2>&1 &
  local srv_pid=$!
  pids+=("$srv_pid")
  wait_for "$srv" LISTENING || { report "$tag" 0 "" "$srv"; return; }
  local port
  port=$(awk '/LISTENING/ { print $2 }' "$srv")
  qemu_extra=(-serial null -nic tap,ifname=tap0,script=no,downscript=no)
  qemu eth "$fwlog" client "192.168.69.100:$port" 1x0 100x100 3x65000
  local rc=$?
  wait "$srv_pid"
  local src=$? ok=0
  [ "$rc" -eq 0 ] && [ "$src" -eq 0 ] && grep -q '^PASS' "$fwlog" && grep -q 'SERVER STOPPED' "$srv" && ok=1
  report "Ethernet, firmware client vs Python $v server" "$ok" "$(batch_times "$fwlog")" "$fwlog" "$srv"
}

started=$SECONDS
for image in uart uart-async; do
  for v in 2.0.1 3.0; do
    uart_client "$image" "$v"
    uart_server "$image" "$v"
  done
done
uart_client uart 3.0 xor5a

if ip netns add "$ns" 2>/dev/null &&
  ip -n "$ns" link set lo up &&
  ip -n "$ns" tuntap add dev tap0 mode tap &&
  ip -n "$ns" link set tap0 up &&
  ip -n "$ns" addr add 192.168.69.100/24 dev tap0; then
  wrap=(ip netns exec "$ns")
  for v in 2.0.1 3.0; do
    eth_server "$v"
    eth_client "$v"
  done
else
  not_run+=("Ethernet cases (no network namespace with a TAP device: needs root, iproute2, /dev/net/tun)")
fi

# The images' sizes (the README's firmware table).
if command -v llvm-size >/dev/null; then
  for image in uart uart-async eth; do
    llvm-size -A "$fw/$image" | awk -v i="$image" '$1 == ".text" { t = $2 } $1 == ".rodata" { r = $2 }
      $1 == ".bss" { b = $2 } END { printf "size  %s image: .text %d B, .rodata %d B, .bss %d B\n", i, t, r, b }'
  done
fi
for what in "${not_run[@]}"; do not_run_banner "$what"; done
echo "$passed passed, $failed failed ($((SECONDS - started)) s)"
[ "$failed" -eq 0 ]
