namespace LazyActors.Host.Tests.Sweep;

/// <summary>One damaged image file: truncated at an offset, or with one byte replaced.</summary>
/// <param name="File">Name of the file inside the image directory.</param>
/// <param name="Offset">Where.</param>
/// <param name="Value">The byte written at <paramref name="Offset"/>, or null to truncate there.</param>
internal sealed record ImageMutation(string File, long Offset, byte? Value)
{
    /// <summary>Applies it to the copy of the file in <paramref name="directory"/>.</summary>
    public void ApplyTo(string directory)
    {
        using var stream = new FileStream(Path.Combine(directory, File), FileMode.Open, FileAccess.ReadWrite);
        if (Value is { } value)
        {
            stream.Position = Offset;
            stream.WriteByte(value);
        }
        else
        {
            stream.SetLength(Offset);
        }
    }

    /// <inheritdoc />
    public override string ToString() => Value is { } v ? $"{File}[{Offset}] = 0x{v:x2}" : $"{File} truncated to {Offset} bytes";

    /// <summary>
    /// <paramref name="perFile"/> mutations of every regular file of <paramref name="directory"/>: half truncations (at
    /// 0, inside the magic and header, and at random offsets), half byte replacements (the varint and length bytes a
    /// parser trusts get 0xff, 0x80 and random values).
    /// </summary>
    public static List<ImageMutation> Plan(string directory, int perFile, Random random)
    {
        var plan = new List<ImageMutation>();
        foreach (var path in Directory.GetFiles(directory).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(path);
            var length = new FileInfo(path).Length;
            if (length == 0)
            {
                continue;
            }

            long[] cuts = [0, Math.Min(length - 1, 4), Math.Min(length - 1, 10)];
            byte[] values = [0xff, 0x80, 0x00];
            for (int i = 0; i < perFile; i++)
            {
                if (i % 2 == 0)
                {
                    var offset = i / 2 < cuts.Length ? cuts[i / 2] : random.NextInt64(length);
                    plan.Add(new ImageMutation(name, offset, null));
                }
                else
                {
                    var offset = random.NextInt64(Math.Min(length, 4096));
                    var value = i / 2 < values.Length ? values[i / 2] : (byte)random.Next(256);
                    plan.Add(new ImageMutation(name, offset, value));
                }
            }
        }

        return plan;
    }
}
