namespace LazyActors.Engine.Configuration;

/// <summary>Whether a remote restore opens a second connection that carries faults only.</summary>
public enum FaultConnectionMode
{
    /// <summary>Try it and check it with one GET; fall back to one shared connection when the source refuses it.</summary>
    Auto,

    /// <summary>Required: a source that refuses it fails the restore at start.</summary>
    On,

    /// <summary>One connection for faults and background (as CRIU's own daemon).</summary>
    Off,
}
