using System.Diagnostics;
using System.Text;

namespace LazyActors.Tools;

/// <summary>
/// Runs a program to its end with its stdout and stderr captured, bounded in time: the runtime's event-based readers
/// drain both pipes while we wait (so a child filling one never blocks), and a child still running when the time is up
/// is killed with its descendants and reaped.
/// </summary>
internal static class ChildProcess
{
    /// <summary>How a run ended: <paramref name="TimedOut"/> when it had to be killed.</summary>
    public sealed record Outcome(bool TimedOut, int ExitCode, string Stdout, string Stderr);

    /// <summary>Starts <paramref name="info"/> (its output is redirected here) and waits at most <paramref name="timeout"/>.</summary>
    /// <exception cref="System.ComponentModel.Win32Exception">The program could not be started.</exception>
    public static Outcome Run(ProcessStartInfo info, TimeSpan timeout)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        using var process = new Process { StartInfo = info };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => Append(stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(stderr, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var timedOut = !process.WaitForExit(timeout);
        if (timedOut)
        {
            process.Kill(entireProcessTree: true);
        }

        process.WaitForExit(); // reaps, and lets the readers deliver the last lines
        lock (stdout)
        {
            lock (stderr)
            {
                return new Outcome(timedOut, timedOut ? -1 : process.ExitCode, stdout.ToString(), stderr.ToString());
            }
        }
    }

    private static void Append(StringBuilder text, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (text)
        {
            text.AppendLine(line);
        }
    }
}
