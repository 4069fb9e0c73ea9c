using System.Globalization;
using System.Text;
using LazyActors.Engine.Interop;

namespace LazyActors.Tools.Criu;

/// <summary>
/// Raises <c>fs.pipe-max-size</c> to the 4 MiB CRIU's page server and lazy-pages client splice through (with the
/// default 1 MiB they fail) for the scope, and puts the old value back when the last scope ends. Scopes in every
/// process of the machine coordinate through a lock file: each holds a shared flock while it lives, the first one
/// records the old value in the file, and whoever can take the lock exclusively after releasing its own is the last
/// and restores it. So tests running in parallel test hosts do not lower the limit under each other's feet.
/// </summary>
public sealed class PipeMaxSizeScope : IDisposable
{
    /// <summary>The size CRIU needs.</summary>
    public const long Needed = 4 << 20;

    private const string SysctlPath = "/proc/sys/fs/pipe-max-size";
    private const string LockPath = "/tmp/lazyactors-pipe-max-size.lock";
    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(30);
    private SafeFdHandle? _lock;

    /// <summary>Raises the limit if it is below <see cref="Needed"/> (bounded wait for the lock file).</summary>
    /// <exception cref="IOException">The lock or the sysctl cannot be used (not root), or the lock stayed busy.</exception>
    public PipeMaxSizeScope()
    {
        int fd = CriuNative.Open(LockPath, OpenFlags.O_RDWR | OpenFlags.O_CLOEXEC | CriuNative.OCreat, 0x1b6);
        if (fd < 0)
        {
            LinuxException.ThrowLast($"open({LockPath})");
        }

        var handle = new SafeFdHandle(fd, ownsHandle: true);
        try
        {
            // Shared first: a scope that finds the limit already raised joins the live ones at once. Taking the lock
            // exclusively first made a second bench or test wait for the first to end ("stayed locked for 30 s").
            Lock(handle, CriuNative.LockSh);
            if (ReadSysctl() < Needed)
            {
                _ = CriuNative.Flock(handle, CriuNative.LockUn);
                Lock(handle, CriuNative.LockEx);
                string recorded = ReadLockFile(handle);
                long current = ReadSysctl();
                if (recorded.Length == 0 && current < Needed)
                {
                    WriteLockFile(handle, current.ToString(CultureInfo.InvariantCulture));
                }

                if (current < Needed)
                {
                    File.WriteAllText(SysctlPath, Needed.ToString(CultureInfo.InvariantCulture));
                }

                Lock(handle, CriuNative.LockSh);
            }

            _lock = handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Releases this scope; the last scope on the machine puts the recorded value back.</summary>
    public void Dispose()
    {
        var handle = Interlocked.Exchange(ref _lock, null);
        if (handle is null)
        {
            return;
        }

        using (handle)
        {
            _ = CriuNative.Flock(handle, CriuNative.LockUn);
            if (CriuNative.Flock(handle, CriuNative.LockEx | CriuNative.LockNb) != 0)
            {
                return;
            }

            string recorded = ReadLockFile(handle);
            if (recorded.Length > 0 && long.TryParse(recorded, NumberStyles.None, CultureInfo.InvariantCulture, out long old) && ReadSysctl() == Needed)
            {
                File.WriteAllText(SysctlPath, old.ToString(CultureInfo.InvariantCulture));
            }

            WriteLockFile(handle, "");
            _ = CriuNative.Flock(handle, CriuNative.LockUn);
        }
    }

    private static void Lock(SafeFdHandle handle, int operation)
    {
        long deadline = MonotonicClock.NowNs() + (long)(LockTimeout.TotalMilliseconds * 1e6);
        while (CriuNative.Flock(handle, operation | CriuNative.LockNb) != 0)
        {
            var errno = LinuxException.LastErrno();
            if (errno is not (Errno.EAGAIN or Errno.EINTR))
            {
                LinuxException.ThrowLast($"flock({LockPath})");
            }

            if (MonotonicClock.NowNs() > deadline)
            {
                throw new IOException($"{LockPath} stayed locked for {LockTimeout.TotalSeconds:0} s");
            }

            Thread.Sleep(10);
        }
    }

    private static long ReadSysctl() => long.Parse(File.ReadAllText(SysctlPath).Trim(), CultureInfo.InvariantCulture);

    private static unsafe string ReadLockFile(SafeFdHandle handle)
    {
        byte* buffer = stackalloc byte[64];
        nint n = CriuNative.Pread(handle, buffer, 64, 0);
        return n <= 0 ? "" : Encoding.ASCII.GetString(buffer, (int)n).Trim();
    }

    private static unsafe void WriteLockFile(SafeFdHandle handle, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        if (CriuNative.Ftruncate(handle, 0) != 0)
        {
            LinuxException.ThrowLast($"ftruncate({LockPath})");
        }

        fixed (byte* data = bytes)
        {
            if (bytes.Length > 0 && CriuNative.Pwrite(handle, data, (nuint)bytes.Length, 0) != bytes.Length)
            {
                LinuxException.ThrowLast($"pwrite({LockPath})");
            }
        }
    }
}
