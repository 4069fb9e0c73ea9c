using System.Globalization;

namespace LazyActors.Engine.Tests.Protocol.Support;

/// <summary>
/// Raises <c>fs.pipe-max-size</c> to the 4 MiB CRIU's lazy page server needs (its reply pipe) for the scope and puts
/// the old value back, unless something else changed it meanwhile.
/// </summary>
internal sealed class PipeMaxSizeScope : IDisposable
{
    private const string Path = "/proc/sys/fs/pipe-max-size";
    private const long Needed = 4 << 20;
    private readonly long? _restore;

    public PipeMaxSizeScope()
    {
        long current = Read();
        if (current < Needed)
        {
            File.WriteAllText(Path, Needed.ToString(CultureInfo.InvariantCulture));
            _restore = current;
        }
    }

    public void Dispose()
    {
        if (_restore is { } old && Read() == Needed)
        {
            File.WriteAllText(Path, old.ToString(CultureInfo.InvariantCulture));
        }
    }

    private static long Read() => long.Parse(File.ReadAllText(Path).Trim(), CultureInfo.InvariantCulture);
}
