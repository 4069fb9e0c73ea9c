#!/usr/bin/env python3
# start41: CPU per phase of a restore from `lazy-pages -v 3` logs kept by `bench --keep-temp` (the start-up trace's
# CPU at each step) and the bench's stdout (rusage total per run). Usage: phases.py TEMP-DIR BENCH-STDOUT
import re,sys,glob,os,statistics as st
root=sys.argv[1]
out=open(sys.argv[2]).read()
# map workdir -> (scenario label, total cpu) from the bench output
cur={}
tot={}
for line in out.splitlines():
    m=re.search(r"started `env B=(\S+) .* -W (\S+) ",line)
    if m: cur[m.group(1)]=m.group(2); continue
    m=re.search(r"run \d+ @env-B=(\S+): .*daemon CPU ([0-9.]+) s",line)
    if m and m.group(1) in cur: tot[cur[m.group(1)]]=float(m.group(2))
steps=['ready signalled','actor system up','stand-ins warm','restorer accepted','first uffd','restore finished','all complete','torn down']
res={}
for log in glob.glob(root+'/*/s*/r*/daemon.log'):
    d=os.path.dirname(log); sc=d.split('/')[-2]; arm=d.split('-envB')[-1] if '-envB' in d else None
    if arm is None: continue
    t=open(log).read()
    m=re.search(r"start-up, ms after Main.*",t)
    if not m: continue
    line=m.group(0)
    cpu={}; ms={}
    for s in steps:
        mm=re.search(re.escape(s)+r" ([0-9.]+) \(JIT \d+, CPU (\d+)\)",line)
        if mm: ms[s]=float(mm.group(1)); cpu[s]=float(mm.group(2))
    mm=re.search(r"CPU now (\d+) ms",line); now=float(mm.group(1)) if mm else None
    total=tot.get(d)
    if 'ready signalled' not in cpu or 'restore finished' not in cpu or 'all complete' not in cpu: continue
    ph={'ready':cpu['ready signalled'],
        'ready->accepted':cpu.get('restorer accepted',0)-cpu['ready signalled'],
        'accepted->finished':cpu['restore finished']-cpu.get('restorer accepted',cpu['ready signalled']),
        'push(finished->complete)':cpu['all complete']-cpu['restore finished'],
        'complete->exit':(total*1000-cpu['all complete']) if total else float('nan'),
        'total':total*1000 if total else float('nan'),
        'ms:ready':ms['ready signalled'],'ms:warm':ms.get('stand-ins warm',float('nan')),'ms:accepted':ms.get('restorer accepted',float('nan')),'ms:finished':ms['restore finished'],'ms:complete':ms['all complete']}
    res.setdefault((sc,arm),[]).append(ph)
for (sc,arm) in sorted(res):
    rs=res[(sc,arm)]
    keys=list(rs[0].keys())
    print(sc,arm,len(rs),' | '.join(f"{k} {st.median([r[k] for r in rs]):.0f}" for k in keys))
