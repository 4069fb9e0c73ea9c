namespace LazyActors.Engine.Interop;

/// <summary>Names of the native libraries the interop layer binds to.</summary>
internal static class Libraries
{
    /// <summary>The C library (glibc on the supported platforms).</summary>
    public const string Libc = "libc";
}
