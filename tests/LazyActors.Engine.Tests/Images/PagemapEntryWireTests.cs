using Google.Protobuf;
using LazyActors.Engine.Images;
using LazyActors.Engine.Images.Proto;
using Xunit;

namespace LazyActors.Engine.Tests.Images;

/// <summary>
/// Our pagemap.proto against CRIU's wire format, byte for byte: a pagemap entry is vaddr = 1 (uint64),
/// compat_nr_pages = 2 (uint32, required), in_parent = 3 (bool), flags = 4 (uint32), nr_pages = 5 (uint64).
/// A wrong field number or type in our description changes these bytes.
/// </summary>
public sealed class PagemapEntryWireTests
{
    // 0x08 0x80 0x20: field 1 varint 0x1000; 0x10 0x00: field 2 varint 0; 0x20 0x06: field 4 varint PE_LAZY|PE_PRESENT;
    // 0x28 0x03: field 5 varint 3.
    private static readonly byte[] LazyPresentEntry = [0x08, 0x80, 0x20, 0x10, 0x00, 0x20, 0x06, 0x28, 0x03];

    [Fact]
    public void A_CRIU_4_entry_encodes_with_CRIUs_field_numbers_and_types()
    {
        var entry = new PagemapEntry { Vaddr = 0x1000, CompatNrPages = 0, Flags = 6, NrPages = 3 };

        Assert.Equal(LazyPresentEntry, entry.ToByteArray());
    }

    [Fact]
    public void A_CRIU_4_entry_decodes_and_normalises_to_a_lazy_present_run()
    {
        var entry = PagemapEntry.Parser.ParseFrom(LazyPresentEntry);

        Assert.Equal(0x1000UL, entry.Vaddr);
        Assert.False(entry.HasInParent);
        Assert.Equal((PageFlags.Lazy | PageFlags.Present, 3UL), PagemapFile.Normalise(entry));
    }

    [Fact]
    public void A_legacy_entry_with_in_parent_decodes_as_a_parent_run()
    {
        // field 1 varint 0x2000, field 2 varint 5, field 3 varint true: what CRIU wrote before nr_pages and flags.
        var entry = PagemapEntry.Parser.ParseFrom([0x08, 0x80, 0x40, 0x10, 0x05, 0x18, 0x01]);

        Assert.Equal((PageFlags.Parent, 5UL), PagemapFile.Normalise(entry));
    }
}
