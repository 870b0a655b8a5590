#!/usr/bin/env bash
# The core's firmware size probe is the `core` binary of the one probe package,
# transport-smoltcp/size-probe; this forwards to it (use that script directly:
# `bash transport-smoltcp/size-probe/measure.sh core`).
exec bash "$(dirname "$0")/../../transport-smoltcp/size-probe/measure.sh" core "$@"
