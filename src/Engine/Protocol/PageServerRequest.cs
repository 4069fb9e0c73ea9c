using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Protocol;

/// <summary>
/// One PS_IOV_GET as a client sent it: <paramref name="Pages"/> pages of task <paramref name="Pid"/> (raw virtual pid,
/// the GET's <c>dst_id</c>) from dump-time address <paramref name="Vaddr"/>. Used in results and error messages.
/// </summary>
public readonly record struct PageServerRequest(int Pid, ulong Vaddr, int Pages)
{
    /// <summary>Dump-time address just past the requested pages.</summary>
    public ulong End => Vaddr + ((ulong)Pages << PageGeometry.PageShift);

    /// <summary>The request as a log names it: <c>GET pid P 0xADDR+Np</c>.</summary>
    public override string ToString() => $"GET pid {Pid} 0x{Vaddr:x}+{Pages}p";
}
