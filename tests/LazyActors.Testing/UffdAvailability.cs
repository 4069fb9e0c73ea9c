using LazyActors.Engine.Interop;
using LazyActors.Engine.Uffd;

namespace LazyActors.Testing;

/// <summary>Whether this kernel lets us create userfaultfds with the non-cooperative events restore needs.</summary>
public static class UffdAvailability
{
    private static readonly Lazy<string?> RestoreProbe = new(Probe);
    private static readonly Lazy<string?> BasicProbe = new(ProbeBasic);

    /// <summary>Null when usable for a restore (non-cooperative events included), else the kernel's reason.</summary>
    public static string? Reason => RestoreProbe.Value;

    /// <summary>Null when a plain userfaultfd can be created (all the in-process probes need), else the kernel's reason.</summary>
    public static string? BasicReason => BasicProbe.Value;

    private static string? ProbeBasic()
    {
        try
        {
            using var uffd = UserFaultFd.Create();
            return null;
        }
        catch (LinuxException ex)
        {
            return $"the kernel refuses userfaultfd: {ex.Message}";
        }
    }

    private static string? Probe()
    {
        try
        {
            var supported = UserFaultFd.ProbeFeatures();
            if ((supported & UffdFeatures.NonCooperative) != UffdFeatures.NonCooperative)
            {
                return $"userfaultfd lacks the non-cooperative events FORK|REMAP|REMOVE|UNMAP (kernel offers features 0x{supported:x})";
            }

            using var uffd = UserFaultFd.Create();
            return null;
        }
        catch (LinuxException ex)
        {
            return $"userfaultfd is refused by this kernel: {ex.Message}";
        }
    }
}
