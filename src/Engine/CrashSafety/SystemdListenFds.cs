using System.Globalization;
using LazyActors.Engine.Interop;

namespace LazyActors.Engine.CrashSafety;

/// <summary>
/// The descriptors systemd passes to a service it starts (sd_listen_fds_with_names' protocol): <c>LISTEN_FDS</c> of them
/// from descriptor 3 on, named by <c>LISTEN_FDNAMES</c> (colon-separated, in order), meant for this process only when
/// <c>LISTEN_PID</c> is its pid. After a crash of the service these are what it had put in the file-descriptor store
/// (<see cref="SystemdFdStore"/>).
/// </summary>
public static class SystemdListenFds
{
    /// <summary>The first descriptor systemd passes.</summary>
    public const int First = 3;

    /// <summary>
    /// Takes the passed descriptors (each made close-on-exec, as sd_listen_fds does) and unsets the three variables, so
    /// nothing started from here takes them for its own. Empty when none were passed to this process.
    /// </summary>
    /// <exception cref="InvalidDataException">The variables contradict each other (a count that is not a number, more names
    /// than descriptors).</exception>
    public static IReadOnlyList<(string Name, SafeFdHandle Descriptor)> Take()
    {
        var pid = Environment.GetEnvironmentVariable("LISTEN_PID");
        var count = Environment.GetEnvironmentVariable("LISTEN_FDS");
        var names = Environment.GetEnvironmentVariable("LISTEN_FDNAMES");
        Environment.SetEnvironmentVariable("LISTEN_PID", null);
        Environment.SetEnvironmentVariable("LISTEN_FDS", null);
        Environment.SetEnvironmentVariable("LISTEN_FDNAMES", null);
        if (string.IsNullOrEmpty(pid) || string.IsNullOrEmpty(count))
        {
            return [];
        }

        if (!int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out var forPid) || forPid != Environment.ProcessId)
        {
            // Meant for another process (a parent that did not unset them): not ours to touch.
            return [];
        }

        if (!int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > 65536)
        {
            throw new InvalidDataException($"LISTEN_FDS={count} is not a descriptor count");
        }

        var named = string.IsNullOrEmpty(names) ? [] : names.Split(':');
        if (named.Length > n)
        {
            throw new InvalidDataException($"LISTEN_FDNAMES names {named.Length} descriptors, LISTEN_FDS passes {n}");
        }

        var passed = new List<(string, SafeFdHandle)>(n);
        for (var i = 0; i < n; i++)
        {
            var fd = First + i;
            if (Libc.Fcntl(fd, Libc.F_SETFD, Libc.FD_CLOEXEC) < 0)
            {
                // Not open: systemd said it passed it, but nothing is there to take.
                continue;
            }

            // systemd names an unnamed descriptor "unknown".
            passed.Add((i < named.Length && named[i].Length > 0 ? named[i] : "unknown", new SafeFdHandle(fd, ownsHandle: true)));
        }

        return passed;
    }
}
