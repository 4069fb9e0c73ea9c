using System.Runtime.InteropServices;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Uffd;

namespace LazyActors.Engine.Actors.WarmUp;

/// <summary>
/// The warm-up's native path: a real userfaultfd registered on a scratch mapping of this process, and a thread that
/// reads the mapping with a native memcpy, so each page it reaches faults through the kernel, the engine's epoll reader
/// and a task actor like a restored task's would.
/// </summary>
internal sealed class ScratchFaults
{
    private readonly nint _scratch;
    private readonly int _pages;
    private Thread? _toucher;

    private ScratchFaults(MappedRegion region, IUffd uffd, int pages)
    {
        Region = region;
        Uffd = uffd;
        _pages = pages;
        _scratch = Marshal.AllocHGlobal(pages * (int)PageGeometry.PageSize);
    }

    public MappedRegion Region { get; }

    /// <summary>The uffd as the hub opened it (the task actor owns it).</summary>
    public IUffd Uffd { get; }

    /// <summary>Null when userfaultfd is refused (the warm-up then covers the managed path only).</summary>
    public static ScratchFaults? TryCreate(IUffdHub hub, int pages)
    {
        MappedRegion? region = null;
        UserFaultFd? uffd = null;
        try
        {
            region = MappedRegion.Map((ulong)pages * PageGeometry.PageSize);
            uffd = UserFaultFd.Create();
            uffd.Api(UffdFeatures.NonCooperative);
            uffd.Register(region.Start, region.Length, RegisterMode.Missing);
            return new ScratchFaults(region, hub.Open(uffd.Handle), pages);
        }
        catch (Exception ex) when (ex is LinuxException or IOException or UnauthorizedAccessException)
        {
            uffd?.Dispose();
            region?.Dispose();
            return null;
        }
    }

    /// <summary>Reads the whole mapping, one page at a time, from a background thread.</summary>
    public void StartTouching()
    {
        var page = (int)PageGeometry.PageSize;
        _toucher = new Thread(() =>
        {
            for (var p = 0; p < _pages; p++)
            {
                Libc.MemCpy(_scratch + (p * page), Region.Address + (p * page), (nuint)page);
            }
        })
        {
            IsBackground = true,
            Name = "warm-up-toucher",
        };
        _toucher.Start();
    }

    /// <summary>Closes the uffd (a toucher still blocked, after a failure, is released), joins the toucher and frees
    /// the memory.</summary>
    public void Finish(TimeSpan timeout)
    {
        Uffd.Dispose();
        if (_toucher is null || _toucher.Join(timeout))
        {
            Region.Dispose();
            Marshal.FreeHGlobal(_scratch);
        }
    }
}
