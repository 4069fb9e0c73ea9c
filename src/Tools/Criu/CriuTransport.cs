namespace LazyActors.Tools.Criu;

/// <summary>Where the restored tree's lazy pages come from.</summary>
public enum CriuTransport
{
    /// <summary>A normal dump's images in a local directory; the daemon reads pages-*.img.</summary>
    Local,

    /// <summary>
    /// A normal dump served by <c>criu page-server --lazy-pages</c> on loopback; the daemon gets the images without
    /// their pages and fetches every page with <c>--page-server</c>.
    /// </summary>
    PageServer,

    /// <summary>
    /// <c>criu dump --lazy-pages --address --port</c>: the source tree (PID 1 of its own pid namespace) stays frozen
    /// and its pages are served from its live memory; the daemon fetches them with <c>--page-server</c>.
    /// </summary>
    LazyDump,
}
