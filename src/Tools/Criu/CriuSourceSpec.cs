using LazyActors.Host;
using LazyActors.Tools.Bench;

namespace LazyActors.Tools.Criu;

/// <summary>
/// The source of a restore through a page server: <c>criu page-server --lazy-pages</c> (<see cref="Criu"/>: serves one
/// session and exits by itself) or this host's own <c>page-server</c> (<see cref="Self"/>: serves any number of
/// sessions until SIGTERM, which the harness sends once the restore is over). The harness appends
/// <c>-D IMAGES --address A --port P --lazy-pages -o LOG --status-fd N</c> (readiness = the <c>\0</c> byte), then
/// <see cref="ExtraArgs"/> (such as the <c>--tls</c> options).
/// </summary>
public sealed record CriuSourceSpec
{
    private const string SelfDirPrefix = "self=";

    /// <summary>The name of this source in results and tables.</summary>
    public required string Label { get; init; }

    /// <summary>The argv words before the options the harness appends.</summary>
    public required IReadOnlyList<string> Template { get; init; }

    /// <summary>True for CRIU's own page server (its log level follows the harness's CRIU verbosity).</summary>
    public bool IsCriu { get; init; }

    /// <summary>True for a server that serves until stopped: the harness sends SIGTERM once the restore is over.</summary>
    public bool StopsOnSignal { get; init; }

    /// <summary>Words appended after the harness's options.</summary>
    public IReadOnlyList<string> ExtraArgs { get; init; } = [];

    /// <summary>
    /// This host's <c>page-server</c>: run by <paramref name="hostPrefix"/> (the published host, as the daemon runs), else
    /// <c>dotnet LazyActors.Host.dll page-server</c> next to these tools (the IL build, which JITs while it serves).
    /// </summary>
    public static CriuSourceSpec Self(IReadOnlyList<string>? hostPrefix = null) =>
        new() { Label = "lazyactors-ps", Template = [.. hostPrefix ?? HostInvocation.Prefix(), "page-server"], StopsOnSignal = true, ExtraArgs = ["-v", "3"] };

    /// <summary>
    /// The source a <c>bench --source</c> word names: <c>criu</c>, <c>self</c> (run by <paramref name="ownHostPrefix"/>)
    /// or <c>self=DIR</c> (the page server of the host published in DIR, labelled <c>lazyactors-ps@</c>DIR's name, so
    /// two builds of our server can be compared in one run).
    /// </summary>
    /// <exception cref="ArgumentException">The word is none of these (<see cref="ParseProblem"/> says why).</exception>
    public static CriuSourceSpec Parse(string text, IReadOnlyList<string>? ownHostPrefix, CriuTool criu)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (ParseProblem(text) is { } problem)
        {
            throw new ArgumentException($"--source {text}: {problem}", nameof(text));
        }

        if (text == "criu")
        {
            return Criu(criu);
        }

        if (text == "self")
        {
            return Self(ownHostPrefix);
        }

        string dir = text[SelfDirPrefix.Length..];
        return Self(PublishedHost.PrefixFor(dir)) with { Label = $"lazyactors-ps@{Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)))}" };
    }

    /// <summary>Why <paramref name="text"/> names no source (see <see cref="Parse"/>), or null when it names one.</summary>
    public static string? ParseProblem(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text is "criu" or "self")
        {
            return null;
        }

        if (!text.StartsWith(SelfDirPrefix, StringComparison.Ordinal) || text.Length == SelfDirPrefix.Length)
        {
            return "expected criu, self or self=DIR (a directory holding a published host)";
        }

        try
        {
            _ = PublishedHost.PrefixFor(text[SelfDirPrefix.Length..]);
            return null;
        }
        catch (Exception e) when (e is FileNotFoundException or IOException or ArgumentException)
        {
            return e.Message;
        }
    }

    /// <summary>CRIU's <c>criu page-server --lazy-pages</c>.</summary>
    public static CriuSourceSpec Criu(CriuTool criu)
    {
        ArgumentNullException.ThrowIfNull(criu);
        return new() { Label = "criu-ps", Template = [criu.Path, "page-server"], IsCriu = true };
    }

    /// <summary>The source's full command line (<see cref="ReapedProcess.StatusFdToken"/> for the status descriptor).</summary>
    public IReadOnlyList<string> Argv(string imagesDir, CriuPageServerEndpoint endpoint, string logPath, int? criuVerbosity)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var argv = new List<string>(Template)
        {
            "-D", imagesDir, "--address", endpoint.Address, "--port", endpoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--lazy-pages", "-o", logPath, "--status-fd", ReapedProcess.StatusFdToken,
        };
        if (IsCriu && criuVerbosity is { } level)
        {
            argv.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"-v{level}"));
        }

        argv.AddRange(ExtraArgs);
        return argv;
    }

    /// <summary>The command line as shown in reports.</summary>
    public string DisplayName => CommandTemplate.Join([.. Template, .. ExtraArgs]);
}
