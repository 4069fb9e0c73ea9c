import json,statistics,sys
def f(v): return f"{statistics.median(v):.3g} ({min(v):.3g}–{max(v):.3g})"
arms=None; rows={}
for name in sys.argv[1:]:
    r=json.load(open(name+'.json'))
    for s in r['criu_scenarios']:
        ok=[d for d in s['run_details'] if d['ok']]
        key=(s['scenario'],name)
        rows.setdefault(key,{})[s['daemon']]=ok
order=['env-B=base','env-B=fol','env-B=wtroff','criu']
print('| scenario, run | base | fol | wtroff | CRIU\'s daemon |'); print('|---|---|---|---|---|')
for (sc,name),arms in sorted(rows.items()):
    cells=[f([d['all_verified_s'] for d in arms[a]])+f", {len(arms[a])}" for a in order]
    print(f"| {sc} {name}: start → verified/answer, s | "+' | '.join(cells)+' |')
    cells=[f([d['restore_s'] for d in arms[a]]) for a in order]
    print(f"| {sc} {name}: `criu restore` itself, s | "+' | '.join(cells)+' |')
    cells=[f"{statistics.median([d['daemon_cpu_s_per_gib'] for d in arms[a]]):.3g}" for a in order]
    print(f"| {sc} {name}: daemon CPU s/GiB | "+' | '.join(cells)+' |')
    if sc.startswith('tree'):
        cells=[f"{max(max(t['p99_us'] for t in d['tasks']) for d in arms[a]):.3g}" for a in order]
        print(f"| {sc} {name}: worst run's worst-task p99, µs | "+' | '.join(cells)+' |')
