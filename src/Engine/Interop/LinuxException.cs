using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

/// <summary>
/// A failed Linux system call. The message names the operation, the errno name and number and the
/// <c>strerror</c> text, e.g. <c>ioctl(UFFDIO_REGISTER) failed: EINVAL (22): Invalid argument</c>.
/// </summary>
public sealed class LinuxException : IOException
{
    /// <summary>Creates an exception for <paramref name="errno"/> raised by <paramref name="operation"/>.</summary>
    public LinuxException(Errno errno, string operation)
        : base(FormatMessage(errno, operation))
    {
        Errno = errno;
        Operation = operation;
        HResult = (int)errno;
    }

    /// <summary>The errno reported by the kernel.</summary>
    public Errno Errno { get; }

    /// <summary>The operation that failed (a syscall name, possibly with context).</summary>
    public string Operation { get; }

    /// <summary>Reads the errno of the last P/Invoke and builds an exception for it.</summary>
    public static LinuxException FromLast(string operation) => new(LastErrno(), operation);

    /// <summary>Throws a <see cref="LinuxException"/> for the errno of the last P/Invoke.</summary>
    [DoesNotReturn]
    public static void ThrowLast(string operation) => throw FromLast(operation);

    /// <summary>The errno of the last P/Invoke declared with <c>SetLastError = true</c>.</summary>
    public static Errno LastErrno() => (Errno)Marshal.GetLastPInvokeError();

    private static string FormatMessage(Errno errno, string operation)
    {
        var name = Enum.IsDefined(errno) ? errno.ToString() : "errno";
        return $"{operation} failed: {name} ({(int)errno}): {Marshal.GetPInvokeErrorMessage((int)errno)}";
    }
}
