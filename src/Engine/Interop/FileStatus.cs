using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

/// <summary>
/// struct stat of x86_64 (144 bytes), as fstat(2) fills it; only the fields the daemon reads are named: [u64 dev]
/// [u64 ino][u64 nlink][u32 mode][u32 uid][u32 gid][pad 4][u64 rdev][s64 size]...
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct FileStatus
{
    /// <summary>sizeof(struct stat).</summary>
    public const int Size = 144;

    /// <summary>S_IFMT: the file-type bits of <see cref="Mode"/>.</summary>
    public const uint TypeMask = 0xF000;

    /// <summary>S_IFREG.</summary>
    public const uint RegularFile = 0x8000;

    /// <summary>S_IFDIR.</summary>
    public const uint Directory = 0x4000;

    /// <summary>S_IFCHR.</summary>
    public const uint CharacterDevice = 0x2000;

    /// <summary>S_IFBLK.</summary>
    public const uint BlockDevice = 0x6000;

    /// <summary>S_IFIFO.</summary>
    public const uint Fifo = 0x1000;

    /// <summary>S_IFSOCK.</summary>
    public const uint Socket = 0xC000;

    /// <summary>S_IFLNK.</summary>
    public const uint SymbolicLink = 0xA000;

    /// <summary>The device of the file system.</summary>
    [FieldOffset(0)] public ulong Device;      // dev_t st_dev

    /// <summary>The inode number.</summary>
    [FieldOffset(8)] public ulong Inode;       // ino_t st_ino

    /// <summary>File type and permission bits.</summary>
    [FieldOffset(24)] public uint Mode;        // mode_t st_mode

    /// <summary>The owner.</summary>
    [FieldOffset(28)] public uint Uid;         // uid_t st_uid

    /// <summary>Bytes in the file (regular files).</summary>
    [FieldOffset(48)] public long Length;      // off_t st_size

    /// <summary>The file type bits (<see cref="TypeMask"/>).</summary>
    public readonly uint Type => Mode & TypeMask;

    /// <summary>A word for the file type, for error messages.</summary>
    public readonly string TypeName => Type switch
    {
        RegularFile => "a regular file",
        Directory => "a directory",
        CharacterDevice => "a character device",
        BlockDevice => "a block device",
        Fifo => "a FIFO",
        Socket => "a socket",
        SymbolicLink => "a symbolic link",
        _ => $"a file of type 0{Type >> 12:o}",
    };
}
