#!/bin/bash
# H: the publish with the embedded gen0 budget (new) against the baseline publish (base) and CRIU's daemon
set -u
N=$1; R=${2:-8}
cd /work/fol80; T=src/Tools/bin/Release/net10.0/LazyActors.Tools.dll
rm -rf /tmp/fol80/k$N; mkdir -p /tmp/fol80/k$N
date -u +"start %H:%M:%S"
dotnet $T bench --restorer criu -s python-192m,single-1g-seq,tree-8x128-rand \
  --daemon "env B=base /tmp/la-host81/LazyActors.Host lazy-pages" \
  --daemon "env B=new /tmp/fol80/host/LazyActors.Host lazy-pages" --daemon criu \
  --runs $R --run-budget 60 --keep-temp --temp-dir /tmp/fol80/k$N --json /tmp/fol80/$N.json
echo rc=$?
date -u +"end %H:%M:%S"
