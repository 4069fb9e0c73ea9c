using System.Diagnostics;
using System.Globalization;

namespace LazyActors.Tools.Criu;

/// <summary>
/// A real program: python3 (<see cref="Interpreter"/>) running <c>criu_python_workload.py</c>, holding
/// <paramref name="MiB"/> MiB of seeded bytes and a dict of <paramref name="Entries"/> entries; after the restore it
/// answers the query (SHA-256 of the bytes and a checksum over the dict), which must equal its answer before the dump.
/// </summary>
/// <param name="Interpreter">The python3 executable (see <see cref="LocateAsync"/>).</param>
/// <param name="MiB">Size of the bytes object, MiB.</param>
/// <param name="Entries">Entries of the dict.</param>
/// <param name="Seed">Seed of the bytes and the dict values.</param>
public sealed record PythonWorkload(string Interpreter, int MiB = 192, int Entries = 1_000_000, int Seed = 49858) : CriuWorkload
{
    /// <summary>The environment variable naming the python3 to use.</summary>
    public const string EnvironmentVariable = "LAZYACTORS_PYTHON";

    /// <inheritdoc />
    public override string Name => string.Create(CultureInfo.InvariantCulture, $"python-{MiB}m-{Entries / 1000}k");

    /// <inheritdoc />
    public override int TaskCount => 1;

    /// <inheritdoc />
    public override long BytesPerTask => (long)MiB << 20;

    /// <inheritdoc />
    public override TimeSpan ReadyTimeout => TimeSpan.FromSeconds(60 + (MiB / 20) + (Entries / 100_000));

    /// <inheritdoc />
    public override IReadOnlyList<string> Command(string workloadDir) =>
    [
        Interpreter, "-I", "-S", CriuHelpers.PythonScriptPath, "--dir", workloadDir,
        "--mib", MiB.ToString(CultureInfo.InvariantCulture), "--entries", Entries.ToString(CultureInfo.InvariantCulture),
        "--seed", Seed.ToString(CultureInfo.InvariantCulture),
    ];

    /// <inheritdoc />
    public override string? Problem(WorkloadReady ready, WorkloadTaskReport report)
    {
        ArgumentNullException.ThrowIfNull(ready);
        ArgumentNullException.ThrowIfNull(report);
        if (!ready.Fields.TryGetValue("expected", out var expected))
        {
            return "its ready file has no expected answer";
        }

        if (report.Answer != expected)
        {
            return $"answered {report.Answer ?? "nothing"} after the restore, {expected} before the dump";
        }

        return base.Problem(ready, report);
    }

    /// <summary>
    /// Finds a python3 of at least 3.9 (the script uses <c>Random.randbytes</c>): <c>$LAZYACTORS_PYTHON</c>, else
    /// /usr/bin/python3, else the python3 on PATH resolved to the interpreter itself (a pyenv shim is a shell script).
    /// Returns the interpreter's path, or null and the reason (a skip reason).
    /// </summary>
    public static async Task<(string? Interpreter, string? Problem)> LocateAsync()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } configured)
        {
            candidates.Add(configured);
        }
        else
        {
            candidates.Add("/usr/bin/python3");
            candidates.Add("python3");
        }

        var problems = new List<string>();
        foreach (var candidate in candidates)
        {
            var (resolved, problem) = await ProbeAsync(candidate).ConfigureAwait(false);
            if (resolved is not null)
            {
                return (resolved, null);
            }

            problems.Add($"{candidate}: {problem}");
        }

        return (null, $"no usable python3 (3.9 or newer): {string.Join("; ", problems)}");
    }

    private static async Task<(string? Resolved, string? Problem)> ProbeAsync(string candidate)
    {
        var info = new ProcessStartInfo(candidate) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-I", "-S", "-c", "import sys; print(sys.executable); sys.exit(0 if sys.version_info >= (3, 9) else 3)" })
        {
            info.ArgumentList.Add(arg);
        }

        try
        {
            using var process = Process.Start(info);
            if (process is null)
            {
                return (null, "could not be started");
            }

            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                await process.WaitForExitAsync(bound.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                return (null, "did not answer within 20 s");
            }

            var output = (await stdout.ConfigureAwait(false)).Trim();
            var errors = await stderr.ConfigureAwait(false);
            return process.ExitCode switch
            {
                0 when File.Exists(output) => (output, null),
                0 => (null, $"reported its executable as '{output}', which does not exist"),
                3 => (null, "older than 3.9"),
                _ => (null, $"exited {process.ExitCode}: {CriuTool.Tail(errors, 200)}"),
            };
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (null, ex.Message);
        }
    }
}
