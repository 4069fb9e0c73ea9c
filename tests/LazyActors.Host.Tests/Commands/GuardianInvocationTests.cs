using LazyActors.Host.CrashSafety;
using LazyActors.Testing;
using Xunit;

namespace LazyActors.Host.Tests.Commands;

/// <summary>
/// Which program a one-shot daemon starts as its crash guardian: the trimmed <c>LazyActors.Guardian</c> beside a native
/// daemon (with the daemon's program named for successors), else the daemon's own program with its guardian verb.
/// </summary>
public sealed class GuardianInvocationTests : IDisposable
{
    private readonly ScratchDirectory _dir = new("guardian-invocation");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_native_daemon_with_the_guardian_program_beside_it_starts_that_program_and_names_itself_for_successors()
    {
        var daemon = Path.Combine(_dir.Path, "LazyActors.Host");
        var guardian = Path.Combine(_dir.Path, GuardianLauncher.GuardianProgramName);
        File.WriteAllText(daemon, string.Empty);
        File.WriteAllText(guardian, string.Empty);

        var (prefix, daemonProgram) = GuardianLauncher.GuardianInvocation(daemon);

        Assert.Equal([guardian], prefix);
        Assert.Equal(daemon, daemonProgram);
    }

    [Fact]
    public void Without_the_guardian_program_the_daemon_starts_itself_with_the_guardian_verb()
    {
        var daemon = Path.Combine(_dir.Path, "LazyActors.Host");
        File.WriteAllText(daemon, string.Empty);

        var (prefix, daemonProgram) = GuardianLauncher.GuardianInvocation(daemon);

        Assert.Equal(SelfInvocation.Prefix(), prefix);
        Assert.Null(daemonProgram);
    }

    [Fact]
    public void A_daemon_run_by_dotnet_starts_itself_even_with_the_guardian_program_in_the_same_directory()
    {
        var dotnet = Path.Combine(_dir.Path, "dotnet");
        File.WriteAllText(dotnet, string.Empty);
        File.WriteAllText(Path.Combine(_dir.Path, GuardianLauncher.GuardianProgramName), string.Empty);

        var (prefix, daemonProgram) = GuardianLauncher.GuardianInvocation(dotnet);

        Assert.Equal(SelfInvocation.Prefix(), prefix);
        Assert.Null(daemonProgram);
    }
}
