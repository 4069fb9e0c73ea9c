using LazyActors.Engine.Actors;
using Xunit;

namespace LazyActors.Engine.Tests.Actors;

public sealed class EagainRetryPolicyTests
{
    [Fact]
    public void First_retries_go_at_once_then_the_delay_doubles_from_500_us_up_to_the_maximum()
    {
        var policy = new EagainRetryPolicy(immediateRetries: 2, maxBackoff: TimeSpan.FromMilliseconds(3), retryLimit: 100);
        var delays = Enumerable.Range(1, 8).Select(policy.DelayBefore).ToArray();
        Assert.Equal(
            [null, null, TimeSpan.FromMicroseconds(500), TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(2), TimeSpan.FromMilliseconds(3), TimeSpan.FromMilliseconds(3), TimeSpan.FromMilliseconds(3)],
            delays);
    }

    [Fact]
    public void Retries_stop_at_the_limit()
    {
        var policy = new EagainRetryPolicy(1, TimeSpan.FromMilliseconds(50), retryLimit: 3);
        Assert.True(policy.MayRetry(1));
        Assert.True(policy.MayRetry(3));
        Assert.False(policy.MayRetry(4));
    }

    [Fact]
    public void The_reference_settings_back_off_to_50_ms_and_give_up_after_400_retries()
    {
        var policy = EagainRetryPolicy.From(Engine.Configuration.EngineSettings.Create("/images"));
        Assert.Null(policy.DelayBefore(4));
        Assert.Equal(TimeSpan.FromMicroseconds(500), policy.DelayBefore(5));
        Assert.Equal(TimeSpan.FromMilliseconds(50), policy.DelayBefore(400));
        Assert.True(policy.MayRetry(400));
        Assert.False(policy.MayRetry(401));
    }
}
