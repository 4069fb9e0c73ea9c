namespace LazyActors.Engine.CrashSafety;

/// <summary>What one journal record says (its first byte on the guardian channel).</summary>
public enum JournalRecordKind : byte
{
    /// <summary>The listening lazy-pages.socket (descriptor attached).</summary>
    Listener = 1,

    /// <summary>The restorer connected: its host pid, when the socket began listening (descriptor: the connection).</summary>
    Accepted = 2,

    /// <summary>A live pstree entry: journal id, pid (descriptor: its uffd).</summary>
    Task = 3,

    /// <summary>A zombie pstree entry (pid), journalled before its word is consumed.</summary>
    Zombie = 4,

    /// <summary>"restore finished", journalled before its word is consumed.</summary>
    Finished = 5,

    /// <summary>A REMAP/REMOVE/UNMAP event of one uffd as read, before it is applied (the raw uffd_msg).</summary>
    Event = 6,

    /// <summary>A FORK event of one uffd as read: the parent's and the child's ids (descriptor: the child's uffd).</summary>
    Fork = 7,

    /// <summary>Ranges of one uffd copied (dump addresses and page counts), batched.</summary>
    Progress = 8,

    /// <summary>A uffd needs no more service (complete, exited or failed, with the reason).</summary>
    Ended = 9,

    /// <summary>The daemon ended the restore itself with this exit code: the guardian exits too.</summary>
    Done = 10,

    /// <summary>Guardian to successor: the journal replay is complete; the restart count.</summary>
    ResumeEnd = 11,
}
