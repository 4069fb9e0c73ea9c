using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Scheduling;
using Xunit;

namespace LazyActors.Engine.Tests.Scheduling;

public sealed class EngineThreadsExecutorTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private sealed class Counting(CountdownEvent done, Action? also = null) : IRunnable
    {
        public void Run()
        {
            also?.Invoke();
            done.Signal();
        }

        public void Execute() => Run();
    }

    [Fact]
    public void Every_run_is_taken_when_producers_race_threads_that_keep_falling_asleep()
    {
        const int Producers = 4;
        const int RunsEach = 5000;
        var executor = new EngineThreadsExecutor("la-test-exec", 3);
        try
        {
            using var done = new CountdownEvent(Producers * RunsEach);
            var threads = new HashSet<string>();
            var producers = Enumerable.Range(0, Producers).Select(p => new Thread(() =>
            {
                for (var i = 0; i < RunsEach; i++)
                {
                    executor.Execute(new Counting(done, () =>
                    {
                        lock (threads)
                        {
                            threads.Add(Thread.CurrentThread.Name ?? "?");
                        }
                    }));
                    if (i % 64 == 0)
                    {
                        Thread.Sleep(0); // gaps, so the workers run dry and sleep between bursts
                    }
                }
            })).ToList();
            producers.ForEach(t => t.Start());
            producers.ForEach(t => Assert.True(t.Join(Bound)));

            Assert.True(done.Wait(Bound), $"{done.CurrentCount} run(s) never taken (a lost wake-up)");
            Assert.Equal(0, executor.Queued);
            Assert.All(threads, name => Assert.Matches("^la-test-exec_[1-3]$", name));
        }
        finally
        {
            executor.Shutdown();
        }
    }

    [Fact]
    public void A_single_run_after_the_threads_fell_asleep_wakes_one()
    {
        var executor = new EngineThreadsExecutor("la-test-exec", 2);
        try
        {
            for (var i = 0; i < 20; i++)
            {
                Thread.Sleep(5); // every thread asleep by now
                using var done = new CountdownEvent(1);
                executor.Execute(new Counting(done));
                Assert.True(done.Wait(Bound), $"run {i} was not taken");
            }
        }
        finally
        {
            executor.Shutdown();
        }
    }

    [Fact]
    public void After_shutdown_a_run_is_rejected()
    {
        var executor = new EngineThreadsExecutor("la-test-exec", 1);
        executor.Shutdown();
        using var done = new CountdownEvent(1);
        Assert.Throws<RejectedExecutionException>(() => executor.Execute(new Counting(done)));
    }

    [Fact]
    public async Task An_actor_system_runs_the_engine_dispatcher_on_these_threads_when_idle_spin_is_off()
    {
        var settings = EngineSettings.Create(Path.GetTempPath()) with { DispatcherIdleSpin = false, DispatcherThreads = 3 };
        using var system = ActorSystem.Create("exec-spec", settings.ActorSystemConfig(ConfigurationFactory.ParseString("akka.loglevel = WARNING")));
        var echo = system.ActorOf(Props.Create(() => new ThreadNameActor()).WithDispatcher(EngineSettings.DispatcherId));
        var name = await echo.Ask<string>("which thread", Bound);
        Assert.Matches("^lazy-actors.engine.dispatcher_[1-3]$", name);
        Assert.Equal("Dispatcher", system.Settings.Config.GetString(EngineSettings.DispatcherId + ".type"));
        await system.Terminate().WaitAsync(Bound);
    }

    private sealed class ThreadNameActor : ReceiveActor
    {
        public ThreadNameActor() => Receive<string>(_ => Sender.Tell(Thread.CurrentThread.Name ?? "?"));
    }
}
