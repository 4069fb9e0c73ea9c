using System.Diagnostics;
using System.Globalization;

namespace LazyActors.Engine.Tests.Protocol.Support;

/// <summary>
/// The real CRIU 4.2 of <c>../shared/tools/criu-4.2</c>, for interoperability tests. Tests skip (with
/// <see cref="MissingReason"/>) where its <c>setup</c> is absent, as in a clone without <c>../shared</c>.
/// </summary>
internal static class RealCriu
{
    /// <summary>The directory holding <c>criu</c> and <c>setup</c>, or null.</summary>
    public static string? ToolDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "LazyActors.sln")))
            {
                string tools = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "tools", "criu-4.2"));
                return File.Exists(Path.Combine(tools, "setup")) ? tools : null;
            }
        }

        return null;
    }

    public static string MissingReason => "real CRIU 4.2 not available: ../shared/tools/criu-4.2/setup is absent";

    public static string Binary => Path.Combine(ToolDirectory() ?? throw new InvalidOperationException(MissingReason), "criu");

    /// <summary>
    /// Dumps a real process into <paramref name="imagesDir"/>: a shell holding a string of <paramref name="stringBytes"/>
    /// bytes on its heap (lazy pages), stopped by itself so it is quiet while CRIU dumps it
    /// (<c>criu dump --shell-job</c>). The shell leads its own session (setsid): where the test runs in a pid namespace
    /// whose session leader is outside it (as in CI), CRIU refuses a task whose session id is 0 in its namespace.
    /// The shell is killed (by CRIU, or by pid) and reaped.
    /// </summary>
    public static async Task DumpStoppedShellAsync(string imagesDir, string outputPath, string logPath, int stringBytes)
    {
        // setsid does not fork here: our child is not a process group leader, so the pid we hold is the shell's.
        var shell = new ProcessStartInfo("setsid") { UseShellExecute = false };
        shell.ArgumentList.Add("/bin/bash");
        shell.ArgumentList.Add("-c");
        shell.ArgumentList.Add($"exec >'{outputPath}' 2>&1 </dev/null; a=$(head -c {stringBytes} /dev/zero | tr '\\0' x); kill -STOP $$; echo ${{#a}}");
        using var workload = Process.Start(shell) ?? throw new InvalidOperationException("could not start bash");
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (!(await File.ReadAllTextAsync($"/proc/{workload.Id}/status")).Contains("State:\tT", StringComparison.Ordinal))
            {
                if (DateTime.UtcNow > deadline || workload.HasExited)
                {
                    throw new InvalidOperationException($"the workload shell did not stop itself (exited: {workload.HasExited})");
                }

                await Task.Delay(20);
            }

            var dump = new ProcessStartInfo(Binary) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (string arg in new[] { "dump", "-t", workload.Id.ToString(CultureInfo.InvariantCulture), "-D", imagesDir, "--shell-job", "-v4", "-o", logPath })
            {
                dump.ArgumentList.Add(arg);
            }

            using var criu = Process.Start(dump) ?? throw new InvalidOperationException("could not start criu dump");
            var stderr = criu.StandardError.ReadToEndAsync();
            _ = criu.StandardOutput.ReadToEndAsync();
            if (!criu.WaitForExit(60_000))
            {
                Kill(criu);
                throw new TimeoutException("criu dump did not finish within 60 s");
            }

            if (criu.ExitCode != 0)
            {
                throw new InvalidOperationException($"criu dump failed ({criu.ExitCode}): {await stderr}\n{(File.Exists(logPath) ? CriuPageServerProcess.Tail(await File.ReadAllTextAsync(logPath)) : string.Empty)}");
            }
        }
        finally
        {
            Kill(workload);
        }
    }

    internal static void Kill(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill();
        }

        process.WaitForExit(10_000);
    }
}
