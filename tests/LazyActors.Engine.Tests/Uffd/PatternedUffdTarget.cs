using LazyActors.Engine.Interop;
using LazyActors.Engine.Uffd;
using static LazyActors.Engine.Tests.Uffd.NativeTestSupport;

namespace LazyActors.Engine.Tests.Uffd;

/// <summary>
/// The fixture of the copy-priority tests on a real uffd: a source mapping filled with a seeded pattern and a target
/// mapping of the same length registered (missing mode) with a fresh non-cooperative uffd, so every copied page can be
/// compared with its source. Skips (as <see cref="NativeTestSupport.CreateUffdOrSkip"/>) where the kernel refuses uffd.
/// </summary>
internal sealed class PatternedUffdTarget : IDisposable
{
    public PatternedUffdTarget(int pages, byte seed)
    {
        Length = (ulong)pages * PageSize;
        Source = MappedRegion.Map(Length);
        Target = MappedRegion.Map(Length);
        try
        {
            FillPattern(Source.GetSpan(0, (int)Length), seed);
            Uffd = CreateUffdOrSkip();
            Uffd.Api(UffdFeatures.NonCooperative);
            Uffd.Register(Target.Start, Length, RegisterMode.Missing);
        }
        catch
        {
            // A skip (or a refused register) must not leak the two mappings: xunit does not dispose a fixture whose
            // constructor threw.
            Uffd?.Dispose();
            Target.Dispose();
            Source.Dispose();
            throw;
        }
    }

    public ulong Length { get; }

    public MappedRegion Source { get; }

    public MappedRegion Target { get; }

    public UserFaultFd Uffd { get; } = null!;

    public void Dispose()
    {
        Uffd.Dispose();
        Target.Dispose();
        Source.Dispose();
    }
}
