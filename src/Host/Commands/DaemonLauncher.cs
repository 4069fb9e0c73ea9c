using System.Diagnostics;
using LazyActors.Engine.Restorer;

namespace LazyActors.Host.Commands;

/// <summary>CRIU's <c>-d/--daemon</c> (with <c>--pidfile</c>) for the daemon verbs (<c>lazy-pages</c>, <c>page-server</c>).</summary>
internal static class DaemonLauncher
{
    private static readonly TimeSpan DaemonReadyTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// <c>-d</c>: .NET cannot fork, so the same program is started again (without -d/--pidfile) with an inherited pipe
    /// as its status fd; once the child listens it writes \0, this parent writes the pidfile and exits 0.
    /// </summary>
    public static int Detach(string verb, string[] tokens, string workDir, string? pidFile)
    {
        var childArgs = new List<string>();
        for (var i = 0; i < tokens.Length; i++)
        {
            var token = tokens[i];
            if (token is "-d" or "--daemon")
            {
                continue;
            }

            if (token is "--pidfile" && verb == "lazy-pages" && i + 1 < tokens.Length)
            {
                // The daemon hands it to its crash guardian, which points it at each successor.
                childArgs.Add(token);
                childArgs.Add(tokens[++i]);
                continue;
            }

            if (token is "--pidfile" or "--status-fd")
            {
                i++;
                continue;
            }

            childArgs.Add(token);
        }

        var (read, writeFd) = ReadinessSignal.CreateInheritablePipe();
        using (read)
        {
            // Like CRIU's daemon(): a new session, stdio on /dev/null (use -o for a log). The shell execs, so the pid
            // of the started process is the daemon's; the status pipe is inherited through the exec.
            var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("command -v setsid >/dev/null 2>&1 && exec setsid \"$@\" </dev/null >/dev/null 2>&1; exec \"$@\" </dev/null >/dev/null 2>&1");
            start.ArgumentList.Add(verb);
            foreach (var part in CrashSafety.SelfInvocation.Prefix())
            {
                start.ArgumentList.Add(part);
            }

            foreach (var arg in childArgs)
            {
                start.ArgumentList.Add(arg);
            }

            start.ArgumentList.Add("--status-fd");
            start.ArgumentList.Add(writeFd.ToString(System.Globalization.CultureInfo.InvariantCulture));
            using var child = Process.Start(start) ?? throw new IOException("cannot start the daemon process");
            ReadinessSignal.Close(writeFd);
            var value = ReadinessSignal.WaitForByte(read, DaemonReadyTimeout);
            if (value != 0)
            {
                Console.Error.WriteLine($"{verb}: the daemon (pid {child.Id}) did not become ready within {DaemonReadyTimeout.TotalSeconds:0} s");
                if (!child.HasExited)
                {
                    child.Kill();
                    child.WaitForExit(5000);
                }

                return 1;
            }

            if (pidFile is not null)
            {
                File.WriteAllText(Path.Combine(workDir, pidFile), child.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n");
            }

            return 0;
        }
    }
}
