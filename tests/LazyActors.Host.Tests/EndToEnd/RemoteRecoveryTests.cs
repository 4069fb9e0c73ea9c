using LazyActors.Engine.Configuration;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.EndToEnd;

/// <summary>
/// A remote restore against a source that misbehaves (a scripted fake over the checkpoint's real pages), through the
/// whole engine, with the restore simulator verifying every byte on real processes: short replies are asked again;
/// a reply out of order, a wrong dst_id, a close in the middle of a payload, a stall or a reset end the connection, the
/// engine reconnects and re-issues what was in flight, and the restore completes with every byte right. A source that
/// never comes back: the tree is stopped and the error names the source, the tasks and the ranges. Never a page of
/// zeros where the source had data: every task verifies its memory, or is killed before it can read it.
/// </summary>
public sealed class RemoteRecoveryTests(ITestOutputHelper output)
{
    private const int FaultAtRequest = 25;

    /// <summary>The source's number of the fault connection: SourceConnector opens it once the first one is up, and
    /// any further bulk connections only after its probe GET.</summary>
    private const int FaultConnectionNumber = 2;

    [SkippableTheory]
    [InlineData(FaultConnectionMode.Off)]
    [InlineData(FaultConnectionMode.On)]
    public async Task Short_replies_are_asked_again_and_every_byte_arrives(FaultConnectionMode mode)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("rrs");
        var images = Images(work);
        using var store = LazyPageStore.Open(images);
        await using var source = FaultyPageServer.Start(store, (_, request, _) => request % 3 == 0 ? SourceFault.Short : SourceFault.None);

        var (report, result) = await RunAsync(images, work, source, mode);

        RemoteRestoreRun.AssertRestored(report, result);
        Assert.Contains(source.Log, line => line.Contains("Short", StringComparison.Ordinal));
        Assert.True(result.Statistics.Remote.ShortReplies > 0);
        Assert.Equal(0, result.Statistics.Remote.Reconnects);
        Assert.Equal(mode == FaultConnectionMode.On ? Connections(images, work) : 1, source.Accepted); // short replies are no failure
        Assert.Empty(source.BadRequests);
    }

    [SkippableTheory]
    [InlineData(SourceFault.OutOfOrder, FaultConnectionMode.Off, RemoteFailureStaging.FirstConnection)]
    [InlineData(SourceFault.WrongDstId, FaultConnectionMode.Off, RemoteFailureStaging.FirstConnection)]
    [InlineData(SourceFault.CloseMidPayload, FaultConnectionMode.Off, RemoteFailureStaging.FirstConnection)]
    [InlineData(SourceFault.Stall, FaultConnectionMode.Off, RemoteFailureStaging.FirstConnection)]
    [InlineData(SourceFault.Reset, FaultConnectionMode.Off, RemoteFailureStaging.FirstConnection)]
    [InlineData(SourceFault.Reset, FaultConnectionMode.On, RemoteFailureStaging.FirstConnection)]
    [InlineData(SourceFault.Stall, FaultConnectionMode.On, RemoteFailureStaging.FaultConnection)]
    [InlineData(SourceFault.Stall, FaultConnectionMode.On, RemoteFailureStaging.BulkConnectionFaultsWait)]
    public async Task A_broken_connection_is_replaced_and_what_was_in_flight_is_asked_again(SourceFault fault, FaultConnectionMode mode, RemoteFailureStaging staging)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("rrf");
        // A stall on the fault connection needs fault reads: tasks larger than remote.prefetch-during-restore, so that
        // random faults find pages that were neither read while the restore ran nor are on their way.
        var images = Images(work, staging == RemoteFailureStaging.FaultConnection ? 48 : 12);
        using var store = LazyPageStore.Open(images);
        var connection = staging == RemoteFailureStaging.FaultConnection ? FaultConnectionNumber : 1;
        // The first connection (or the fault connection) breaks mid-restore; every later one is healthy.
        await using var source = FaultyPageServer.Start(store, (c, request, _) => c == connection && request == FaultAtRequest ? fault : SourceFault.None);

        var settings = RemoteRestoreRun.SettingsFor(images, work.Path, mode);
        if (staging == RemoteFailureStaging.FaultConnection)
        {
            // The push waits, so the tasks' pages come by faults and the fault connection surely sees its 25th request:
            // with the faster receive path (rz80) the push once left the tasks only 18 faults (CI-like run 30).
            settings = settings with { BackgroundPushDelay = TimeSpan.FromSeconds(5) };
        }

        if (staging == RemoteFailureStaging.BulkConnectionFaultsWait)
        {
            // The mode before remote43's defaults, tested explicitly: a fault on a page of the stalled bulk read waits
            // for it (no overtaking read), so the reply deadline finds the stall and the connections are replaced.
            settings = settings with { FaultOvertakesBackgroundReads = false, Remote = settings.Remote with { FaultOvertakesBackground = false } };
        }

        var (report, result) = await RunAsync(source, settings);

        RemoteRestoreRun.AssertRestored(report, result);
        Assert.Contains(source.Log, line => line.Contains(fault.ToString(), StringComparison.Ordinal));
        Assert.True(source.Accepted > (mode == FaultConnectionMode.On ? Connections(images, work) : 1), $"no reconnection: {string.Join(" | ", source.Log)}");
        Assert.True(result.Statistics.Remote.Reconnects >= 1);
        Assert.Empty(source.BadRequests);
    }

    [SkippableFact]
    public async Task A_source_that_never_comes_back_gets_the_tree_stopped_and_the_error_names_what_was_missing()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("rrg");
        var images = Images(work);
        using var store = LazyPageStore.Open(images);
        FaultyPageServer? server = null;
        server = FaultyPageServer.Start(store, (connection, request, _) =>
        {
            if (connection == 1 && request == FaultAtRequest)
            {
                server!.StopAccepting();
                return SourceFault.Reset;
            }

            return SourceFault.None;
        });
        await using var source = server;

        var settings = RemoteRestoreRun.SettingsFor(images, work.Path, FaultConnectionMode.Off, giveUpAfter: TimeSpan.FromSeconds(2));
        var (report, result) = await new RemoteRestoreRun(settings, PageServerEndpoint.Tcp("127.0.0.1", source.Port), output).RunAsync();

        Assert.Equal(1, result.ExitCode);
        Assert.NotNull(result.Error);
        Assert.Contains($"page server 127.0.0.1:{source.Port} given up", result.Error, StringComparison.Ordinal);
        Assert.Contains("SIGKILL to ", result.Error, StringComparison.Ordinal);
        Assert.Contains("not served: task ", result.Error, StringComparison.Ordinal);
        Assert.Matches(@"task \d+.*: \d+ page\(s\) in \d+ range\(s\): 0x[0-9a-f]+-0x[0-9a-f]+", result.Error);
        // The tasks were stopped, never handed zeros: no task saw a wrong byte, and not every task finished.
        Assert.False(report.Ok);
        Assert.All(report.Tasks, t => Assert.Equal(0, t.Mismatches));
        Assert.Contains(report.Tasks, t => !t.Ok);
        Assert.Empty(source.BadRequests);
    }

    /// <summary>Connections of one generation with a fault connection: the bulk one(s) (remote.bulk-connections) and faults.</summary>
    private static int Connections(string images, ScratchDirectory work) => RemoteRestoreRun.SettingsFor(images, work.Path, FaultConnectionMode.On).Remote.BulkConnections + 1;

    private static string Images(ScratchDirectory work, int mibPerTask = 12)
    {
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(3, (long)mibPerTask << 20, 0xFA11));
        return images;
    }

    private Task<(SimReport Report, Engine.EngineResult Result)> RunAsync(string images, ScratchDirectory work, FaultyPageServer source, FaultConnectionMode mode) =>
        RunAsync(source, RemoteRestoreRun.SettingsFor(images, work.Path, mode));

    private async Task<(SimReport Report, Engine.EngineResult Result)> RunAsync(FaultyPageServer source, EngineSettings settings)
    {
        var run = await new RemoteRestoreRun(settings, PageServerEndpoint.Tcp("127.0.0.1", source.Port), output).RunAsync();
        foreach (var line in source.Log)
        {
            output.WriteLine($"source: {line}");
        }

        return run;
    }
}
