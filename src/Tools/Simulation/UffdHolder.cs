using System.Diagnostics;
using System.Globalization;

namespace LazyActors.Tools.Simulation;

/// <summary>How the <see cref="UffdHolder"/> prepares the userfaultfd it hands over.</summary>
public enum UffdHolderMode
{
    /// <summary>UFFDIO_API with CRIU's events, the region registered (what a restored task looks like).</summary>
    Registered,

    /// <summary>UFFDIO_API, nothing registered.</summary>
    Unregistered,

    /// <summary>Never given UFFDIO_API.</summary>
    NoApi,

    /// <summary>No uffd at all: the process only connects and sends its pid (a bare peer).</summary>
    Peer,
}

/// <summary>
/// A process that holds anonymous memory behind a userfaultfd and hands the uffd over on a UNIX socket as
/// <c>criu restore</c> does for one task (its pid, then the uffd with SCM_RIGHTS), then sleeps until it is killed:
/// <c>Native/uffd_holder.c</c>, built with the tools. Tests use it to see what the kernel answers once a task died.
/// </summary>
public sealed class UffdHolder : IDisposable
{
    /// <summary>The helper's file name next to the tools assembly.</summary>
    public const string FileName = "uffd_holder";

    private readonly Process _process;

    private UffdHolder(Process process, ulong regionStart, ulong pages)
    {
        _process = process;
        RegionStart = regionStart;
        Pages = pages;
    }

    /// <summary>Where the helper is expected: next to the tools assembly.</summary>
    public static string ExpectedPath => Path.Combine(Path.GetDirectoryName(ToolsInvocation.AssemblyPath) ?? AppContext.BaseDirectory, FileName);

    /// <summary>The holder's pid.</summary>
    public int Pid => _process.Id;

    /// <summary>Start of the mapped (and, in <see cref="UffdHolderMode.Registered"/>, registered) region.</summary>
    public ulong RegionStart { get; }

    /// <summary>Pages of the region.</summary>
    public ulong Pages { get; }

    /// <summary>True once the process ended.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>
    /// Starts the helper, which connects to <paramref name="socketPath"/> and sends its pid and uffd; returns once it
    /// reported its region (the caller accepts the connection meanwhile, e.g. on another thread).
    /// </summary>
    /// <exception cref="FileNotFoundException">The helper was not built next to the tools.</exception>
    /// <exception cref="TimeoutException">It reported nothing within <paramref name="timeout"/> (it is killed).</exception>
    /// <param name="socketPath">Where to connect.</param>
    /// <param name="pages">Pages of the region.</param>
    /// <param name="mode">How the uffd is prepared.</param>
    /// <param name="timeout">Bound of the start.</param>
    /// <param name="runAs">A command the helper runs under, e.g. <c>setpriv --reuid=65534 ...</c> to connect as another user.</param>
    public static async Task<UffdHolder> StartAsync(string socketPath, ulong pages, UffdHolderMode mode, TimeSpan timeout, IReadOnlyList<string>? runAs = null)
    {
        if (!File.Exists(ExpectedPath))
        {
            throw new FileNotFoundException($"{ExpectedPath} is missing: the build of src/Tools compiles it from Simulation/Native/uffd_holder.c", ExpectedPath);
        }

        var argv = (runAs ?? []).Append(ExpectedPath).ToList();
        var info = new ProcessStartInfo(argv[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in argv.Skip(1))
        {
            info.ArgumentList.Add(arg);
        }

        info.ArgumentList.Add(socketPath);
        info.ArgumentList.Add(pages.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add(mode switch { UffdHolderMode.Unregistered => "unregistered", UffdHolderMode.NoApi => "noapi", UffdHolderMode.Peer => "peer", _ => "registered" });
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {ExpectedPath}");
        string? text;
        try
        {
            text = await process.StandardOutput.ReadLineAsync().WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            text = null;
        }

        if (text is null || !text.StartsWith("region 0x", StringComparison.Ordinal))
        {
            Kill(process);
            throw new TimeoutException($"{FileName} did not report its region within {timeout.TotalSeconds:0} s: {await process.StandardError.ReadToEndAsync().ConfigureAwait(false)}");
        }

        var fields = text.Split(' ');
        return new UffdHolder(process, ulong.Parse(fields[1][2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            ulong.Parse(fields[2], CultureInfo.InvariantCulture));
    }

    /// <summary>SIGKILLs the holder (a task dying mid-restore) and reaps it.</summary>
    public void Kill() => Kill(_process);

    /// <inheritdoc />
    public void Dispose()
    {
        Kill(_process);
        _process.Dispose();
    }

    private static void Kill(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill();
        }

        process.WaitForExit(10_000);
    }
}
