namespace LazyActors.Engine.Configuration;

/// <summary>The signal that stops a restored tree whose page source was given up (x86_64 numbers).</summary>
public enum TreeStopSignal
{
    /// <summary>SIGKILL: no task runs on without the pages it did not get.</summary>
    Kill = 9,

    /// <summary>SIGTERM: the tasks may clean up; memory never fetched reads as zeros once the daemon is gone.</summary>
    Term = 15,

    /// <summary>SIGSTOP: the tree is frozen for inspection.</summary>
    Stop = 19,
}
