using System.Runtime.InteropServices;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Uffd;
using Xunit;

namespace LazyActors.Engine.Tests.Uffd;

/// <summary>Small native helpers for the Uffd tests (pipes, eventfds, a fault-triggering copy, uffd availability).</summary>
internal static partial class NativeTestSupport
{
    public const int PageSize = (int)PageGeometry.PageSize;

    /// <summary>
    /// memcpy in native code. Touching uffd-registered memory must happen outside managed code: a managed thread
    /// blocked in a page fault cannot reach a GC safe point, and a GC would then deadlock with the serving thread.
    /// </summary>
    [LibraryImport("libc", EntryPoint = "memcpy")]
    public static partial nint MemCpy(nint destination, nint source, nuint count);

    /// <summary>Creates a uffd or skips the test with the exact reason the kernel gave.</summary>
    public static UserFaultFd CreateUffdOrSkip(bool nonBlocking = true)
    {
        try
        {
            return UserFaultFd.Create(nonBlocking);
        }
        catch (LinuxException ex) when (ex.Errno is Errno.EPERM or Errno.ENOSYS)
        {
            Skip.If(true, $"userfaultfd is not available here: {ex.Message}");
            throw;
        }
    }

    /// <summary>pipe2 → (read end, write end).</summary>
    public static unsafe (SafeFdHandle Read, SafeFdHandle Write) Pipe(bool nonBlocking = true)
    {
        var fds = stackalloc int[2];
        var flags = OpenFlags.O_CLOEXEC | (nonBlocking ? OpenFlags.O_NONBLOCK : 0);
        if (Libc.Pipe2(fds, flags) < 0)
        {
            LinuxException.ThrowLast("pipe2");
        }

        return (new SafeFdHandle(fds[0], ownsHandle: true), new SafeFdHandle(fds[1], ownsHandle: true));
    }

    public static SafeFdHandle EventFd()
    {
        var fd = Libc.EventFd(0, Libc.EFD_CLOEXEC);
        if (fd < 0)
        {
            LinuxException.ThrowLast("eventfd");
        }

        return new SafeFdHandle(fd, ownsHandle: true);
    }

    public static unsafe void WriteAll(SafeFdHandle fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            var n = Libc.Write(fd, p, (nuint)data.Length);
            Assert.Equal(data.Length, (int)n);
        }
    }

    public static unsafe int ReadSome(SafeFdHandle fd, Span<byte> into)
    {
        fixed (byte* p = into)
        {
            var n = Libc.Read(fd, p, (nuint)into.Length);
            if (n < 0)
            {
                LinuxException.ThrowLast("read");
            }

            return (int)n;
        }
    }

    public static byte[] FakeMessage(UffdEvent kind, ulong address)
    {
        var msg = new UffdMsg { Event = kind, PagefaultAddress = address };
        var bytes = new byte[UffdMsg.Size];
        MemoryMarshal.Write(bytes, in msg);
        return bytes;
    }

    /// <summary>Fills a region with a recognisable per-page pattern.</summary>
    public static void FillPattern(Span<byte> span, byte seed)
    {
        for (var i = 0; i < span.Length; i++)
        {
            span[i] = (byte)(seed + (i / PageSize * 31) + (i % 251));
        }
    }
}
