using Akka.Configuration;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Faults;
using LazyActors.Engine.Interop;
using Xunit;

namespace LazyActors.Engine.Tests.Faults;

/// <summary>The fault plan's text form, its configuration key and the injector's firing rules.</summary>
public sealed class FaultPlanTests
{
    [Fact]
    public void A_plan_reads_back_what_it_writes()
    {
        var plan = FaultPlan.Parse("seed=7; uffd.copy=EAGAIN@3x20; source.error%0.25; actor.page-cache@5; source.delay=40%0.5x9");

        Assert.Equal(7, plan.Seed);
        Assert.Equal(
            [
                new FaultRule(FaultPoint.CopyErrno, "EAGAIN", 3, 20, 0),
                new FaultRule(FaultPoint.SourceError, null, 0, int.MaxValue, 0.25),
                new FaultRule(FaultPoint.PageCacheThrows, null, 5, 1, 0),
                new FaultRule(FaultPoint.SourceDelay, "40", 0, 9, 0.5),
            ],
            plan.Rules);
        Assert.Equal(plan.ToString(), FaultPlan.Parse(plan.ToString()).ToString());
        Assert.Equal(Errno.EAGAIN, FaultPlan.ErrnoOf(plan.Rules[0]));
    }

    [Theory]
    [InlineData("uffd.copy@3", "uffd.copy needs =ERRNO")]
    [InlineData("uffd.copy=EPERM@3", "uffd.copy needs =ERRNO")]
    [InlineData("source.delay@1", "source.delay needs =MILLISECONDS")]
    [InlineData("uffd.half1@1", "uffd.half1 needs =ERRNO")]
    [InlineData("uffd.half2=EPERM@1", "uffd.half2 needs =ERRNO")]
    [InlineData("uffd.half2-delay=x@1", "uffd.half2-delay needs =MILLISECONDS")]
    [InlineData("actor.uffd=1@1", "takes no argument")]
    [InlineData("actor.nobody@1", "unknown point actor.nobody")]
    [InlineData("actor.uffd", "needs @N or %P")]
    [InlineData("actor.uffd@0", "@N needs N ≥ 1")]
    [InlineData("actor.uffd%2", "%P needs 0 ≤ P ≤ 1")]
    [InlineData("actor.uffd@1x0", "xT needs T ≥ 1")]
    public void A_bad_rule_is_refused_naming_it(string rule, string problem)
    {
        var error = Assert.Throws<FormatException>(() => FaultPlan.Parse($"seed=1; {rule}"));
        Assert.Contains($"fault rule '{rule}'", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_second_copiers_points_read_back()
    {
        var plan = FaultPlan.Parse("uffd.half1=EAGAIN@2x3; uffd.half2=EEXIST%0.5; uffd.half2-delay=300@1");
        Assert.Equal(
            [
                new FaultRule(FaultPoint.FirstHalfErrno, "EAGAIN", 2, 3, 0),
                new FaultRule(FaultPoint.SecondHalfErrno, "EEXIST", 0, int.MaxValue, 0.5),
                new FaultRule(FaultPoint.SecondHalfDelay, "300", 1, 1, 0),
            ],
            plan.Rules);
        Assert.Equal(plan.ToString(), FaultPlan.Parse(plan.ToString()).ToString());
    }

    [Fact]
    public void The_configuration_key_is_off_by_default_and_names_itself_when_wrong()
    {
        Assert.Null(EngineSettings.Create("/images").FaultInjection);
        var set = EngineSettings.Create(ConfigurationFactory.ParseString("lazy-actors.engine.fault-injection = \"seed=3; actor.pusher@2\""), "/images");
        Assert.Equal("seed=3; actor.pusher@2x1", set.FaultInjection!.ToString());
        var error = Assert.Throws<ConfigurationException>(() =>
            EngineSettings.Create(ConfigurationFactory.ParseString("lazy-actors.engine.fault-injection = \"actor.pusher\""), "/images"));
        Assert.StartsWith("lazy-actors.engine.fault-injection fault rule 'actor.pusher'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_occurrence_rule_fires_from_its_start_for_its_count_only()
    {
        var injector = new FaultInjector(FaultPlan.Parse("actor.uffd@3x2"));

        var fired = Enumerable.Range(1, 8).Select(i => injector.Fires(FaultPoint.UffdActorThrows, out _)).ToArray();

        Assert.Equal([false, false, true, true, false, false, false, false], fired);
        Assert.Equal(2, injector.Injected(FaultPoint.UffdActorThrows));
        Assert.False(injector.Fires(FaultPoint.PusherThrows, out _));
        Assert.Equal(2, injector.TotalInjected);
    }

    [Fact]
    public void A_chance_rule_is_bounded_by_its_count_and_repeats_with_its_seed()
    {
        static bool[] Draw()
        {
            var injector = new FaultInjector(FaultPlan.Parse("seed=42; source.error%0.5x10"));
            return [.. Enumerable.Range(0, 200).Select(i => injector.Fires(FaultPoint.SourceError, out _))];
        }

        var first = Draw();
        Assert.Equal(10, first.Count(f => f));
        Assert.Equal(first, Draw());
    }

    [Fact]
    public void ThrowIfFires_throws_the_point_and_place()
    {
        var injector = new FaultInjector(FaultPlan.Parse("actor.supervisor@1"));

        var error = Assert.Throws<InjectedFaultException>(() => injector.ThrowIfFires(FaultPoint.SupervisorThrows, "the supervisor"));

        Assert.Equal(FaultPoint.SupervisorThrows, error.Point);
        Assert.Equal("injected fault actor.supervisor in the supervisor", error.Message);
        injector.ThrowIfFires(FaultPoint.SupervisorThrows, "the supervisor"); // fired once: no more
    }
}
