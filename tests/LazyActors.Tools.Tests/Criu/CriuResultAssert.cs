using LazyActors.Tools.Criu;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>What the tests of a real <c>criu restore --lazy-pages</c> print and check of its result.</summary>
internal static class CriuResultAssert
{
    /// <summary>Writes the result's summary and notes to the test output and returns it.</summary>
    public static CriuRestoreResult Reported(ITestOutputHelper output, CriuRestoreResult result)
    {
        output.WriteLine(result.Summary());
        foreach (var note in result.Notes)
        {
            output.WriteLine($"note: {note}");
        }

        return result;
    }

    /// <summary>Every task of the checkpoint verified all its bytes; the restored root and the daemon exited 0.</summary>
    public static void EveryByteVerified(CriuRestoreResult result, CriuCheckpoint checkpoint)
    {
        Assert.True(result.Ok, string.Join("\n", result.Failures));
        Assert.Equal(checkpoint.Workload.TotalBytes, result.BytesVerified);
        Assert.Equal(checkpoint.Workload.TaskCount, result.Tasks.Count);
        Assert.All(result.Tasks, t => Assert.Equal(checkpoint.Workload.BytesPerTask, t.BytesVerified));
        Assert.Equal(0, result.RootExitCode);
        Assert.Equal(0, result.DaemonExitCode);
    }
}
