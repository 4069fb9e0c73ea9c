#!/bin/bash
# A, B, ...: the four arms of issue 10's two candidate defaults, interleaved, plus CRIU's own daemon, all on the
# baseline publish (main 33039ae, /tmp/la-host90): base; g64 = a 64 MiB gen0 budget through the runtime's own knob
# (DOTNET_GCgen0size, hex; the NativeAOT daemon honours it: gccheck.sh); pop = mapped-pages-populate = on +
# mapped-pages-release = off (cf/pop.conf); both = the two together. --keep-temp keeps each run's slow-N.tsv and logs.
set -u
N=$1; R=${2:-5}; S=${3:-single-1g-seq,tree-8x128-rand,python-192m}
cd /work/def90; T=src/Tools/bin/Release/net10.0/LazyActors.Tools.dll; B=/tmp/la-host90/LazyActors.Host; C=/tmp/def90/cf
rm -rf /tmp/def90/k$N; mkdir -p /tmp/def90/k$N
date -u +"start %H:%M:%S"; uptime
dotnet $T bench --restorer criu -s $S \
  --daemon "env B=base $B lazy-pages" \
  --daemon "env B=g64 DOTNET_GCgen0size=4000000 $B lazy-pages" \
  --daemon "env B=pop $B lazy-pages --config $C/pop.conf" \
  --daemon "env B=both DOTNET_GCgen0size=4000000 $B lazy-pages --config $C/pop.conf" \
  --daemon criu --runs $R --run-budget 60 --keep-temp --temp-dir /tmp/def90/k$N --json /tmp/def90/$N.json
echo rc=$?
date -u +"end %H:%M:%S"; uptime
