using Microsoft.Win32.SafeHandles;

namespace LazyActors.Engine.Interop;

/// <summary>
/// Owns one Linux file descriptor. The invalid value is -1 (descriptor 0 is a valid fd, e.g. when stdin was closed
/// and a descriptor arrives through SCM_RIGHTS). The descriptor is closed with <c>close(2)</c> on release.
/// </summary>
public sealed class SafeFdHandle : SafeHandleMinusOneIsInvalid
{
    /// <summary>Creates an invalid handle (used by the interop marshaller).</summary>
    public SafeFdHandle()
        : base(ownsHandle: true)
    {
    }

    /// <summary>Wraps an existing descriptor.</summary>
    /// <param name="fd">The descriptor number.</param>
    /// <param name="ownsHandle">True when disposing this handle must close the descriptor.</param>
    public SafeFdHandle(int fd, bool ownsHandle)
        : base(ownsHandle)
    {
        SetHandle(fd);
    }

    /// <summary>The descriptor number (for logging and for building epoll/poll records).</summary>
    public int Fd => (int)DangerousGetHandle();

    /// <inheritdoc />
    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;

    /// <inheritdoc />
    public override string ToString() => IsInvalid ? "fd(invalid)" : IsClosed ? "fd(closed)" : $"fd({Fd})";
}
