using System.Text.Json;
using Google.Protobuf;
using LazyActors.Engine.Images;
using LazyActors.Engine.Images.Proto;
using LazyActors.Engine.Ranges;
using LazyActors.Testing;
using Xunit;

namespace LazyActors.Engine.Tests.Images;

/// <summary>Every fixture directory parses and agrees with its MANIFEST.json: pstree, state, VMAs, pagemap.</summary>
public sealed class FixtureManifestTests
{
    public static TheoryData<string> Fixtures => FixtureCatalog.All();

    [Fact]
    public void Copied_fixtures_are_present()
    {
        var labels = FixtureCatalog.Labels().Where(l => l.StartsWith(FixtureCatalog.CopiedPrefix, StringComparison.Ordinal)).ToList();
        Assert.Equal(
            ["copied/holes-and-zero", "copied/lazy-source", "copied/shmem-and-file", "copied/single-anon", "copied/threads"],
            labels);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Pstree_matches_manifest(string label)
    {
        var manifest = FixtureCatalog.Manifest(label);
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf(label));
        var expected = manifest.GetProperty("tasks").EnumerateArray().OrderBy(t => t.GetProperty("pstree_index").GetInt32()).ToList();
        Assert.Equal(2u, checkpoint.ImgVersion);
        Assert.Equal(expected.Count, checkpoint.Tasks.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            var task = checkpoint.Tasks[i];
            Assert.Equal(expected[i].GetProperty("image_pid").GetInt32(), task.Pid);
            Assert.Equal(expected[i].GetProperty("ppid").GetInt32(), task.Ppid);
            Assert.Equal(expected[i].GetProperty("pgid").GetInt32(), task.Pgid);
            Assert.Equal(expected[i].GetProperty("sid").GetInt32(), task.Sid);
            Assert.Equal(expected[i].GetProperty("threads").EnumerateArray().Select(t => t.GetInt32()), task.Threads);
            Assert.Equal(TaskState.Alive, task.State);
            Assert.Same(task, checkpoint.GetTask(task.Pid));
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Vmas_match_manifest_with_guards_kept_apart(string label)
    {
        var manifest = FixtureCatalog.Manifest(label);
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf(label));
        foreach (var expectedTask in manifest.GetProperty("tasks").EnumerateArray())
        {
            var task = checkpoint.GetTask(expectedTask.GetProperty("image_pid").GetInt32());
            var all = expectedTask.GetProperty("vmas").EnumerateArray().Select(v => new
            {
                Vma = new Vma(
                    v.GetProperty("start").GetUInt64(), v.GetProperty("end").GetUInt64(), 0,
                    v.GetProperty("shmid").GetUInt64(), v.GetProperty("prot").GetUInt32(),
                    v.GetProperty("flags").GetUInt32(), v.GetProperty("status").GetUInt32()),
                LazyCapable = v.GetProperty("lazy_capable").GetBoolean(),
            }).ToList();
            var expectedReal = all.Where(v => (v.Vma.Status & VmaStatus.Guard) == 0).OrderBy(v => v.Vma.Start).ToList();
            var expectedGuards = all.Where(v => (v.Vma.Status & VmaStatus.Guard) != 0).OrderBy(v => v.Vma.Start).ToList();

            Assert.Equal(expectedReal.Select(v => Key(v.Vma)), task.Vmas.Select(Key));
            Assert.Equal(expectedGuards.Select(v => Key(v.Vma)), task.GuardVmas.Select(Key));
            Assert.Equal(expectedReal.Select(v => v.LazyCapable), task.Vmas.Select(v => v.IsLazyCapable));
            Assert.All(task.GuardVmas, g => Assert.False(g.IsLazyCapable));
            Assert.True(task.Vmas.Zip(task.Vmas.Skip(1)).All(p => p.First.End <= p.Second.Start), "real VMAs sorted and disjoint");
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Pagemap_entries_match_manifest(string label)
    {
        var manifest = FixtureCatalog.Manifest(label);
        string dir = FixtureCatalog.PathOf(label);
        using var checkpoint = Checkpoint.Open(dir);
        foreach (var expectedTask in manifest.GetProperty("tasks").EnumerateArray())
        {
            var task = checkpoint.GetTask(expectedTask.GetProperty("image_pid").GetInt32());
            Assert.Equal(expectedTask.GetProperty("pages_id").GetUInt32(), task.PagesId);
            var expected = expectedTask.GetProperty("pagemap").EnumerateArray().Select(e => (
                e.GetProperty("vaddr").GetUInt64(),
                e.GetProperty("nr_pages").GetUInt64(),
                e.GetProperty("flags").GetUInt32(),
                e.GetProperty("pages_file_offset").ValueKind == JsonValueKind.Null ? -1L : e.GetProperty("pages_file_offset").GetInt64()));
            Assert.Equal(expected, task.Pagemap.Select(r => (r.Vaddr, r.NrPages, (uint)r.Flags, r.PagesFileOffset)));

            long pagesBytes = expectedTask.GetProperty("pages_bytes").GetInt64();
            Assert.Equal(pagesBytes, new FileInfo(Path.Combine(dir, $"pages-{task.PagesId}.img")).Length);
            Assert.Equal((ulong)pagesBytes, task.PresentPages * PageGeometry.PageSize);
            Assert.Equal(
                task.Pagemap.Where(r => r.IsLazy).Sum(r => (long)r.NrPages),
                (long)task.LazyPages);
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Pagemap_entries_reencode_byte_exact(string label)
    {
        string dir = FixtureCatalog.PathOf(label);
        foreach (string path in Directory.EnumerateFiles(dir, "pagemap-*.img"))
        {
            var pagemap = PagemapFile.Read(path, 2);
            Assert.Equal(pagemap.Raw.Entries[0], new PagemapHead { PagesId = pagemap.PagesId }.ToByteArray());
            for (int i = 0; i < pagemap.Entries.Count; i++)
            {
                Assert.Equal(pagemap.Raw.Entries[i + 1], pagemap.Entries[i].ToByteArray());
            }

            string copy = Path.Combine(Path.GetTempPath(), $"lazyactors-reencode-{Guid.NewGuid():N}.img");
            try
            {
                ImageFile.Write(copy, pagemap.Raw);
                Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(copy));
            }
            finally
            {
                File.Delete(copy);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Pstree_and_mm_entries_reencode_byte_exact(string label)
    {
        string dir = FixtureCatalog.PathOf(label);
        var pstree = ImageFile.Read(Path.Combine(dir, "pstree.img"), ImageMagic.Pstree, 2);
        foreach (var entry in pstree.Entries)
        {
            Assert.Equal(entry, PstreeEntry.Parser.ParseFrom(entry).ToByteArray());
        }

        foreach (string path in Directory.EnumerateFiles(dir, "mm-*.img"))
        {
            var mm = ImageFile.Read(path, ImageMagic.Mm, 2);
            Assert.Equal(mm.Entries[0], MmEntry.Parser.ParseFrom(mm.Entries[0]).ToByteArray());
        }
    }

    private static (ulong, ulong, ulong, uint, uint, uint) Key(Vma v) => (v.Start, v.End, v.Shmid, v.Prot, v.Flags, v.Status);
}
