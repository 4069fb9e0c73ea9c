using System.Buffers.Binary;
using LazyActors.Engine.Ranges;

namespace LazyActors.Testing;

/// <summary>The fixtures' page pattern, written independently of the engine's generator.</summary>
public static class PagePattern
{
    /// <summary>Page <paramref name="page"/> of buffer b of task t; words from <paramref name="patternWords"/> on use <paramref name="tailTask"/>.</summary>
    public static byte[] Page(ulong seed, ulong t, ulong b, long page, int patternWords = 512, ulong tailTask = 0)
    {
        var bytes = new byte[PageGeometry.PageSize];
        for (int k = 0; k < 512; k++)
        {
            ulong task = k < patternWords ? t : tailTask;
            ulong word = (seed << 48) | (task << 40) | (b << 32) | (ulong)(page * 512 + k);
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(k * 8), word);
        }

        return bytes;
    }
}
