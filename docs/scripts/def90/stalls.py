# For each slow first touch of the tree's tasks (slow-N.tsv: start and duration, already on the host's CLOCK_MONOTONIC:
# criu_workload takes CRIU's time-namespace offset out), how long the task was on a CPU, runnable without one (preempted or
# woken and waiting), or blocked (waiting in its fault for the daemon), from perf's sched_switch / sched_wakeup
# (CLOCK_MONOTONIC). Also who held the CPUs while a task was runnable, and the daemon's GC counts (-v 3 log).
# python3 stalls.py KDIR PERF.txt [min_ms [arm]]   (arm: only run directories whose name ends in it, e.g. envBbase)
import glob, json, os, re, sys, collections
kdir, ptxt = sys.argv[1], sys.argv[2]; min_ms = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
arm = sys.argv[4] if len(sys.argv) > 4 else ''
sw = re.compile(r'^\s*(.+?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)$')
kv = re.compile(r'(\w+)=(.*?)(?=\s+\w+=|\s+==>|$)')
events = collections.defaultdict(list)   # tid -> [(t, 'run'|'R'|'S', cpu)]
oncpu = collections.defaultdict(list)    # cpu -> [(t, tid, comm)]  who runs from t
for line in open(ptxt, errors='replace'):
    m = sw.match(line)
    if not m: continue
    t = float(m.group(5)); ev = m.group(6); rest = m.group(7); cpu = int(m.group(4))
    if ev == 'sched_switch':
        a, b = rest.split('==>')
        pa = dict(kv.findall(a.strip())); pb = dict(kv.findall(b.strip()))
        prev, nxt = int(pa['prev_pid']), int(pb['next_pid'])
        st = pa['prev_state']
        events[prev].append((t, 'R' if st.startswith('R') else 'S', cpu))
        events[nxt].append((t, 'run', cpu))
        oncpu[cpu].append((t, nxt, pb['next_comm']))
    elif ev in ('sched_wakeup', 'sched_wakeup_new'):
        p = dict(kv.findall(rest.strip()))
        events[int(p['pid'])].append((t, 'W', cpu))
def split(tid, s, e):
    """seconds on cpu / runnable / blocked within [s, e]"""
    ev = events.get(tid, [])
    acc = {'run': 0.0, 'R': 0.0, 'S': 0.0}
    state, last = None, s
    for t, k, _ in ev:
        if t <= s:
            state = 'R' if k == 'W' and state != 'run' else k
            continue
        if t >= e: break
        if state: acc[state] += t - last
        last = t
        state = 'R' if k == 'W' else k
    if state: acc[state] += e - last
    return acc
def holders(s, e):
    c = collections.Counter()
    for cpu, lst in oncpu.items():
        cur = None; last = s
        for t, tid, comm in lst:
            if t <= s: cur = comm; continue
            if t >= e: break
            if cur: c[cur] += t - last
            cur, last = comm, t
        if cur: c[cur] += e - last
    return c
tot = collections.Counter(); n = 0; summary = []; allh = collections.Counter()
for rd in sorted(glob.glob(f'{kdir}/*/s*/r*-*')):
    res = sorted(glob.glob(f'{rd}/result-*.json'))
    if len(res) < 2 or not rd.endswith(arm): continue
    gcs = ''
    try:
        for l in open(f'{rd}/daemon.log', errors='replace'):
            if 'GCs ' in l: gcs = l[l.index('GCs '):].split(',')[0]
    except FileNotFoundError: pass
    print(f"\n{os.path.basename(rd)}  {gcs}")
    worst = None; worst_blocked = (0.0, None)
    for r in res:
        d = json.load(open(r)); i = d['task']; pid = d['pid']; t0 = d['trigger_mono_ns']
        slow = f'{rd}/slow-{i}.tsv'
        if not os.path.exists(slow): continue
        for l in open(slow).read().split('\n')[1:]:
            if not l: continue
            s, du, page, k = map(int, l.split('\t'))
            if du < min_ms * 1e6: continue
            hs, he = s / 1e9, (s + du) / 1e9
            a = split(pid, hs, he); n += 1
            if worst is None or du > worst[0]: worst = (du, i, a)
            if a['S'] > worst_blocked[0]: worst_blocked = (a['S'], i)
            for key in a: tot[key] += a[key]
            hh = holders(hs, he); allh.update(hh); h = hh.most_common(3)
            print(f"  task {i} pid {pid} touch#{k} at {(s - t0) / 1e6:7.1f} ms: {du / 1e6:6.1f} ms = on cpu {a['run'] * 1e3:5.1f}, runnable {a['R'] * 1e3:5.1f}, blocked {a['S'] * 1e3:5.1f}; cpus held by "
                  + ', '.join(f"{c} {v * 1e3:.0f}" for c, v in h))
    if worst: summary.append((os.path.basename(rd), gcs, worst, worst_blocked))
print("\nper run: the slowest touch and how it splits; the longest time any slow touch spent blocked (in its fault)")
for name, gcs, (du, i, a), (wb, wi) in summary:
    print(f"  {name:14s} {gcs:24s} max {du / 1e6:6.1f} ms (task {i}: runnable {a['R'] * 1e3:6.1f}, blocked {a['S'] * 1e3:5.1f}, on cpu {a['run'] * 1e3:4.1f});"
          f" longest blocked {wb * 1e3:5.1f} ms (task {wi})")
print(f"\n{n} slow touches >= {min_ms} ms: on cpu {tot['run'] * 1e3:.0f} ms, runnable {tot['R'] * 1e3:.0f} ms, blocked {tot['S'] * 1e3:.0f} ms")
held = sum(allh.values())
print("CPU time of both CPUs during the slow touches, by thread name: " + ', '.join(f"{c} {v / held * 100:.1f} %" for c, v in allh.most_common(12)))
