using LazyActors.Tools.Criu;
using Xunit;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>
/// What the real-CRIU tests need: a CRIU that runs here (by default ../shared/tools/criu-4.2, which is there only
/// with its setup script) and the harness's native helpers. Each test skips with the reason where it is missing.
/// </summary>
internal static class RealCriuRequirement
{
    /// <summary>The checked CRIU; skips the calling test (with the reason) where it cannot be used.</summary>
    public static async Task<CriuTool> RequireAsync()
    {
        var availability = await CriuTool.LocateAsync();
        Skip.IfNot(availability.Available, availability.Problem);
        Skip.If(CriuHelpers.MissingReason() is not null, CriuHelpers.MissingReason());
        return availability.Tool!;
    }

    /// <summary>Bounds small enough that a broken run fails the test in well under a minute.</summary>
    public static CriuHarnessOptions TestOptions(Xunit.Abstractions.ITestOutputHelper? output = null) => new()
    {
        DumpTimeout = TimeSpan.FromSeconds(60),
        ListenTimeout = TimeSpan.FromSeconds(30),
        RestoreTimeout = TimeSpan.FromSeconds(30),
        RunTimeout = TimeSpan.FromSeconds(60),
        DaemonExitTimeout = TimeSpan.FromSeconds(10),
        Progress = output is null ? null : line => output.WriteLine(line),
    };
}
