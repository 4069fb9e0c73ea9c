using LazyActors.Engine.CrashSafety;
using LazyActors.Engine.Images;
using LazyActors.Engine.Remoting;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;

namespace LazyActors.Engine.Tests.CrashSafety;

/// <summary>
/// The description a restore over the Akka transport keeps for its successor and guardian: kept and read back it is the
/// same checkpoint (whatever request or source process answered), another checkpoint is never taken for it, and a file
/// that is not a description is refused naming it.
/// </summary>
public sealed class DescribedCheckpointTests
{
    [Fact]
    public void A_kept_description_reads_back_as_the_same_checkpoint_and_builds_its_model()
    {
        using var work = new ScratchDirectory("dsc");
        using var original = Checkpoint.Open(Synthetic(work, "images", 0x1234));
        var path = Path.Combine(work.Path, DescribedCheckpoint.FileName);
        var sent = CheckpointDescription.Of(original, "c1", 1 << 20, 7);
        sent.RequestId = 41;

        DescribedCheckpoint.Save(path, sent);
        var answeredAgain = CheckpointDescription.Of(original, "c1", 4 << 20, 7); // another source process, another reply size
        answeredAgain.RequestId = 3;

        Assert.True(DescribedCheckpoint.SameCheckpoint(DescribedCheckpoint.Read(path), answeredAgain));
        using var model = DescribedCheckpoint.Load(path);
        Assert.Equal(original.Tasks.Select(t => (t.Pid, t.LazyPages)), model.Tasks.Select(t => (t.Pid, t.LazyPages)));
        Assert.Equal(original.Tasks.Select(t => t.LazyRanges), model.Tasks.Select(t => t.LazyRanges));
        Assert.Empty(Directory.EnumerateFiles(work.Path, "*.tmp"));
    }

    [Fact]
    public void Another_checkpoint_under_the_same_name_is_not_the_same_checkpoint()
    {
        using var work = new ScratchDirectory("dsc");
        using var first = Checkpoint.Open(Synthetic(work, "first", 0x1234));
        using var other = Checkpoint.Open(Synthetic(work, "other", 0x1234, mib: 3));
        var kept = CheckpointDescription.Of(first, "svc", 1 << 20, 1);

        Assert.False(DescribedCheckpoint.SameCheckpoint(kept, CheckpointDescription.Of(other, "svc", 1 << 20, 1)));
        var oneRunLess = kept.Clone();
        oneRunLess.Tasks[0].Pagemap.RemoveAt(oneRunLess.Tasks[0].Pagemap.Count - 1);
        Assert.False(DescribedCheckpoint.SameCheckpoint(kept, oneRunLess));
    }

    [Fact]
    public void A_file_that_is_not_a_description_is_refused_naming_it()
    {
        using var work = new ScratchDirectory("dsc");
        var path = Path.Combine(work.Path, DescribedCheckpoint.FileName);
        File.WriteAllBytes(path, [0x0a, 0xff, 0xff, 0xff]);

        var error = Assert.Throws<ImageFormatException>(() => DescribedCheckpoint.Read(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    private static string Synthetic(ScratchDirectory work, string name, ushort seed, int mib = 2)
    {
        var images = work.CreateSub(name);
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, (long)mib << 20, seed));
        return images;
    }
}
