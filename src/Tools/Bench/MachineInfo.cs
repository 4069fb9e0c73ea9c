using System.Text.Json.Serialization;

namespace LazyActors.Tools.Bench;

/// <summary>Where the bench ran: enough to compare tables taken on different machines.</summary>
public sealed record MachineInfo
{
    /// <summary>Host name.</summary>
    [JsonPropertyName("host")]
    public string Host { get; init; } = "";

    /// <summary>Kernel release (uname -r).</summary>
    [JsonPropertyName("kernel")]
    public string Kernel { get; init; } = "";

    /// <summary>CPU model name.</summary>
    [JsonPropertyName("cpu")]
    public string Cpu { get; init; } = "";

    /// <summary>Online CPUs.</summary>
    [JsonPropertyName("cores")]
    public int Cores { get; init; }

    /// <summary>Installed memory.</summary>
    [JsonPropertyName("memory_gib")]
    public double MemoryGiB { get; init; }

    /// <summary>The .NET runtime the bench ran on.</summary>
    [JsonPropertyName("runtime")]
    public string Runtime { get; init; } = "";

    /// <summary>Reads /proc for this machine.</summary>
    public static MachineInfo Current() => new()
    {
        Host = Environment.MachineName,
        Kernel = ReadFirstLine("/proc/sys/kernel/osrelease"),
        Cpu = ProcField("/proc/cpuinfo", "model name"),
        Cores = Environment.ProcessorCount,
        MemoryGiB = double.TryParse(ProcField("/proc/meminfo", "MemTotal").Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(), out var kib) ? Math.Round(kib / (1024.0 * 1024.0), 1) : double.NaN,
        Runtime = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
    };

    /// <inheritdoc />
    public override string ToString() => $"{Host}: {Cpu}, {Cores} cores, {MemoryGiB:0.#} GiB, Linux {Kernel}, {Runtime}";

    private static string ReadFirstLine(string path)
    {
        try
        {
            return File.ReadLines(path).FirstOrDefault()?.Trim() ?? "";
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static string ProcField(string path, string name)
    {
        try
        {
            var line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal));
            return line is null ? "" : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        }
        catch (IOException)
        {
            return "";
        }
    }
}
