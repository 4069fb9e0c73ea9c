namespace LazyActors.Engine.Actors.Remote;

/// <summary>
/// A lazy page the source certainly holds (the first lazy page of the checkpoint), asked once on a second connection
/// to learn whether the source serves it: CRIU's servers never accept a second connection, ours does.
/// </summary>
/// <param name="Pid">Its task.</param>
/// <param name="DumpAddress">Its dump-time address.</param>
public sealed record ProbePage(int Pid, ulong DumpAddress)
{
    /// <summary>The first lazy page of <paramref name="checkpoint"/>, or null when it has none.</summary>
    public static ProbePage? Of(Images.Checkpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        foreach (var task in checkpoint.Tasks)
        {
            if (task.LazyRanges.Count > 0)
            {
                return new ProbePage(task.Pid, task.LazyRanges[0].Start);
            }
        }

        return null;
    }
}
