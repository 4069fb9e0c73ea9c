using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Actors;

/// <summary>
/// An unrecoverable error while serving one task (an unexpected errno from a uffd ioctl, an unknown event, page data
/// that cannot be read). The supervisor stops that task only; the others go on.
/// </summary>
public sealed class TaskFailedException : Exception
{
    /// <summary>Creates the exception for task <paramref name="pid"/>.</summary>
    public TaskFailedException(int pid, string message, Errno errno = Errno.None, ulong address = 0, Exception? inner = null)
        : base($"task {pid}: {message}", inner)
    {
        Pid = pid;
        Errno = errno;
        Address = address;
    }

    /// <summary>The task's pid.</summary>
    public int Pid { get; }

    /// <summary>The errno involved, if any.</summary>
    public Errno Errno { get; }

    /// <summary>The address involved, if any.</summary>
    public ulong Address { get; }
}
