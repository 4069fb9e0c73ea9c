using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

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
    /// <c>criu page-server -D DIR --address 127.0.0.1 --port P --lazy-pages -v4 -o LOG [extra]</c> on a free port (CRIU
    /// refuses port 0), started and waited for until it listens (its log says so right before accept). Dispose kills it
    /// by pid if it is still running and reaps it.
    /// </summary>
    public sealed class PageServer : IDisposable
    {
        private readonly Process _process;

        private PageServer(Process process, string logPath, int port)
        {
            _process = process;
            LogPath = logPath;
            Port = port;
        }

        public int Port { get; }

        public string LogPath { get; }

        public string Log => File.Exists(LogPath) ? File.ReadAllText(LogPath) : string.Empty;

        public static async Task<PageServer> StartAsync(string imagesDir, string logPath, params string[] extra)
        {
            int port = FreePort();
            var info = new ProcessStartInfo(Binary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string arg in new[] { "page-server", "-D", imagesDir, "--address", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--lazy-pages", "-v4", "-o", logPath }.Concat(extra))
            {
                info.ArgumentList.Add(arg);
            }

            var process = Process.Start(info) ?? throw new InvalidOperationException("could not start criu");
            _ = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (DateTime.UtcNow < deadline)
            {
                string log = File.Exists(logPath) ? await File.ReadAllTextAsync(logPath) : string.Empty;
                if (log.Contains("Running status-ready scripts", StringComparison.Ordinal))
                {
                    return new PageServer(process, logPath, port);
                }

                if (process.HasExited)
                {
                    break;
                }

                await Task.Delay(20);
            }

            Kill(process);
            throw new InvalidOperationException($"criu page-server did not start listening (exit {process.ExitCode}): {await stderr}; log:\n{(File.Exists(logPath) ? Tail(File.ReadAllText(logPath)) : "(none)")}");
        }

        private static int FreePort()
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return ((IPEndPoint)probe.LocalEndPoint!).Port;
        }

        /// <summary>Waits (bounded) for criu to exit and returns its exit code.</summary>
        public async Task<int> WaitForExitAsync(TimeSpan timeout)
        {
            using var bound = new CancellationTokenSource(timeout);
            try
            {
                await _process.WaitForExitAsync(bound.Token);
            }
            catch (OperationCanceledException)
            {
                Kill(_process);
                throw new TimeoutException($"criu page-server did not exit within {timeout.TotalSeconds} s; log tail:\n{Tail(Log)}");
            }

            return _process.ExitCode;
        }

        public bool HasExited => _process.HasExited;

        public void Dispose()
        {
            Kill(_process);
            _process.Dispose();
        }

        public static string Tail(string log) => string.Join('\n', log.Split('\n').TakeLast(15));

        private static void Kill(Process process)
        {
            if (!process.HasExited)
            {
                process.Kill();
            }

            process.WaitForExit(10_000);
        }
    }

    /// <summary>
    /// Dumps a real process into <paramref name="imagesDir"/>: a shell holding a string of <paramref name="stringBytes"/>
    /// bytes on its heap (lazy pages), stopped by itself so it is quiet while CRIU dumps it
    /// (<c>criu dump --shell-job</c>: it shares the test's session). The shell is killed (by CRIU, or by pid) and reaped.
    /// </summary>
    public static async Task DumpStoppedShellAsync(string imagesDir, string outputPath, string logPath, int stringBytes)
    {
        var shell = new ProcessStartInfo("/bin/bash") { UseShellExecute = false };
        shell.ArgumentList.Add("-c");
        shell.ArgumentList.Add($"exec >'{outputPath}' 2>&1 </dev/null; a=$(head -c {stringBytes} /dev/zero | tr '\\0' x); kill -STOP $$; echo ${{#a}}");
        using var workload = Process.Start(shell) ?? throw new InvalidOperationException("could not start bash");
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (!File.ReadAllText($"/proc/{workload.Id}/status").Contains("State:\tT", StringComparison.Ordinal))
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
                throw new InvalidOperationException($"criu dump failed ({criu.ExitCode}): {await stderr}\n{(File.Exists(logPath) ? PageServer.Tail(File.ReadAllText(logPath)) : string.Empty)}");
            }
        }
        finally
        {
            Kill(workload);
        }
    }

    private static void Kill(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill();
        }

        process.WaitForExit(10_000);
    }

    /// <summary>
    /// Raises <c>fs.pipe-max-size</c> to the 4 MiB CRIU's lazy page server needs (its reply pipe) for the scope and puts
    /// the old value back, unless something else changed it meanwhile.
    /// </summary>
    public sealed class PipeMaxSize : IDisposable
    {
        private const string Path = "/proc/sys/fs/pipe-max-size";
        private const long Needed = 4 << 20;
        private readonly long? _restore;

        public PipeMaxSize()
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
}
