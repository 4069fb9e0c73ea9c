#!/bin/bash
# K: does the published daemon garbage-collect on this VM, and does DOTNET_GCgen0size (hex) reach the NativeAOT daemon?
# Three arms of the baseline publish with -v 3 (the log's "done ... GCs g0/g1/g2" line): no knob, 64 MiB (4000000),
# 1 MiB (100000: if the knob is honoured, the count must rise).
set -u
N=$1; R=${2:-2}; S=${3:-python-192m,tree-8x128-rand}
cd /work/def90; T=src/Tools/bin/Release/net10.0/LazyActors.Tools.dll; B=/tmp/la-host90/LazyActors.Host
rm -rf /tmp/def90/k$N; mkdir -p /tmp/def90/k$N
date -u +"start %H:%M:%S"; uptime
dotnet $T bench --restorer criu -s $S \
  --daemon "env B=base $B lazy-pages -v 3" \
  --daemon "env B=g64 DOTNET_GCgen0size=4000000 $B lazy-pages -v 3" \
  --daemon "env B=g1 DOTNET_GCgen0size=100000 $B lazy-pages -v 3" \
  --runs $R --run-budget 60 --keep-temp --temp-dir /tmp/def90/k$N --json /tmp/def90/$N.json
echo rc=$?
date -u +"end %H:%M:%S"; uptime
