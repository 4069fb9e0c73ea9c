#!/bin/bash
# P: the tree under `perf record` of every context switch and wake-up (CLOCK_MONOTONIC stamps), to tell for each slow
# first touch (the workload's slow-N.tsv, >= 0.25 ms) whether the task was blocked in its fault (waiting for the daemon)
# or runnable without a CPU (preempted). Arms: base, g64 and g1 (a 1 MiB gen0 budget: collections as on a VM that
# reports no cache), -v 3 for the daemon's GC counts. Analysis: stalls.py /tmp/def90/kP /tmp/def90/P.perf.txt
set -u
N=$1; R=${2:-3}
cd /work/def90; T=src/Tools/bin/Release/net10.0/LazyActors.Tools.dll; B=/tmp/la-host90/LazyActors.Host
rm -rf /tmp/def90/k$N; mkdir -p /tmp/def90/k$N
date -u +"start %H:%M:%S"; uptime
perf record -a -k CLOCK_MONOTONIC -e sched:sched_switch -e sched:sched_wakeup -e sched:sched_wakeup_new -o /tmp/def90/$N.perf.data >/tmp/def90/$N.perf.log 2>&1 &
PERF=$!
sleep 1
dotnet $T bench --restorer criu -s tree-8x128-rand \
  --daemon "env B=base $B lazy-pages -v 3" \
  --daemon "env B=g64 DOTNET_GCgen0size=4000000 $B lazy-pages -v 3" \
  --daemon "env B=g1 DOTNET_GCgen0size=100000 $B lazy-pages -v 3" \
  --runs $R --run-budget 60 --keep-temp --temp-dir /tmp/def90/k$N --json /tmp/def90/$N.json
echo rc=$?
kill -INT $PERF; wait $PERF
perf script -i /tmp/def90/$N.perf.data -F comm,pid,tid,cpu,time,event,trace > /tmp/def90/$N.perf.txt 2>/dev/null
date -u +"end %H:%M:%S"; uptime
