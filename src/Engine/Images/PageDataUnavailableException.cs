namespace LazyActors.Engine.Images;

/// <summary>
/// Page data was asked for that this image set does not hold: a <c>PE_LAZY</c>-only entry of a lazy dump
/// (the bytes live on the source host's page server), or a <c>PE_PARENT</c> entry without a parent image set.
/// </summary>
public sealed class PageDataUnavailableException : Exception
{
    /// <summary>Creates the exception for page <paramref name="address"/> of task <paramref name="pid"/>.</summary>
    public PageDataUnavailableException(int pid, ulong address, string file, string reason)
        : base($"{file}: no data for pid {pid} page 0x{address:x}: {reason}")
    {
        Pid = pid;
        Address = address;
        FilePath = file;
    }

    /// <summary>The task (image pid).</summary>
    public int Pid { get; }

    /// <summary>The first page address without data (dump-time address).</summary>
    public ulong Address { get; }

    /// <summary>The pagemap file that describes the page.</summary>
    public string FilePath { get; }
}
