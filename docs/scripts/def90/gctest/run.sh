#!/bin/bash
# Is a gen0 budget honoured by CoreCLR (the `dotnet LazyActors.Host.dll` form) from the environment and from
# runtimeconfig.json? A 1 MiB budget must raise the collections of 12 MiB of allocations from 0/0/0 (this VM's
# cache-sized budget) if it is honoured.
set -u
D=/tmp/def90/gct; mkdir -p $D; cp "$(dirname "$0")"/gct.csproj "$(dirname "$0")"/Program.cs $D/
cd $D && dotnet build -c Release -o out >/dev/null && cd out && cp gct.runtimeconfig.json rc.orig
echo "none: $(dotnet gct.dll)"; echo "env DOTNET_GCgen0size=100000: $(DOTNET_GCgen0size=100000 dotnet gct.dll)"
for key in System.GC.Gen0Size GCgen0size; do for val in 1048576 '"0x100000"' '"100000"'; do
  python3 -c "import json,sys; r=json.load(open('rc.orig')); r['runtimeOptions']['configProperties'][sys.argv[1]]=json.loads(sys.argv[2]); json.dump(r,open('gct.runtimeconfig.json','w'))" "$key" "$val"
  echo "runtimeconfig $key=$val: $(dotnet gct.dll)"; done; done
cp rc.orig gct.runtimeconfig.json
