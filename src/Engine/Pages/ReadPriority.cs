namespace LazyActors.Engine.Pages;

/// <summary>
/// Who waits for a read. A page source may serve both the same way (local images), or keep faults from ever waiting
/// behind background data (a remote source: a connection of their own, or background requests kept small).
/// </summary>
public enum ReadPriority
{
    /// <summary>A thread of a restored task is blocked on these pages.</summary>
    Fault,

    /// <summary>Background transfer of pages nobody asked for yet; yields to faults.</summary>
    Background,
}
