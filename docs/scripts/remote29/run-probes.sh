#!/usr/bin/env bash
# remote29: the byte-path probes, interleaved rounds (root: userfaultfd). Usage: docs/scripts/remote29/run-probes.sh [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
for p in zerocopy-frags zerocopy-pipeline receive-copy; do gcc -O2 -o "$out/$p" "$here/$p.c"; done
cd "$out"
rounds=${1:-5}
for r in $(seq "$rounds"); do
  for m in sendfile sendhdr send zcsend; do ./zerocopy-frags $m 256 || true; done
  ./zerocopy-pipeline base 512; ./zerocopy-pipeline zc 512 || true
  ./receive-copy ring 512 4096 7; ./receive-copy ring 512 4096 0; ./receive-copy ring 512 1024 0; ./receive-copy ring 512 256 0
  ./receive-copy waitall 512 4096 0; HUGE=1 ./receive-copy ring 512 4096 7; COLD=1 ./receive-copy ring 512 4096 7
done
