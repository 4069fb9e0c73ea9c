using LazyActors.Host;
using LazyActors.Tools.Bench;

namespace LazyActors.Tools.Criu;

/// <summary>
/// A lazy-pages daemon for <c>criu restore --lazy-pages</c>: this host's own (<see cref="Self"/>), CRIU's own
/// <c>criu lazy-pages</c> (<see cref="Criu"/>) or any criu-compatible command. The harness appends the options:
/// <c>-D IMAGES -W WORKDIR -o LOG</c>, then <c>--status-fd N</c> (readiness = the <c>\0</c> byte), or
/// <c>-d --pidfile FILE</c> when <see cref="Detach"/> (readiness = the parent exited 0 and the socket exists), then
/// <c>--page-server --address A --port P</c> for a remote restore.
/// </summary>
public sealed record CriuDaemonSpec
{
    /// <summary>The name of this daemon in results and tables.</summary>
    public required string Label { get; init; }

    /// <summary>The argv words before the options the harness appends.</summary>
    public required IReadOnlyList<string> Template { get; init; }

    /// <summary>True for this host's own engine.</summary>
    public bool IsOwnEngine { get; init; }

    /// <summary>Start it with <c>-d --pidfile</c> (it detaches; the harness's subreaper still reaps it).</summary>
    public bool Detach { get; init; }

    /// <summary>Words appended after the harness's options (e.g. <c>--no-background</c>).</summary>
    public IReadOnlyList<string> ExtraArgs { get; init; } = [];

    /// <summary>The word for this host's build next to the tools (IL, JIT-compiled at start-up), beside <c>self</c>.</summary>
    public const string SelfIl = "self-il";

    /// <summary>True when <paramref name="text"/> names this host's published build (<c>self</c>, detached or not).</summary>
    public static bool NamesPublishedSelf(string text) =>
        CommandTemplate.Split(text).Where(w => w is not ("-d" or "--daemon")).SequenceEqual(["self"]);

    /// <summary>This host's <c>lazy-pages</c>: <c>dotnet LazyActors.Host.dll lazy-pages</c>, run with
    /// <paramref name="hostPrefix"/> (a published build, <see cref="PublishedHost"/>) or, when null, from the build next
    /// to the tools.</summary>
    public static CriuDaemonSpec Self(bool detach = false, IReadOnlyList<string>? hostPrefix = null) =>
        new() { Label = detach ? "lazyactors-d" : "lazyactors", Template = [.. hostPrefix ?? HostInvocation.Prefix(), "lazy-pages"], IsOwnEngine = true, Detach = detach };

    /// <summary>CRIU's own daemon: <c>criu lazy-pages</c>.</summary>
    public static CriuDaemonSpec Criu(CriuTool criu, bool detach = false)
    {
        ArgumentNullException.ThrowIfNull(criu);
        return new() { Label = detach ? "criu-d" : "criu", Template = [criu.Path, "lazy-pages"], Detach = detach };
    }

    /// <summary>
    /// <c>self</c> (this host, run with <paramref name="ownHostPrefix"/> when given: the published build), <c>self-il</c>
    /// (this host's build next to the tools), <c>criu</c> or a command line (split like a shell splits words, see
    /// <see cref="CommandTemplate"/>); a <c>-d</c> or <c>--daemon</c> word anywhere asks for the detached start.
    /// </summary>
    /// <exception cref="FormatException">An empty or badly quoted command.</exception>
    public static CriuDaemonSpec Parse(string text, CriuTool? criu, IReadOnlyList<string>? ownHostPrefix = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var words = CommandTemplate.Split(text).ToList();
        bool detach = words.RemoveAll(w => w is "-d" or "--daemon") > 0;
        if (words.Count == 1 && words[0] == "self")
        {
            return Self(detach, ownHostPrefix);
        }

        if (words.Count == 1 && words[0] == SelfIl)
        {
            return Self(detach) with { Label = detach ? "lazyactors-il-d" : "lazyactors-il" };
        }

        if (words.Count == 1 && words[0] == "criu")
        {
            return criu is null
                ? throw new FormatException("--daemon criu needs CRIU, which is not available here")
                : Criu(criu, detach);
        }

        var label = string.Join('-', words.Select(Path.GetFileName).Where(w => !string.IsNullOrEmpty(w) && !w!.StartsWith('-')).Take(2));
        return new() { Label = label, Template = words, Detach = detach };
    }

    /// <summary>The daemon's full command line for one restore (<see cref="ReapedProcess.StatusFdToken"/> for the status descriptor).</summary>
    public IReadOnlyList<string> Argv(string imagesDir, string workDir, string logPath, string pidFile, CriuPageServerEndpoint? pageServer)
    {
        var argv = new List<string>(Template) { "-D", imagesDir, "-W", workDir, "-o", logPath };
        if (Detach)
        {
            argv.AddRange(["-d", "--pidfile", pidFile]);
        }
        else
        {
            argv.AddRange(["--status-fd", ReapedProcess.StatusFdToken]);
        }

        if (pageServer is { } remote)
        {
            argv.AddRange(["--page-server", "--address", remote.Address, "--port", remote.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }

        argv.AddRange(ExtraArgs);
        return argv;
    }

    /// <summary>The command line as shown in reports.</summary>
    public string DisplayName => CommandTemplate.Join([.. Template, .. Detach ? ["-d"] : Array.Empty<string>(), .. ExtraArgs]);
}
