import json,statistics,sys
r=json.load(open(sys.argv[1]))
for s in r['criu_scenarios']:
    ok=[d for d in s['run_details'] if d['ok']]
    v=[d['all_verified_s'] for d in ok]
    rs=[d['restore_s'] for d in ok]
    print(f"{s['scenario']:18} {s['daemon']:14} n={len(ok)}/{len(s['run_details'])} start->answer {statistics.median(v):.3f} ({min(v):.3f}-{max(v):.3f})  restore {statistics.median(rs):.3f} ({min(rs):.3f}-{max(rs):.3f}) cpu/GiB {statistics.median([d['daemon_cpu_s_per_gib'] for d in ok]):.3f}")
