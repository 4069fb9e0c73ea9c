#!/usr/bin/env python3
"""CPU seconds per run of the daemon by kernel/user function (children = inclusive), summed over perf files of one arm.
usage: an.py DIR ARM... (files DIR/ARM.*.data, perf record -F 1999)"""
import glob, re, subprocess, sys, collections
KEYS = [  # (label, symbol) inclusive time, or self time for labels ending "(self)"
    ('all samples', None),
    ('UFFDIO_COPY (userfaultfd_ioctl)', 'userfaultfd_ioctl'),
    ('  _copy_from_user (self)', '_copy_from_user'),
    ('page faults, all (exc_page_fault)', 'exc_page_fault'),
    ('  of the mapped pages files (filemap_map_pages)', 'filemap_map_pages'),
    ('pread (__x64_sys_pread64)', '__x64_sys_pread64'),
    ('  _copy_to_iter (self)', '_copy_to_iter'),
    ('madvise (__x64_sys_madvise)', '__x64_sys_madvise'),
    ('  zap_page_range_single_batched', 'zap_page_range_single_batched'),
    ('  tlb_finish_mmu', 'tlb_finish_mmu'),
    ('_raw_spin_unlock_irqrestore (self)', '_raw_spin_unlock_irqrestore'),
    ('__pv_queued_spin_lock_slowpath (self)', '__pv_queued_spin_lock_slowpath'),
    ('page allocation + memcg (get_page_from_freelist, __mem_cgroup_charge)', 'get_page_from_freelist'),
    ('  __mem_cgroup_charge', '__mem_cgroup_charge'),
    ('sched_yield (__x64_sys_sched_yield)', '__x64_sys_sched_yield'),
    ('futex (__x64_sys_futex)', '__x64_sys_futex'),
    ('RehydrateData (self)', 'S_P_CoreLib_Internal_Runtime_CompilerHelpers_StartupCodeHelpers__RehydrateData'),
]
def report(path):
    out = subprocess.run(['perf', 'report', '-i', path, '--children', '--stdio', '--sort', 'sym', '-g', 'none', '--percent-limit', '0'],
                         capture_output=True, text=True).stdout
    # cpu-clock counts nanoseconds: the event count is the CPU time sampled
    m = re.search(r'# Event count \(approx.\): (\d+)', out)
    total = int(m.group(1)) / 1e9 if m else 0
    rows = {}
    for line in out.splitlines():
        m = re.match(r'\s+([\d.]+)%\s+([\d.]+)%\s+\[[.k]\]\s+(\S+)', line)
        if m:
            rows.setdefault(m.group(3), (float(m.group(1)), float(m.group(2))))
    return total, rows
arms = sys.argv[2:]
res = {}
for arm in arms:
    files = sorted(glob.glob(f'{sys.argv[1]}/{arm}.*.data'))
    acc = collections.Counter(); n = 0
    for f in files:
        total, rows = report(f); n += 1
        for label, sym in KEYS:
            if sym is None:
                acc[label] += total
            elif sym in rows:
                children, self_ = rows[sym]
                acc[label] += total * (self_ if label.endswith('(self)') else children) / 100
    res[arm] = (n, acc)
print('| CPU-s per run (perf, ' + ', '.join(f'{a}: {res[a][0]} runs' for a in arms) + ') | ' + ' | '.join(arms) + ' |')
print('|---|' + '---|' * len(arms))
for label, _ in KEYS:
    print(f'| {label} | ' + ' | '.join(f'{res[a][1][label] / max(1, res[a][0]):.3f}' for a in arms) + ' |')
