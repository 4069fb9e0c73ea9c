using System.Text.Json;
using LazyActors.Engine.Images;
using LazyActors.Engine.Ranges;
using LazyActors.Testing;
using Xunit;

namespace LazyActors.Engine.Tests.Images;

/// <summary>
/// Page bytes of every documented buffer page equal the fixture pattern (layout letters per MANIFEST), pages that must
/// be absent are absent, and PE_LAZY-only pages of a lazy dump raise <see cref="PageDataUnavailableException"/>.
/// </summary>
public sealed class FixturePageContentTests
{
    private const int PageSize = (int)PageGeometry.PageSize;

    public static TheoryData<string> Fixtures => FixtureCatalog.All();

    private enum Must
    {
        Present,
        Absent,
        Either,
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Buffer_pages_match_the_pattern(string label)
    {
        var manifest = FixtureCatalog.Manifest(label);
        ulong seed = manifest.GetProperty("seed").GetUInt64();
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf(label));
        var page = new byte[PageSize];
        int verified = 0;
        int lazyWithoutData = 0;
        foreach (var expectedTask in manifest.GetProperty("tasks").EnumerateArray())
        {
            int pid = expectedTask.GetProperty("image_pid").GetInt32();
            var task = checkpoint.GetTask(pid);
            foreach (var buffer in expectedTask.GetProperty("buffers").EnumerateArray())
            {
                string kind = buffer.GetProperty("kind").GetString()!;
                if (kind == "anon-shared")
                {
                    continue;
                }

                ulong address = buffer.GetProperty("addr").GetUInt64();
                int pages = buffer.GetProperty("size").GetInt32() / PageSize;
                for (int p = 0; p < pages; p++)
                {
                    ulong pageAddress = address + (ulong)p * PageSize;
                    var (must, expected) = Expect(seed, buffer, p);
                    int run = task.FindRun(pageAddress);
                    if (run >= 0 && task.Pagemap[run].Flags == PageFlags.Lazy)
                    {
                        Assert.NotEqual(Must.Absent, must);
                        var ex = Assert.Throws<PageDataUnavailableException>(() => checkpoint.Pages.Read(pid, pageAddress, 1, page));
                        Assert.Contains($"pagemap-{pid}.img", ex.Message);
                        Assert.Equal(pageAddress, ex.Address);
                        lazyWithoutData++;
                        continue;
                    }

                    var result = checkpoint.Pages.Read(pid, pageAddress, 1, page);
                    if (run < 0)
                    {
                        Assert.True(must != Must.Present, $"{label} pid {pid} page 0x{pageAddress:x} must be in the pagemap");
                        Assert.Equal(new PageReadResult(0, 1), result);
                        Assert.True(page.All(b => b == 0));
                        continue;
                    }

                    Assert.True(must != Must.Absent, $"{label} pid {pid} page 0x{pageAddress:x} must be absent");
                    Assert.Equal(new PageReadResult(1, 0), result);
                    Assert.True(expected!.AsSpan().SequenceEqual(page), $"{label} pid {pid} b={buffer.GetProperty("b")} page {p} bytes differ");
                    Assert.True(checkpoint.Pages.TryGetMappedPages(pid, pageAddress, 1, out nint mapped));
                    unsafe
                    {
                        Assert.True(new ReadOnlySpan<byte>((void*)mapped, PageSize).SequenceEqual(expected));
                    }

                    verified++;
                }
            }
        }

        verified += VerifyShmem(manifest, FixtureCatalog.PathOf(label), seed);
        Assert.Equal(manifest.GetProperty("pages_compared").GetInt32(), verified);
        if (label.EndsWith("lazy-source", StringComparison.Ordinal))
        {
            Assert.True(lazyWithoutData > 0, "the lazy dump has PE_LAZY-only buffer pages");
        }
        else
        {
            Assert.Equal(0, lazyWithoutData);
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Multi_page_reads_agree_with_single_page_reads(string label)
    {
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf(label));
        foreach (var task in checkpoint.Tasks)
        {
            foreach (var vma in task.Vmas.Where(v => v.Length <= 512 * PageSize))
            {
                int pages = (int)(vma.Length / PageSize);
                bool hasLazyOnly = task.Pagemap.Any(r => r.Flags == PageFlags.Lazy && r.Vaddr < vma.End && r.End > vma.Start);
                var whole = new byte[pages * PageSize];
                if (hasLazyOnly)
                {
                    Assert.Throws<PageDataUnavailableException>(() => checkpoint.Pages.Read(task.Pid, vma.Start, pages, whole));
                    continue;
                }

                var total = checkpoint.Pages.Read(task.Pid, vma.Start, pages, whole);
                Assert.Equal(pages, total.PagesWithData + total.PagesAbsent);
                var one = new byte[PageSize];
                int withData = 0;
                for (int p = 0; p < pages; p++)
                {
                    withData += checkpoint.Pages.Read(task.Pid, vma.Start + (ulong)p * PageSize, 1, one).PagesWithData;
                    Assert.True(one.AsSpan().SequenceEqual(whole.AsSpan(p * PageSize, PageSize)));
                }

                Assert.Equal(withData, total.PagesWithData);
            }
        }
    }

    private static int VerifyShmem(JsonElement manifest, string dir, ulong seed)
    {
        int verified = 0;
        var buffer = manifest.GetProperty("tasks").EnumerateArray()
            .SelectMany(t => t.GetProperty("buffers").EnumerateArray())
            .FirstOrDefault(b => b.GetProperty("kind").GetString() == "anon-shared");
        var shmemFiles = Directory.EnumerateFiles(dir, "pagemap-shmem-*.img").Select(Path.GetFileName).ToList();
        var declared = manifest.GetProperty("shmem").EnumerateArray().ToList();
        Assert.Equal(declared.Select(s => s.GetProperty("file").GetString()).Order(), shmemFiles.Order());
        foreach (var shmem in declared)
        {
            var pagemap = PagemapFile.Read(Path.Combine(dir, shmem.GetProperty("file").GetString()!), 2);
            Assert.Equal(shmem.GetProperty("pages_id").GetUInt32(), pagemap.PagesId);
            var expected = shmem.GetProperty("pagemap").EnumerateArray()
                .Select(e => (e.GetProperty("offset").GetUInt64(), e.GetProperty("nr_pages").GetUInt64(), e.GetProperty("flags").GetUInt32(), e.GetProperty("pages_file_offset").GetInt64()));
            Assert.Equal(expected, pagemap.Runs.Select(r => (r.Vaddr, r.NrPages, (uint)r.Flags, r.PagesFileOffset)));
            using var pages = File.OpenHandle(Path.Combine(dir, pagemap.PagesFileName));
            var data = new byte[PageSize];
            var present = new HashSet<long>();
            foreach (var run in pagemap.Runs)
            {
                for (ulong k = 0; k < run.NrPages; k++)
                {
                    long p = (long)(run.Vaddr / PageSize + k);
                    present.Add(p);
                    Assert.Equal(PageSize, RandomAccess.Read(pages, data, run.PagesFileOffset + (long)k * PageSize));
                    var (must, bytes) = Expect(seed, buffer, (int)p);
                    Assert.NotEqual(Must.Absent, must);
                    Assert.True(bytes!.AsSpan().SequenceEqual(data), $"shmem page {p} bytes differ");
                    verified++;
                }
            }

            for (int p = 0; p < buffer.GetProperty("size").GetInt32() / PageSize; p++)
            {
                if (Expect(seed, buffer, p).Must == Must.Present)
                {
                    Assert.Contains(p, present);
                }
            }
        }

        return verified;
    }

    /// <summary>What page <paramref name="p"/> of <paramref name="buffer"/> must hold, from its kind and layout letter.</summary>
    private static (Must Must, byte[]? Bytes) Expect(ulong seed, JsonElement buffer, int p)
    {
        ulong t = buffer.GetProperty("t").GetUInt64();
        ulong b = buffer.GetProperty("b").GetUInt64();
        string kind = buffer.GetProperty("kind").GetString()!;
        char letter = buffer.TryGetProperty("layout", out var layout) ? layout.GetString()![p] : 'P';
        if (kind == "file-private")
        {
            return letter switch
            {
                'W' => (Must.Present, PagePattern.Page(seed, t, b, p)),
                'w' => (Must.Present, PagePattern.Page(seed, t, b, p, patternWords: 1, tailTask: 0xFF)),
                _ => (Must.Absent, null),
            };
        }

        return letter switch
        {
            'P' => (Must.Present, PagePattern.Page(seed, t, b, p)),
            'Z' => (Must.Present, new byte[PageSize]),
            'R' => (Must.Either, new byte[PageSize]),
            _ => (Must.Absent, null),
        };
    }
}
