namespace LazyActors.Engine.Images;

/// <summary>Magic numbers at the start of CRIU 4.2 image files (criu/include/magic.h), as little-endian u32.</summary>
public static class ImageMagic
{
    /// <summary>First u32 of <c>inventory.img</c> (there is no common magic before it).</summary>
    public const uint Inventory = 0x58313116;

    /// <summary>First u32 of every other protobuf image when <c>img_version == 2</c>.</summary>
    public const uint Common = 0x54564319;

    /// <summary>First u32 of service files (<c>stats-*</c>, irmap cache) instead of <see cref="Common"/>.</summary>
    public const uint Service = 0x55105940;

    /// <summary><c>pstree.img</c>.</summary>
    public const uint Pstree = 0x50273030;

    /// <summary><c>core-&lt;tid&gt;.img</c>.</summary>
    public const uint Core = 0x55053847;

    /// <summary><c>mm-&lt;pid&gt;.img</c>.</summary>
    public const uint Mm = 0x57492820;

    /// <summary><c>pagemap-&lt;pid&gt;.img</c> and <c>pagemap-shmem-&lt;shmid&gt;.img</c>.</summary>
    public const uint Pagemap = 0x56084025;

    /// <summary><c>stats-dump</c> / <c>stats-restore</c> (after <see cref="Service"/>).</summary>
    public const uint Stats = 0x57093306;

    /// <summary>Raw images (<c>pages-&lt;id&gt;.img</c>) have no header; CRIU calls this RAW_IMAGE_MAGIC.</summary>
    public const uint Raw = 0;

    /// <summary><c>img_version</c> of CRIU images with the common magic (CRTOOLS_IMAGES_V1_1).</summary>
    public const uint ImgVersionV1_1 = 2;

    /// <summary><c>img_version</c> of old images without the common magic (CRTOOLS_IMAGES_V1).</summary>
    public const uint ImgVersionV1 = 1;
}
