import sys,subprocess
out=subprocess.run(['perf','script','-i',sys.argv[1]],capture_output=True,text=True).stdout
first=None; res=[]; hdr=None; stack=[]
def flush():
    if hdr and any('GarbageCollectGeneration' in s for s in stack):
        res.append((hdr[0], round((hdr[1]-first)*1000), [s for s in stack if 'LazyActors_' in s or 'Akka_' in s][:2]))
for line in out.splitlines()+['']:
    if line and not line[0].isspace():
        flush(); w=line.split(); t=float([x for x in w if x.endswith(':') and x[:-1].replace('.','').isdigit()][0][:-1])
        if first is None: first=t
        hdr=(w[0],t); stack=[]
    elif line.strip(): stack.append(line.strip().split(' ',1)[1])
flush()
import itertools
for k,g in itertools.groupby(res,key=lambda r:(r[0],r[1]//20)):
    g=list(g); print(f"{k[0]:16} t={g[0][1]}ms n={len(g)} {g[0][2]}")
