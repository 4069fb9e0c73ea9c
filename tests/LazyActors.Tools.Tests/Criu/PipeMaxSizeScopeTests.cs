using System.Diagnostics;
using System.Globalization;
using LazyActors.Tools.Criu;
using Xunit;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>
/// <see cref="PipeMaxSizeScope"/> on the machine's real <c>fs.pipe-max-size</c> (root only): scopes join each other, and
/// the limit stays raised while any is live. Each scope opens the lock file afresh, so two scopes of one process lock
/// against each other as two processes' would (flock locks belong to the open file).
/// </summary>
public sealed class PipeMaxSizeScopeTests
{
    private const string Sysctl = "/proc/sys/fs/pipe-max-size";

    [SkippableFact]
    public void A_second_scope_joins_a_live_one_without_waiting_for_it_to_end()
    {
        Skip.IfNot(Environment.IsPrivilegedProcess, "fs.pipe-max-size is written by root only");
        var before = Read();
        using (var first = new PipeMaxSizeScope())
        {
            Assert.True(Read() >= PipeMaxSizeScope.Needed);
            var clock = Stopwatch.StartNew();
            using (var second = new PipeMaxSizeScope())
            {
                // The first scope's shared lock used to make this wait its 30 s bound and fail.
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the second scope waited {clock.Elapsed.TotalSeconds:0.0} s");
                Assert.True(Read() >= PipeMaxSizeScope.Needed);
            }

            // The second scope was not the last: the limit stays raised for the first.
            Assert.True(Read() >= PipeMaxSizeScope.Needed);
        }

        // Not compared with the value before: a parallel test host's scope may be live now, keeping it raised.
        Assert.True(Read() >= Math.Min(before, PipeMaxSizeScope.Needed));
    }

    private static long Read() => long.Parse(File.ReadAllText(Sysctl).Trim(), CultureInfo.InvariantCulture);
}
