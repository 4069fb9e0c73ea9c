using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Hosting;
using Xunit;

namespace LazyActors.Engine.Tests.Actors;

/// <summary>The engine's Akka scheduler (Hosting/DeadlineScheduler), in real actor systems built as the engine builds them.</summary>
public sealed class DeadlineSchedulerTests
{
    private static ActorSystem EngineSystem(string name, string? extra = null) =>
        ActorSystem.Create(name, EngineSettings.Create("/tmp").ActorSystemConfig(
            ConfigurationFactory.ParseString(extra ?? "akka.loglevel = WARNING")));

    [Fact]
    public async Task The_engine_s_actor_systems_use_it()
    {
        var system = EngineSystem("deadline-default");
        try
        {
            Assert.IsType<DeadlineScheduler>(system.Scheduler);
        }
        finally
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task Work_runs_at_its_deadline_never_before_in_deadline_order_and_cancelled_work_never_runs()
    {
        var system = EngineSystem("deadline-order");
        try
        {
            var ran = new ConcurrentQueue<(string Name, TimeSpan At)>();
            var clock = Stopwatch.StartNew();
            var all = new CountdownEvent(3);
            var cancelled = new Cancelable(system.Scheduler);
            system.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(150), () => { ran.Enqueue(("late", clock.Elapsed)); all.Signal(); });
            system.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(60), () => { ran.Enqueue(("early", clock.Elapsed)); all.Signal(); });
            system.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(100), () => ran.Enqueue(("cancelled", clock.Elapsed)), cancelled);
            system.Scheduler.Advanced.ScheduleOnce(TimeSpan.Zero, () => { ran.Enqueue(("now", clock.Elapsed)); all.Signal(); });
            cancelled.Cancel();
            Assert.True(all.Wait(TimeSpan.FromSeconds(10)));
            await Task.Delay(150);

            var order = ran.ToArray();
            Assert.Equal(["now", "early", "late"], order.Select(r => r.Name));
            Assert.True(order[1].At >= TimeSpan.FromMilliseconds(60), $"60 ms work ran after {order[1].At.TotalMilliseconds} ms");
            Assert.True(order[2].At >= TimeSpan.FromMilliseconds(150), $"150 ms work ran after {order[2].At.TotalMilliseconds} ms");
        }
        finally
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task Repeated_tells_arrive_every_interval_until_cancelled_and_a_throwing_action_stops_nothing()
    {
        var system = EngineSystem("deadline-repeat");
        try
        {
            var probe = new BlockingCollection<object>();
            var receiver = system.ActorOf(Props.Create(() => new Forwarder(probe)));
            system.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(10), () => throw new InvalidOperationException("a timer task that fails"));
            var repeat = system.Scheduler.ScheduleTellRepeatedlyCancelable(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(20), receiver, "tick", ActorRefs.NoSender);
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < 5; i++)
            {
                Assert.True(probe.TryTake(out var message, TimeSpan.FromSeconds(10)));
                Assert.Equal("tick", message);
            }

            // Five ticks 20 ms apart, the first after 20 ms: never sooner than 100 ms.
            Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(95), $"5 ticks after {clock.Elapsed.TotalMilliseconds} ms");
            repeat.Cancel();
            await Task.Delay(60);
            while (probe.TryTake(out _))
            {
                // A tick already on its way when the cancel came.
            }

            Assert.False(probe.TryTake(out _, TimeSpan.FromMilliseconds(100)), "a tick arrived after the cancel");
        }
        finally
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task An_idle_system_never_wakes_the_scheduler_thread_and_work_left_pending_runs_once_on_stop()
    {
        var system = EngineSystem("deadline-idle");
        var scheduler = Assert.IsType<DeadlineScheduler>(system.Scheduler);
        var ranOnStop = 0;
        try
        {
            // Whatever the system scheduled while starting has run or waits far ahead; from here on nothing is due.
            await Task.Delay(200);
            var before = scheduler.WakeUps;
            await Task.Delay(500);
            // Akka's wheel wakes every tick-duration (10 ms): about 50 times in this half second.
            Assert.True(scheduler.WakeUps - before <= 2, $"{scheduler.WakeUps - before} wake-ups of an idle scheduler in 500 ms");

            system.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMinutes(10), () => Interlocked.Increment(ref ranOnStop));
            var cancelled = new Cancelable(system.Scheduler);
            system.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMinutes(10), () => Interlocked.Add(ref ranOnStop, 100), cancelled);
            cancelled.Cancel();
        }
        finally
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10));
        }

        // As Akka's own scheduler: what is still pending at the stop runs once (a pending ask or timer completes).
        Assert.Equal(1, Volatile.Read(ref ranOnStop));
        Assert.Throws<SchedulerException>(() => system.Scheduler.Advanced.ScheduleOnce(TimeSpan.Zero, () => { }));
    }

    [Fact]
    public async Task Stopping_throws_no_OperationCanceledException_where_Akka_s_wheel_does()
    {
        // Akka's wheel as the control: it cancels its PeriodicTimer wait, so this test can see what it counts.
        Assert.True(await SchedulerCancellationsAtStopAsync("Akka.Actor.HashedWheelTimerScheduler") > 0,
            "Akka's HashedWheelTimerScheduler stopped without an OperationCanceledException: the control no longer shows the cost");
        Assert.Equal(0, await SchedulerCancellationsAtStopAsync(null));
    }

    private static async Task<int> SchedulerCancellationsAtStopAsync(string? implementation)
    {
        var extra = "akka.loglevel = WARNING" + (implementation is null ? string.Empty : $"\nakka.scheduler.implementation = \"{implementation}\"");
        var system = EngineSystem("deadline-stop-" + (implementation is null ? "ours" : "wheel"), extra);
        // The wheel starts its worker with the first schedule; so does the engine's first timer or ask.
        system.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(1), () => { });
        await Task.Delay(50);
        var count = 0;
        EventHandler<System.Runtime.ExceptionServices.FirstChanceExceptionEventArgs> onException = (_, e) =>
        {
            if (e.Exception is OperationCanceledException && StopsScheduler(e.Exception.StackTrace))
            {
                Interlocked.Increment(ref count);
            }
        };
        AppDomain.CurrentDomain.FirstChanceException += onException;
        try
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10));
            await Task.Delay(50);
        }
        finally
        {
            AppDomain.CurrentDomain.FirstChanceException -= onException;
        }

        return Volatile.Read(ref count);
    }

    private static bool StopsScheduler(string? trace) =>
        trace is not null && (trace.Contains("PeriodicTimer", StringComparison.Ordinal) || trace.Contains("HashedWheelTimerScheduler", StringComparison.Ordinal)
            || trace.Contains("DeadlineScheduler", StringComparison.Ordinal));

    private sealed class Forwarder : ReceiveActor
    {
        public Forwarder(BlockingCollection<object> probe) => ReceiveAny(probe.Add);
    }
}
