#!/bin/bash
# C: which of the daemon's choices the tree's worst first touch depends on, under perf's context switches as in
# sched.sh: base; g1 (a 1 MiB gen0 budget: 2-3 gen0 + 1 gen1 collections per restore, as on a VM that reports no cache);
# bgnormal (lazy-actors.engine.scheduling.background-priority = normal: the push's slices at nice 0 instead of
# SCHED_FIFO 1). -v 3 for the GC counts. Analysis: stalls.py /tmp/def90/kC /tmp/def90/C.perf.txt; tab.py C
set -u
N=$1; R=${2:-5}; S=${3:-tree-8x128-rand,single-1g-seq,python-192m}
cd /work/def90; T=src/Tools/bin/Release/net10.0/LazyActors.Tools.dll; B=/tmp/la-host90/LazyActors.Host; C=/tmp/def90/cf
rm -rf /tmp/def90/k$N; mkdir -p /tmp/def90/k$N
date -u +"start %H:%M:%S"; uptime
perf record -a -k CLOCK_MONOTONIC -e sched:sched_switch -e sched:sched_wakeup -e sched:sched_wakeup_new -o /tmp/def90/$N.perf.data >/tmp/def90/$N.perf.log 2>&1 &
PERF=$!
sleep 1
dotnet $T bench --restorer criu -s $S \
  --daemon "env B=base $B lazy-pages -v 3" \
  --daemon "env B=g1 DOTNET_GCgen0size=100000 $B lazy-pages -v 3" \
  --daemon "env B=bgnormal $B lazy-pages -v 3 --config $C/bgnormal.conf" \
  --runs $R --run-budget 60 --keep-temp --temp-dir /tmp/def90/k$N --json /tmp/def90/$N.json
echo rc=$?
kill -INT $PERF; wait $PERF
perf script -i /tmp/def90/$N.perf.data -F comm,pid,tid,cpu,time,event,trace > /tmp/def90/$N.perf.txt 2>/dev/null
date -u +"end %H:%M:%S"; uptime
