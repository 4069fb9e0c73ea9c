using System.Diagnostics;
using LazyActors.Host;

namespace LazyActors.Tools.Bench;

/// <summary>The daemon command the scenarios run against, and what it supports.</summary>
public sealed class DaemonUnderTest
{
    private readonly Lazy<string> _help;

    /// <summary>Creates it from the command template (argv words before the lazy-pages options).</summary>
    public DaemonUnderTest(IReadOnlyList<string> template, bool isOwnEngine)
    {
        ArgumentNullException.ThrowIfNull(template);
        Template = template;
        IsOwnEngine = isOwnEngine;
        _help = new Lazy<string>(ReadHelp);
    }

    /// <summary>The argv words before <c>-D IMAGES -W WORKDIR --status-fd N</c>.</summary>
    public IReadOnlyList<string> Template { get; }

    /// <summary>True for this host's own <c>lazy-pages</c> verb.</summary>
    public bool IsOwnEngine { get; }

    /// <summary>The daemon as shown in the report.</summary>
    public string DisplayName => CommandTemplate.Join(Template);

    /// <summary>This host's own engine: <c>dotnet LazyActors.Host.dll lazy-pages</c>, from <paramref name="hostPrefix"/>
    /// (a published build, <see cref="PublishedHost"/>) or, when null, the build next to the tools.</summary>
    public static DaemonUnderTest OwnEngine(IReadOnlyList<string>? hostPrefix = null) =>
        new([.. hostPrefix ?? HostInvocation.Prefix(), "lazy-pages"], isOwnEngine: true);

    /// <summary>True when the daemon's <c>--help</c> output mentions <paramref name="flag"/> as a whole word.</summary>
    public bool Supports(string flag)
    {
        var help = _help.Value;
        int at = 0;
        while ((at = help.IndexOf(flag, at, StringComparison.Ordinal)) >= 0)
        {
            int end = at + flag.Length;
            bool wordEnd = end == help.Length || !(char.IsAsciiLetterOrDigit(help[end]) || help[end] == '-');
            bool wordStart = at == 0 || char.IsWhiteSpace(help[at - 1]) || help[at - 1] is ',' or '[' or '|';
            if (wordStart && wordEnd)
            {
                return true;
            }

            at = end;
        }

        return false;
    }

    private string ReadHelp()
    {
        var info = new ProcessStartInfo(Template[0]);
        foreach (var word in Template.Skip(1))
        {
            info.ArgumentList.Add(word);
        }

        info.ArgumentList.Add("--help");
        try
        {
            var outcome = ChildProcess.Run(info, TimeSpan.FromSeconds(30));
            return outcome.TimedOut ? "" : outcome.Stdout + outcome.Stderr;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "";
        }
    }
}
