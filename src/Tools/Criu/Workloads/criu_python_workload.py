"""A real program for the CRIU harness (LazyActors): python holding a large bytes object and a large dict.

usage: python3 -I -S criu_python_workload.py --dir DIR [--mib M] [--entries E] [--seed S] [--wait-s S]

It builds M MiB of seeded pseudo-random bytes and a dict of E int -> int entries (the interpreter's heap: many small
objects spread over its arenas), computes its answer to the query (SHA-256 of the bytes, and a checksum folded over
every dict entry in insertion order), writes DIR/ready-0 (task, pid, expected answer) and waits for SIGUSR1, blocked
and taken with sigtimedwait: a signal sent while the restored process is still on its way back into the wait stays
pending and ends the wait at once (with a handler around time.sleep(1) it was taken only when the restarted sleep ended,
0.1-0.9 s late in 13 of 44 runs with our daemon and 5 of 44 with CRIU's; py51 in docs/benchmarks.md). After a
lazy restore the signal makes it compute the answer again over all its memory, write DIR/result-0.json (opened only
now: CRIU checks the sizes of files open at dump time) and exit 0 when the answer equals the one before the dump,
1 otherwise. Times are on the host's CLOCK_MONOTONIC: CRIU restores the process in a time namespace whose clock
continues from the dump, so its offset (/proc/self/timens_offsets) is taken out. Between trigger and answer it also
counts its own CPU time, its time runnable but without a CPU and its minor faults (cpu_ns, run_delay_ns, minor_faults).
"""

import hashlib
import json
import os
import random
import signal
import sys
import time

MASK = (1 << 64) - 1


def parse(argv):
    options = {"--dir": None, "--mib": "192", "--entries": "1000000", "--seed": "49858", "--wait-s": "600"}
    args = argv[1:]
    if len(args) % 2:
        sys.exit("usage: criu_python_workload.py --dir DIR [--mib M] [--entries E] [--seed S] [--wait-s S]")
    for key, value in zip(args[0::2], args[1::2]):
        if key not in options:
            sys.exit(f"criu_python_workload.py: unknown option {key}")
        options[key] = value
    if not options["--dir"]:
        sys.exit("criu_python_workload.py: --dir is required")
    return options["--dir"], int(options["--mib"]), int(options["--entries"]), int(options["--seed"]), int(options["--wait-s"])


def answer(data, table):
    fold = 0
    for key, value in table.items():
        fold = ((fold * 1000003) ^ key ^ (value << 1)) & MASK
    return f"{hashlib.sha256(data).hexdigest()}:{fold:016x}"


def timens_offset_ns():
    try:
        with open("/proc/self/timens_offsets") as offsets:
            for line in offsets:
                words = line.split()
                if len(words) == 3 and words[0] == "monotonic":
                    return int(words[1]) * 1_000_000_000 + int(words[2])
    except OSError:
        pass
    return 0


def own_schedstat():
    """This thread's CPU time and time spent runnable but waiting for a CPU, ns (/proc/thread-self/schedstat), and the
    process's minor faults so far (/proc/self/stat): with the wall time between trigger and answer they tell computing
    from waiting for a CPU from being blocked (in a fault the daemon has not served yet). None where unavailable."""
    try:
        with open("/proc/thread-self/schedstat") as stats:
            words = stats.read().split()
        with open("/proc/self/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(words[0]), int(words[1]), int(fields[7])
    except (OSError, ValueError, IndexError):
        return None


def write_atomically(path, text):
    temporary = path + ".tmp"
    with open(temporary, "w") as out:
        out.write(text)
    os.rename(temporary, path)


def main():
    directory, mib, entries, seed, wait_s = parse(sys.argv)
    data = random.Random(seed).randbytes(mib << 20)
    table = {i: (i * 2654435761 + seed) & 0xFFFFFFFF for i in range(entries)}
    expected = answer(data, table)

    # Blocked before ready-0 exists, so no trigger can be lost or wait for a sleep to end; CRIU dumps and restores the
    # mask and any pending signal with the process.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    write_atomically(os.path.join(directory, "ready-0"),
                     f"task=0 pid={os.getpid()} parent_task=-1 bytes={len(data)} entries={len(table)} expected={expected}\n")
    deadline = time.monotonic() + wait_s
    while signal.sigtimedwait({signal.SIGUSR1}, 1.0) is None:
        if time.monotonic() >= deadline:
            print(f"criu_python_workload.py: no SIGUSR1 within {wait_s} s", file=sys.stderr)
            return 4

    trigger_ns = time.monotonic_ns()
    before = own_schedstat()
    got = answer(data, table)
    answered_ns = time.monotonic_ns()
    after = own_schedstat()
    offset = timens_offset_ns()
    ok = got == expected
    result = {
        "task": 0,
        "pid": os.getpid(),
        "parent_task": -1,
        "status": "ok" if ok else "mismatch",
        "bytes_checked": len(data),
        "bytes_verified": len(data) if ok else 0,
        "entries": len(table),
        "answer": got,
        "expected": expected,
        "trigger_mono_ns": trigger_ns - offset,
        "verified_mono_ns": answered_ns - offset,
        "timens_offset_ns": offset,
    }
    if before is not None and after is not None:
        result["cpu_ns"] = after[0] - before[0]
        result["run_delay_ns"] = after[1] - before[1]
        result["minor_faults"] = after[2] - before[2]
    with open(os.path.join(directory, "result-0.json"), "w") as out:
        out.write(json.dumps(result) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
