using Xunit;

namespace LazyActors.Testing;

/// <summary>Byte-for-byte comparison of two directory trees (file names, contents, symlink targets).</summary>
public static class DirectoryAssert
{
    public static void Identical(string expected, string actual)
    {
        var expectedEntries = Entries(expected);
        var actualEntries = Entries(actual);
        Assert.Equal(expectedEntries.Keys.Order(StringComparer.Ordinal), actualEntries.Keys.Order(StringComparer.Ordinal));
        foreach (var (relative, info) in expectedEntries)
        {
            var other = actualEntries[relative];
            Assert.Equal(info.LinkTarget, other.LinkTarget);
            if (info.LinkTarget is null && info is FileInfo)
            {
                Assert.True(
                    File.ReadAllBytes(info.FullName).AsSpan().SequenceEqual(File.ReadAllBytes(other.FullName)),
                    $"{relative} differs between {expected} and {actual}");
            }
        }
    }

    private static Dictionary<string, FileSystemInfo> Entries(string root)
    {
        var result = new Dictionary<string, FileSystemInfo>(StringComparer.Ordinal);
        var pending = new Stack<DirectoryInfo>();
        pending.Push(new DirectoryInfo(root));
        while (pending.Count > 0)
        {
            foreach (var info in pending.Pop().EnumerateFileSystemInfos())
            {
                result[Path.GetRelativePath(root, info.FullName)] = info;
                if (info is DirectoryInfo directory && info.LinkTarget is null)
                {
                    pending.Push(directory);
                }
            }
        }

        return result;
    }
}
