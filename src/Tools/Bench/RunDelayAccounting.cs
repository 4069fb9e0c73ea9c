namespace LazyActors.Tools.Bench;

/// <summary>
/// Turns on the kernel's per-task delay accounting (<c>/proc/sys/kernel/task_delayacct</c>) for the length of a bench
/// run, so that the simulated tasks can read their own run delay and the bench can tell a daemon's latency from a task
/// that merely waited for a CPU. Uses within one process are counted: the switch goes back off, if it was off, when
/// the last one ends. Without permission, or on a kernel without the switch, nothing changes and the split figure is
/// reported as unavailable.
/// </summary>
public sealed class RunDelayAccounting : IDisposable
{
    private const string SwitchPath = "/proc/sys/kernel/task_delayacct";
    private static readonly Lock SwitchGate = new();
    private static int s_users;
    private static bool s_turnedOnByUs;
    private bool _disposed;

    private RunDelayAccounting(string status) => Status = status;

    /// <summary>What happened, for the report: "already on", "on for this run", or why not.</summary>
    public string Status { get; }

    /// <summary>Switches accounting on if it is off and this process may (root).</summary>
    public static RunDelayAccounting Enable()
    {
        lock (SwitchGate)
        {
            try
            {
                if (!File.Exists(SwitchPath))
                {
                    return new RunDelayAccounting($"unavailable: {SwitchPath} does not exist") { _disposed = true };
                }

                if (s_users > 0 && s_turnedOnByUs)
                {
                    s_users++;
                    return new RunDelayAccounting("on for this run (restored afterwards)");
                }

                if (File.ReadAllText(SwitchPath).Trim() != "0")
                {
                    s_users++;
                    return new RunDelayAccounting("already on");
                }

                File.WriteAllText(SwitchPath, "1");
                s_turnedOnByUs = true;
                s_users++;
                return new RunDelayAccounting("on for this run (restored afterwards)");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return new RunDelayAccounting($"unavailable: cannot switch {SwitchPath} on ({e.Message})") { _disposed = true };
            }
        }
    }

    /// <summary>Ends this use; the last use in the process switches accounting back off if it turned it on.</summary>
    public void Dispose()
    {
        lock (SwitchGate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (--s_users > 0 || !s_turnedOnByUs)
            {
                return;
            }

            s_turnedOnByUs = false;
            try
            {
                File.WriteAllText(SwitchPath, "0");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Leaving accounting on is harmless; nothing else to do.
            }
        }
    }
}
