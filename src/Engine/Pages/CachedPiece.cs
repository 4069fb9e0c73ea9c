using System.Collections;
using System.Runtime.InteropServices;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Pages;

/// <summary>
/// One run of pages of one task held by the <see cref="SharedPageCache"/>: read from the source once, into memory of
/// its own, then served to every restore that asks for any of its pages. Mutable state is guarded by the cache's lock,
/// except <see cref="Loaded"/> (awaited outside it).
/// </summary>
internal sealed class CachedPiece
{
    public CachedPiece(CheckpointPages owner, int pid, ulong dumpAddress, int pages)
    {
        Owner = owner;
        Pid = pid;
        DumpAddress = dumpAddress;
        Pages = pages;
    }

    public CheckpointPages Owner { get; }

    public int Pid { get; }

    public ulong DumpAddress { get; }

    public int Pages { get; }

    public ulong DumpEnd => DumpAddress + ((ulong)Pages << PageGeometry.PageShift);

    public long Bytes => (long)Pages << PageGeometry.PageShift;

    /// <summary>The data once loaded (page-aligned native memory), else 0.</summary>
    public nint Memory { get; private set; }

    /// <summary>Completes when the data is in <see cref="Memory"/>, or with the source's error.</summary>
    public TaskCompletionSource Loaded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Reads handed out that still point into <see cref="Memory"/>; a pinned piece is never evicted.</summary>
    public int Pins { get; set; }

    /// <summary>When it was last asked for (the cache's clock), for least-recently-used eviction.</summary>
    public long LastUse { get; set; }

    /// <summary>Still in the cache's index (false once evicted, failed or dropped).</summary>
    public bool Indexed { get; set; } = true;

    /// <summary>Which pages each restore (consumer id) has asked for: a piece every attached restore has read whole is
    /// the first to go.</summary>
    private Dictionary<int, BitArray>? _readers;

    public bool IsLoaded => Memory != 0;

    public void MarkRead(int consumer, ulong from, ulong to)
    {
        _readers ??= [];
        if (!_readers.TryGetValue(consumer, out var bits))
        {
            _readers[consumer] = bits = new BitArray(Pages);
        }

        var first = (int)((Math.Max(from, DumpAddress) - DumpAddress) >> PageGeometry.PageShift);
        var last = (int)((Math.Min(to, DumpEnd) - DumpAddress) >> PageGeometry.PageShift);
        for (var i = first; i < last; i++)
        {
            bits[i] = true;
        }
    }

    /// <summary>True when every one of <paramref name="consumers"/> has read every page of the piece.</summary>
    public bool ReadByAll(IReadOnlyCollection<int> consumers)
    {
        if (consumers.Count == 0 || _readers is null)
        {
            return consumers.Count == 0;
        }

        foreach (var consumer in consumers)
        {
            if (!_readers.TryGetValue(consumer, out var bits) || !AllSet(bits))
            {
                return false;
            }
        }

        return true;
    }

    public unsafe void Fill(PageRead read)
    {
        var memory = (nint)NativeMemory.AlignedAlloc((nuint)Bytes, (nuint)PageGeometry.PageSize);
        foreach (var segment in read.Segments)
        {
            var offset = (long)(segment.DumpAddress - DumpAddress);
            Buffer.MemoryCopy((void*)segment.Address, (void*)(memory + (nint)offset), Bytes - offset, (long)segment.Length);
        }

        Memory = memory;
    }

    public unsafe void Free()
    {
        if (Memory != 0)
        {
            NativeMemory.AlignedFree((void*)Memory);
            Memory = 0;
        }
    }

    private static bool AllSet(BitArray bits)
    {
        for (var i = 0; i < bits.Length; i++)
        {
            if (!bits[i])
            {
                return false;
            }
        }

        return true;
    }
}
