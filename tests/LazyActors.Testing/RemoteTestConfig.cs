namespace LazyActors.Testing;

/// <summary>
/// The HOCON overrides the remote-restore command tests give a daemon (`--config`): a page source found lost within
/// <c>timeouts</c>, reconnections tried every 20–200 ms, the restore given up after <c>giveUpAfter</c>, the background
/// transfer held <c>pushDelay</c> (so a kill or a lost source lands while pages are still missing).
/// </summary>
public static class RemoteTestConfig
{
    /// <summary>Writes the overrides to <paramref name="fileName"/> in <paramref name="work"/> and returns its path.</summary>
    /// <param name="work">Where the file goes.</param>
    /// <param name="giveUpAfter"><c>remote.give-up-after</c> (HOCON duration).</param>
    /// <param name="pushDelay"><c>background-push-delay</c> (HOCON duration).</param>
    /// <param name="timeouts"><c>remote.reply-timeout</c> and <c>remote.connect-timeout</c> (HOCON duration).</param>
    /// <param name="restartBudget"><c>crash-safety.restart-budget</c>, or null for the default.</param>
    /// <param name="fileName">The file's name (daemons of one test with different overrides need one each).</param>
    public static string Write(ScratchDirectory work, string giveUpAfter, string pushDelay, string timeouts = "1s", int? restartBudget = null, string fileName = "remote.hocon")
    {
        ArgumentNullException.ThrowIfNull(work);
        var path = Path.Combine(work.Path, fileName);
        var crashSafety = restartBudget is { } budget ? $"crash-safety.restart-budget = {budget}" : string.Empty;
        File.WriteAllText(path, $$"""
            lazy-actors.engine {
              background-push-delay = {{pushDelay}}
              {{crashSafety}}
              remote {
                reply-timeout = {{timeouts}}
                connect-timeout = {{timeouts}}
                reconnect-backoff-min = 20ms
                reconnect-backoff-max = 200ms
                give-up-after = {{giveUpAfter}}
              }
            }
            """);
        return path;
    }
}
