using LazyActors.Engine.Interop;

namespace LazyActors.Tools.Bench;

/// <summary>
/// Where the round-trip probe's two threads run. The round trip is bimodal on small VMs: when the scheduler keeps
/// the handler on the toucher's CPU a fault costs two context switches (~8 µs here); on two CPUs it costs a
/// cross-CPU wake-up each way (~55 µs here). Pinning measures each case on purpose.
/// </summary>
public enum CpuPlacement
{
    /// <summary>Wherever the scheduler puts them (what a daemon usually gets; the reference figure).</summary>
    Unpinned,

    /// <summary>Both threads pinned to the toucher's first allowed CPU.</summary>
    SameCpu,

    /// <summary>Toucher and handler pinned to two different CPUs.</summary>
    CrossCpu,
}

/// <summary>Pins the calling thread; remembers and restores its previous mask.</summary>
internal sealed unsafe class ThreadAffinity : IDisposable
{
    private const int MaskWords = 16; // 1024 CPUs
    private readonly ulong[] _previous = new ulong[MaskWords];
    private readonly bool _changed;

    private ThreadAffinity(int cpu)
    {
        fixed (ulong* previous = _previous)
        {
            if (SpawnNative.SchedGetAffinity(0, MaskWords * sizeof(ulong), previous) < 0)
            {
                LinuxException.ThrowLast("sched_getaffinity");
            }
        }

        if (cpu < 0)
        {
            return;
        }

        var mask = stackalloc ulong[MaskWords];
        new Span<ulong>(mask, MaskWords).Clear();
        mask[cpu / 64] = 1UL << (cpu % 64);
        if (SpawnNative.SchedSetAffinity(0, MaskWords * sizeof(ulong), mask) < 0)
        {
            LinuxException.ThrowLast($"sched_setaffinity(cpu {cpu})");
        }

        _changed = true;
    }

    /// <summary>Pins the calling thread to <paramref name="cpu"/> (a negative value pins nothing).</summary>
    public static ThreadAffinity Pin(int cpu) => new(cpu);

    /// <summary>The CPUs the calling thread may run on, ascending.</summary>
    public static IReadOnlyList<int> AllowedCpus()
    {
        var mask = stackalloc ulong[MaskWords];
        if (SpawnNative.SchedGetAffinity(0, MaskWords * sizeof(ulong), mask) < 0)
        {
            LinuxException.ThrowLast("sched_getaffinity");
        }

        var cpus = new List<int>();
        for (int i = 0; i < MaskWords * 64; i++)
        {
            if ((mask[i / 64] & (1UL << (i % 64))) != 0)
            {
                cpus.Add(i);
            }
        }

        return cpus;
    }

    /// <summary>The (toucher, handler) CPUs for <paramref name="placement"/>, -1 = not pinned; null when impossible (one CPU).</summary>
    public static (int Toucher, int Handler)? CpusFor(CpuPlacement placement)
    {
        if (placement == CpuPlacement.Unpinned)
        {
            return (-1, -1);
        }

        var cpus = AllowedCpus();
        return placement switch
        {
            CpuPlacement.SameCpu when cpus.Count >= 1 => (cpus[0], cpus[0]),
            CpuPlacement.CrossCpu when cpus.Count >= 2 => (cpus[0], cpus[1]),
            _ => null,
        };
    }

    /// <summary>Restores the previous mask.</summary>
    public void Dispose()
    {
        if (!_changed)
        {
            return;
        }

        fixed (ulong* previous = _previous)
        {
            _ = SpawnNative.SchedSetAffinity(0, MaskWords * sizeof(ulong), previous);
        }
    }
}
