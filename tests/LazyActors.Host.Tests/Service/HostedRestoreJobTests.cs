using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Hosting;
using LazyActors.Engine.Pages;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.Service;

/// <summary>
/// Restore jobs inside one long-lived actor system (the engine's hosting API, without the service around it), on real
/// processes with real userfaultfd: one failing job leaves the other alone; two restores of one checkpoint share it
/// and, through the shared page cache, read each page from the images once.
/// </summary>
public sealed class HostedRestoreJobTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly Config Engine = ConfigurationFactory.ParseString("lazy-actors.engine.dispatcher.dedicated-thread-pool.thread-count = 3");
    private ActorSystem? _system;
    private IActorRef _jobs = ActorRefs.Nobody;

    public Task InitializeAsync()
    {
        _system = ActorSystem.Create("hosted-jobs", EngineSettings.Create(Engine, "/tmp").ActorSystemConfig(Engine));
        _jobs = _system.ActorOf(RestoreJobsActor.Props(), "jobs");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_system is not null)
        {
            await _system.Terminate().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [SkippableFact]
    public async Task A_failing_job_does_not_disturb_a_job_restoring_beside_it()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var scratch = new ScratchDirectory("hjb");
        var images = scratch.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 4L << 20, 0x3A3A));
        using var checkpoints = new SharedCheckpoints();
        var host = new RestoreJobHost(_system!, _jobs, checkpoints);

        var goodSettings = EngineSettings.Create(Engine, images, scratch.CreateSub("good"));
        var badSettings = EngineSettings.Create(Engine, images, scratch.CreateSub("bad"));
        using var good = RestoreJob.Listen("good", goodSettings);
        using var bad = RestoreJob.Listen("bad", badSettings);
        var goodRun = good.RunAsync(host, checkpoints.AcquireLocal(goodSettings));
        var badRun = bad.RunAsync(host, checkpoints.AcquireLocal(badSettings));
        Assert.Equal(1, checkpoints.OpenCount);

        // A "restorer" that says nonsense and hangs up.
        using (var liar = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            await liar.ConnectAsync(new UnixDomainSocketEndPoint(bad.SocketPath));
            await liar.SendAsync(new byte[] { 0xff, 0xff });
        }

        var report = await ServiceRestores.RestoreAsync(images, goodSettings.WorkDirectory);
        var badResult = await badRun.WaitAsync(TimeSpan.FromSeconds(60));
        var goodResult = await goodRun.WaitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"bad: {badResult.ExitCode} {badResult.Error}; good: {goodResult.ExitCode}");

        Assert.Equal(1, badResult.ExitCode);
        Assert.False(string.IsNullOrEmpty(badResult.Error));
        ServiceRestores.AssertVerified(report);
        Assert.Equal(0, goodResult.ExitCode);
        Assert.All(goodResult.Statistics.Tasks, t => Assert.Equal(TaskPhase.Complete, t.Phase));
        Assert.Equal(RestorePhase.Completed, goodResult.Statistics.Phase);
        Assert.Equal(0, checkpoints.OpenCount);
        Assert.Equal(0, await _jobs.Ask<int>(RestoreJobsActor.CountJobs.Instance, TimeSpan.FromSeconds(5)));
    }

    [SkippableFact]
    public async Task Two_restores_of_one_checkpoint_read_each_page_from_the_images_once_through_the_cache()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var scratch = new ScratchDirectory("hcc");
        var images = scratch.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 8L << 20, 0x5EED));
        using var cache = new SharedPageCache(256L << 20);
        using var checkpoints = new SharedCheckpoints(cache, cacheLocalImages: true);
        var host = new RestoreJobHost(_system!, _jobs, checkpoints);

        var settings = new[] { "one", "two" }.Select(n => EngineSettings.Create(Engine, images, scratch.CreateSub(n))).ToArray();
        var jobs = settings.Select((s, i) => RestoreJob.Listen($"copy-{i}", s)).ToArray();
        try
        {
            var runs = jobs.Select((j, i) => j.RunAsync(host, checkpoints.AcquireLocal(settings[i]))).ToArray();
            var reports = await Task.WhenAll(settings.Select(s => ServiceRestores.RestoreAsync(images, s.WorkDirectory)));
            var results = await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(60));
            foreach (var report in reports)
            {
                ServiceRestores.AssertVerified(report);
            }

            Assert.All(results, r => Assert.Equal(0, r.ExitCode));
            var lazyPages = results[0].Statistics.Tasks.Sum(t => t.TotalPages);
            output.WriteLine($"lazy pages per restore {lazyPages}; cache: misses {cache.MissPages}, hits {cache.HitPages}, evicted {cache.EvictedPages}");

            // Every lazy page of the checkpoint was read from the images exactly once, for both restores.
            Assert.Equal(lazyPages, cache.MissPages);
            Assert.True(cache.HitPages >= lazyPages, $"the second restore read {cache.HitPages} pages from the cache, fewer than its {lazyPages}");
            Assert.Equal(0, cache.EvictedPages);
        }
        finally
        {
            foreach (var job in jobs)
            {
                job.Dispose();
            }
        }
    }
}
