#!/bin/bash
# usage: bench.sh NAME [extra arm]
set -u
N=$1; shift
cd /work/fol80; T=src/Tools/bin/Release/net10.0/LazyActors.Tools.dll; B=/tmp/la-host81/LazyActors.Host; C=/tmp/fol80/cf
mkdir -p /tmp/fol80/b
date -u +"start %H:%M:%S" 
dotnet $T bench --restorer criu -s python-192m,single-1g-seq,tree-8x128-rand \
  --daemon "env B=base $B lazy-pages" --daemon "env B=fol $B lazy-pages --config $C/fol.conf" \
  --daemon "env B=wtroff $B lazy-pages --config $C/wtroff.conf" "$@" --daemon criu \
  --runs 10 --run-budget 60 --temp-dir /tmp/fol80/b --json /tmp/fol80/$N.json
echo rc=$?
date -u +"end %H:%M:%S"
