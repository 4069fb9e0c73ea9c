#!/bin/bash
# G: gen0 budget set by the runtime's own env knobs (DOTNET_GCgen0size, hex) against base, -v 3 logs kept for the GC counts
set -u
N=$1; R=${2:-8}
cd /work/fol80; T=src/Tools/bin/Release/net10.0/LazyActors.Tools.dll; B=/tmp/la-host81/LazyActors.Host
rm -rf /tmp/fol80/k$N; mkdir -p /tmp/fol80/k$N
date -u +"start %H:%M:%S"
dotnet $T bench --restorer criu -s python-192m,single-1g-seq \
  --daemon "env B=base $B lazy-pages -v 3" \
  --daemon "env B=g0 DOTNET_GCgen0size=4000000 $B lazy-pages -v 3" --daemon criu \
  --runs $R --run-budget 60 --keep-temp --temp-dir /tmp/fol80/k$N --json /tmp/fol80/$N.json
echo rc=$?
date -u +"end %H:%M:%S"
