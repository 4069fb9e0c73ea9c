using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace LazyActors.Host.CrashSafety;

/// <summary>
/// The guardian's own .NET start-up (runtime, assemblies, its command line: tens of milliseconds of CPU) runs while
/// <c>criu restore</c> works and the daemon builds its actor system; on a small machine it takes a CPU from exactly
/// what the restorer waits for. So it starts below normal priority and returns to normal once it is up (before it
/// reads the journal or starts a successor, which inherits its priority). Done only by a privileged daemon at normal
/// priority: an unprivileged guardian could not raise itself back, and a daemon the user started with another nice
/// value passes that value on unchanged, as before.
/// </summary>
internal static class GuardianPriority
{
    /// <summary>The guardian's nice value until it is up (ProcessPriorityClass.BelowNormal on Linux).</summary>
    public const int StartUpNice = 10;

    /// <summary>The guardian's option saying it was started below normal priority and must return to normal once up.</summary>
    public const string StartedBelowNormalOption = "--started-below-normal";

    /// <summary>Whether the daemon lowers its guardian's start-up: privileged and at nice 0 on the calling thread
    /// (the one that forks the guardian, whose nice value the guardian inherits).</summary>
    public static bool ShouldLower() => Environment.IsPrivilegedProcess && NiceOfCallingThread() == 0;

    /// <summary>Lowers the just-started guardian's priority (its first thread: the threads it starts inherit it);
    /// best effort, returns whether it was done.</summary>
    public static bool LowerForStartUp(Process guardian)
    {
        ArgumentNullException.ThrowIfNull(guardian);
        try
        {
            guardian.PriorityClass = ProcessPriorityClass.BelowNormal;
            return true;
        }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException)
        {
            // Already gone (its own error is reported where the daemon's are) or not allowed: it starts at normal priority.
            return false;
        }
    }

    /// <summary>In a guardian started with <see cref="StartedBelowNormalOption"/>, once it is up: back to normal
    /// priority. Returns what to log.</summary>
    public static string RestoreNormal()
    {
        try
        {
            using var self = Process.GetCurrentProcess();
            self.PriorityClass = ProcessPriorityClass.Normal;
            return $"started at nice {StartUpNice} (below the restore), now at normal priority";
        }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException)
        {
            return $"stays below normal priority ({ex.Message}): its successors will too";
        }
    }

    /// <summary>The calling thread's nice value (/proc/thread-self/stat, field 19), or null when unreadable.</summary>
    public static int? NiceOfCallingThread() => NiceIn("/proc/thread-self/stat");

    /// <summary>The nice value of <paramref name="pid"/>'s first thread, or null when unreadable (gone).</summary>
    public static int? NiceOf(int pid) => NiceIn($"/proc/{pid}/stat");

    private static int? NiceIn(string statFile)
    {
        try
        {
            var stat = File.ReadAllText(statFile);
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[16], CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }
}
