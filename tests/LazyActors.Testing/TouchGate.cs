namespace LazyActors.Testing;

/// <summary>
/// The file a simulated restore's tasks wait for before their first touch (<c>RestoreSimOptions.TouchGate</c>): a test
/// does what it must do to a daemon or source after "restore finished" and before any page is touched, then opens the
/// gate. Timed holds lost that race on machines that restore faster than the test thread kills (CI run 23: the tasks
/// had every page 280 ms after "restore finished", the kill came at 300 ms).
/// </summary>
public sealed class TouchGate
{
    /// <summary>A closed gate in <paramref name="work"/>.</summary>
    public TouchGate(ScratchDirectory work)
    {
        ArgumentNullException.ThrowIfNull(work);
        Path = System.IO.Path.Combine(work.Path, "touch-gate");
    }

    /// <summary>The file's path, for the simulator's options.</summary>
    public string Path { get; }

    /// <summary>Lets the tasks touch.</summary>
    public void Open() => File.WriteAllText(Path, string.Empty);
}
