using System.Diagnostics;
using LazyActors.Host;

namespace LazyActors.Engine.Tests.Support;

/// <summary>Runs a verb of <c>LazyActors.Host.dll</c> as users do, in its own process, bounded in time and reaped.</summary>
internal static class HostProcess
{
    public static (int ExitCode, string Stdout, string Stderr) Run(TimeSpan timeout, params string[] args)
    {
        var prefix = HostInvocation.Prefix();
        var info = new ProcessStartInfo(prefix[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in prefix.Skip(1).Concat(args))
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {info.FileName}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException($"LazyActors.Host {string.Join(' ', args)} did not finish within {timeout.TotalSeconds:0} s");
        }

        process.WaitForExit(); // flush the redirected output
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
