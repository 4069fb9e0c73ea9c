using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using LazyActors.Engine.Interop;

namespace LazyActors.Engine.CrashSafety;

/// <summary>
/// One journal record, decoded. The wire form is little-endian: the kind byte, then the fields the kind uses in a fixed
/// order (see <see cref="Encode"/>). A descriptor travels beside the bytes, never in them.
/// </summary>
/// <param name="Kind">What it says.</param>
/// <param name="Id">The uffd's journal id (Task, Event, Progress, Ended; the parent's for Fork).</param>
/// <param name="Number">Pid (Task, Zombie), restorer pid (Accepted), child id (Fork), exit code (Done), restart
/// count (ResumeEnd), task phase (Ended).</param>
/// <param name="Ticks">When the socket began listening (Accepted).</param>
/// <param name="Message">The raw event (Event).</param>
/// <param name="Ranges">Dump start and page count of each copied range (Progress).</param>
/// <param name="Text">The end reason (Ended).</param>
public sealed record JournalRecord(
    JournalRecordKind Kind,
    int Id = 0,
    int Number = 0,
    ulong Ticks = 0,
    UffdMsg Message = default,
    IReadOnlyList<(ulong DumpStart, ulong Pages)>? Ranges = null,
    string? Text = null)
{
    /// <summary>Most ranges one progress record carries.</summary>
    public const int MaxRanges = 64;

    /// <summary>The wire form, written into <paramref name="into"/> (at least <see cref="GuardianSocket.MaxRecord"/>
    /// bytes); returns its length.</summary>
    public int Encode(Span<byte> into)
    {
        into[0] = (byte)Kind;
        var at = 1;
        Int(into, ref at, Id);
        Int(into, ref at, Number);
        switch (Kind)
        {
            case JournalRecordKind.Accepted:
                Long(into, ref at, Ticks);
                break;
            case JournalRecordKind.Event:
                var message = Message;
                MemoryMarshal.AsBytes(new ReadOnlySpan<UffdMsg>(in message)).CopyTo(into[at..]);
                at += UffdMsg.Size;
                break;
            case JournalRecordKind.Progress:
                var ranges = Ranges ?? [];
                Int(into, ref at, ranges.Count);
                foreach (var (start, pages) in ranges)
                {
                    Long(into, ref at, start);
                    Long(into, ref at, pages);
                }

                break;
            case JournalRecordKind.Ended:
                var text = Text ?? string.Empty;
                var bytes = Encoding.UTF8.GetBytes(text.Length > 1000 ? text[..1000] : text);
                Int(into, ref at, bytes.Length);
                bytes.CopyTo(into[at..]);
                at += bytes.Length;
                break;
        }

        return at;
    }

    private static void Int(Span<byte> into, ref int at, int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(into[at..], value);
        at += 4;
    }

    private static void Long(Span<byte> into, ref int at, ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(into[at..], value);
        at += 8;
    }

    /// <summary>Decodes one record; the source is named in errors.</summary>
    /// <exception cref="InvalidDataException">Not a record this version writes.</exception>
    public static JournalRecord Decode(ReadOnlySpan<byte> data)
    {
        try
        {
            var kind = (JournalRecordKind)data[0];
            var id = BinaryPrimitives.ReadInt32LittleEndian(data[1..]);
            var number = BinaryPrimitives.ReadInt32LittleEndian(data[5..]);
            var rest = data[9..];
            switch (kind)
            {
                case JournalRecordKind.Accepted:
                    return new JournalRecord(kind, id, number, Ticks: BinaryPrimitives.ReadUInt64LittleEndian(rest));
                case JournalRecordKind.Event:
                    return new JournalRecord(kind, id, number, Message: MemoryMarshal.Read<UffdMsg>(rest[..UffdMsg.Size]));
                case JournalRecordKind.Progress:
                    var count = BinaryPrimitives.ReadInt32LittleEndian(rest);
                    if (count is < 0 or > MaxRanges)
                    {
                        throw new InvalidDataException($"progress record with {count} ranges");
                    }

                    var ranges = new (ulong, ulong)[count];
                    for (var i = 0; i < count; i++)
                    {
                        ranges[i] = (BinaryPrimitives.ReadUInt64LittleEndian(rest[(4 + (i * 16))..]), BinaryPrimitives.ReadUInt64LittleEndian(rest[(12 + (i * 16))..]));
                    }

                    return new JournalRecord(kind, id, number, Ranges: ranges);
                case JournalRecordKind.Ended:
                    var length = BinaryPrimitives.ReadInt32LittleEndian(rest);
                    return new JournalRecord(kind, id, number, Text: Encoding.UTF8.GetString(rest.Slice(4, length)));
                case >= JournalRecordKind.Listener and <= JournalRecordKind.ResumeEnd:
                    return new JournalRecord(kind, id, number);
                default:
                    throw new InvalidDataException($"unknown journal record kind {(byte)kind}");
            }
        }
        catch (ArgumentOutOfRangeException)
        {
            throw new InvalidDataException($"a journal record of {data.Length} bytes is truncated");
        }
    }
}
