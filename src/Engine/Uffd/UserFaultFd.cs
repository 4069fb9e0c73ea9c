using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Uffd;

/// <summary>
/// A userfaultfd. Creation, the API handshake, range (un)registration, COPY/ZEROPAGE/WAKE and message reads.
/// COPY and ZEROPAGE report failures as <see cref="UffdOpResult"/> because several errnos are expected during a
/// lazy restore; every other operation throws <see cref="LinuxException"/>.
/// </summary>
public sealed class UserFaultFd : IDisposable
{
    private const string DevicePath = "/dev/userfaultfd";
    private static readonly Lazy<ulong> SupportedFeatures = new(ProbeFeaturesUncached, LazyThreadSafetyMode.ExecutionAndPublication);

    private UserFaultFd(SafeFdHandle handle)
    {
        Handle = handle;
    }

    /// <summary>The underlying descriptor.</summary>
    public SafeFdHandle Handle { get; }

    /// <summary>The features granted by <see cref="Api"/> (0 until it was called).</summary>
    public ulong Features { get; private set; }

    /// <summary>
    /// Creates a userfaultfd with O_CLOEXEC (and O_NONBLOCK when <paramref name="nonBlocking"/>): first with the
    /// userfaultfd(2) syscall, and when that fails with EPERM or ENOSYS through /dev/userfaultfd and
    /// USERFAULTFD_IOC_NEW.
    /// </summary>
    /// <exception cref="LinuxException">Both ways failed; the errno is the syscall's (EPERM/ENOSYS) unless the
    /// device reported something more specific.</exception>
    public static UserFaultFd Create(bool nonBlocking = true)
    {
        var flags = OpenFlags.O_CLOEXEC | (nonBlocking ? OpenFlags.O_NONBLOCK : 0);
        var fd = Libc.Syscall(Libc.SysUserfaultfd, flags);
        if (fd >= 0)
        {
            return new UserFaultFd(new SafeFdHandle((int)fd, ownsHandle: true));
        }

        var syscallErrno = LinuxException.LastErrno();
        if (syscallErrno is not (Errno.EPERM or Errno.ENOSYS))
        {
            throw new LinuxException(syscallErrno, "userfaultfd");
        }

        return CreateFromDevice(flags, syscallErrno);
    }

    /// <summary>
    /// The /dev/userfaultfd path: open the device and ask it for a new uffd with USERFAULTFD_IOC_NEW(flags).
    /// <paramref name="syscallErrno"/> is the errno of the failed syscall, reported if the device is unusable too.
    /// </summary>
    internal static UserFaultFd CreateFromDevice(int flags, Errno syscallErrno)
    {
        var deviceFd = Libc.Open(DevicePath, OpenFlags.O_RDWR | OpenFlags.O_CLOEXEC);
        if (deviceFd < 0)
        {
            var deviceErrno = LinuxException.LastErrno();
            throw new LinuxException(syscallErrno, $"userfaultfd (and open({DevicePath}): {deviceErrno})");
        }

        using var device = new SafeFdHandle(deviceFd, ownsHandle: true);
        var newFd = Libc.Ioctl(device, UffdIoctls.USERFAULTFD_IOC_NEW, flags);
        if (newFd < 0)
        {
            LinuxException.ThrowLast($"ioctl({DevicePath}, USERFAULTFD_IOC_NEW)");
        }

        return new UserFaultFd(new SafeFdHandle(newFd, ownsHandle: true));
    }

    /// <summary>Wraps a descriptor received from elsewhere (SCM_RIGHTS, a FORK event). Takes ownership.</summary>
    public static UserFaultFd FromHandle(SafeFdHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        if (handle.IsInvalid || handle.IsClosed)
        {
            throw new ArgumentException($"Cannot wrap {handle} as a userfaultfd.", nameof(handle));
        }

        return new UserFaultFd(handle);
    }

    /// <summary>
    /// All features the kernel supports, probed once per process with a throwaway fd and UFFDIO_API(features=0)
    /// (the kernel accepts UFFDIO_API only once per fd).
    /// </summary>
    public static ulong ProbeFeatures() => SupportedFeatures.Value;

    /// <summary>
    /// UFFDIO_API with <c>wantedFeatures &amp; ProbeFeatures()</c>, so unsupported features are masked out as CRIU
    /// does. Returns the granted features, i.e. the requested subset: on success the kernel enables exactly what was
    /// asked for (its reply lists everything it supports, not what was enabled). Can be called once per fd.
    /// </summary>
    public ulong Api(ulong wantedFeatures)
    {
        var requested = wantedFeatures & ProbeFeatures();
        _ = CallApi(Handle, requested);
        Features = requested;
        return requested;
    }

    /// <summary>UFFDIO_REGISTER of [start, start+length); returns the ioctls mask usable on the range.</summary>
    public unsafe ulong Register(ulong start, ulong length, RegisterMode mode)
    {
        var request = new UffdioRegister { Range = new UffdioRange { Start = start, Length = length }, Mode = (ulong)mode };
        if (Libc.Ioctl(Handle, UffdIoctls.UFFDIO_REGISTER, &request) < 0)
        {
            LinuxException.ThrowLast($"ioctl(UFFDIO_REGISTER 0x{start:x}+0x{length:x})");
        }

        return request.Ioctls;
    }

    /// <summary>UFFDIO_UNREGISTER of [start, start+length). Throws <see cref="LinuxException"/>; inspect its Errno.</summary>
    public unsafe void Unregister(ulong start, ulong length)
    {
        var range = new UffdioRange { Start = start, Length = length };
        if (Libc.Ioctl(Handle, UffdIoctls.UFFDIO_UNREGISTER, &range) < 0)
        {
            LinuxException.ThrowLast($"ioctl(UFFDIO_UNREGISTER 0x{start:x}+0x{length:x})");
        }
    }

    /// <summary>UFFDIO_WAKE of [start, start+length).</summary>
    public unsafe void Wake(ulong start, ulong length)
    {
        var range = new UffdioRange { Start = start, Length = length };
        if (Libc.Ioctl(Handle, UffdIoctls.UFFDIO_WAKE, &range) < 0)
        {
            LinuxException.ThrowLast($"ioctl(UFFDIO_WAKE 0x{start:x}+0x{length:x})");
        }
    }

    /// <summary>UFFDIO_COPY of <paramref name="length"/> bytes from <paramref name="source"/> to <paramref name="destination"/>. Never throws for kernel errors.</summary>
    public unsafe UffdOpResult Copy(ulong destination, nint source, ulong length, bool dontWake = false)
    {
        var request = new UffdioCopy
        {
            Destination = destination,
            Source = (ulong)source,
            Length = length,
            Mode = dontWake ? UffdioCopy.ModeDontWake : 0,
        };
        var rc = Libc.Ioctl(Handle, UffdIoctls.UFFDIO_COPY, &request);
        return ToResult(rc, request.Copy);
    }

    /// <summary>UFFDIO_ZEROPAGE of [start, start+length). Never throws for kernel errors.</summary>
    public unsafe UffdOpResult ZeroPage(ulong start, ulong length, bool dontWake = false)
    {
        var request = new UffdioZeropage
        {
            Range = new UffdioRange { Start = start, Length = length },
            Mode = dontWake ? UffdioZeropage.ModeDontWake : 0,
        };
        var rc = Libc.Ioctl(Handle, UffdIoctls.UFFDIO_ZEROPAGE, &request);
        return ToResult(rc, request.Zeropage);
    }

    /// <summary>
    /// Reads as many messages as fit in <paramref name="into"/>. Returns 0 when none is pending (EAGAIN), retries
    /// EINTR, throws <see cref="LinuxException"/> otherwise (EBADF included).
    /// </summary>
    public int ReadMessages(Span<UffdMsg> into) => ReadMessages(Handle, into);

    /// <summary>Releases the descriptor. Pending faults are then resolved by the kernel as ordinary faults.</summary>
    public void Dispose() => Handle.Dispose();

    /// <inheritdoc />
    public override string ToString() => $"userfaultfd {Handle}";

    /// <summary>The read loop behind <see cref="ReadMessages(Span{UffdMsg})"/>, usable on any uffd descriptor.</summary>
    internal static unsafe int ReadMessages(SafeFdHandle handle, Span<UffdMsg> into)
    {
        if (into.IsEmpty)
        {
            return 0;
        }

        fixed (UffdMsg* buffer = into)
        {
            while (true)
            {
                var n = Libc.Read(handle, buffer, (nuint)(into.Length * UffdMsg.Size));
                if (n >= 0)
                {
                    if (n % UffdMsg.Size != 0)
                    {
                        throw new InvalidDataException(
                            $"read(userfaultfd {handle}) returned {n} bytes, not a multiple of sizeof(uffd_msg) = {UffdMsg.Size}.");
                    }

                    return (int)(n / UffdMsg.Size);
                }

                var errno = LinuxException.LastErrno();
                if (errno == Errno.EINTR)
                {
                    continue;
                }

                if (errno == Errno.EAGAIN)
                {
                    return 0;
                }

                throw new LinuxException(errno, $"read(userfaultfd {handle})");
            }
        }
    }

    private static UffdOpResult ToResult(int rc, long reported)
    {
        if (rc == 0)
        {
            return new UffdOpResult(reported, Errno.None);
        }

        var errno = LinuxException.LastErrno();
        return new UffdOpResult(reported > 0 ? reported : 0, errno);
    }

    private static unsafe ulong CallApi(SafeFdHandle handle, ulong features)
    {
        var request = new UffdioApi { Api = UffdIoctls.ApiVersion, Features = features };
        if (Libc.Ioctl(handle, UffdIoctls.UFFDIO_API, &request) < 0)
        {
            LinuxException.ThrowLast($"ioctl(UFFDIO_API features=0x{features:x})");
        }

        if (request.Api != UffdIoctls.ApiVersion)
        {
            throw new InvalidOperationException(
                $"UFFDIO_API answered api=0x{request.Api:x}; expected 0x{UffdIoctls.ApiVersion:x}.");
        }

        return request.Features;
    }

    private static ulong ProbeFeaturesUncached()
    {
        using var probe = Create(nonBlocking: true);
        return CallApi(probe.Handle, 0);
    }
}
