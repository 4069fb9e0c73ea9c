#!/bin/bash
# V: the native daemon published with -p:LazyActorsGcGen0Size=4000000 (/tmp/def90/host, this branch) logs the embedded
# budget on its last line, and DOTNET_GCgen0size still overrides it at run time; one python restore each, -v 3.
set -u
N=${1:-V}
cd /work/def90; T=src/Tools/bin/Release/net10.0/LazyActors.Tools.dll; H=/tmp/def90/host/LazyActors.Host
rm -rf /tmp/def90/k$N; mkdir -p /tmp/def90/k$N
dotnet $T bench --restorer criu -s python-192m --daemon "env B=emb $H lazy-pages -v 3" \
  --daemon "env B=emb1m DOTNET_GCgen0size=100000 $H lazy-pages -v 3" \
  --runs 1 --run-budget 60 --keep-temp --temp-dir /tmp/def90/k$N --json /tmp/def90/$N.json > /tmp/def90/$N.log 2>&1
echo rc=$?
grep -h "GCs " /tmp/def90/k$N/*/s*/r*/daemon.log
