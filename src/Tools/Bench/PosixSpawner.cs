using System.Runtime.InteropServices;
using System.Text;
using LazyActors.Engine.Interop;

namespace LazyActors.Tools.Bench;

/// <summary>
/// posix_spawnp of a command with the caller's file actions, default signal dispositions (.NET ignores SIGPIPE) and an
/// empty signal mask, in this process's environment. One place for what the bench's daemon and the CRIU harness's
/// steps both need: .NET's Process cannot give a child exact descriptors.
/// </summary>
internal static unsafe class PosixSpawner
{
    /// <summary>Adds the caller's file actions (descriptors, stdio, working directory) to <c>actions</c>.</summary>
    public delegate void FileActions(byte* actions);

    /// <summary>Starts <paramref name="argv"/> (argv[0] searched on PATH) and returns its pid.</summary>
    /// <exception cref="InvalidOperationException">A spawn call failed (named in the message).</exception>
    public static int Spawn(IReadOnlyList<string> argv, FileActions fileActions)
    {
        ArgumentNullException.ThrowIfNull(argv);
        ArgumentNullException.ThrowIfNull(fileActions);
        var strings = new List<nint>();
        byte* actions = stackalloc byte[SpawnNative.FileActionsBytes];
        byte* attr = stackalloc byte[SpawnNative.SpawnAttrBytes];
        byte* defaults = stackalloc byte[SpawnNative.SigsetBytes];
        byte* mask = stackalloc byte[SpawnNative.SigsetBytes];
        new Span<byte>(actions, SpawnNative.FileActionsBytes).Clear();
        new Span<byte>(attr, SpawnNative.SpawnAttrBytes).Clear();
        Check(SpawnNative.FileActionsInit(actions), "posix_spawn_file_actions_init");
        Check(SpawnNative.AttrInit(attr), "posix_spawnattr_init");
        try
        {
            fileActions(actions);
            SpawnNative.SigEmptySet(defaults);
            SpawnNative.SigAddSet(defaults, SpawnNative.Sigpipe);
            SpawnNative.SigEmptySet(mask);
            Check(SpawnNative.AttrSetSigDefault(attr, defaults), "posix_spawnattr_setsigdefault");
            Check(SpawnNative.AttrSetSigMask(attr, mask), "posix_spawnattr_setsigmask");
            Check(SpawnNative.AttrSetFlags(attr, SpawnNative.PosixSpawnSetSigDef | SpawnNative.PosixSpawnSetSigMask), "posix_spawnattr_setflags");

            var argvPtrs = new nint[argv.Count + 1];
            for (int i = 0; i < argv.Count; i++)
            {
                argvPtrs[i] = Utf8(argv[i], strings);
            }

            var environment = Environment.GetEnvironmentVariables();
            var envPtrs = new nint[environment.Count + 1];
            int e = 0;
            foreach (System.Collections.DictionaryEntry entry in environment)
            {
                envPtrs[e++] = Utf8($"{entry.Key}={entry.Value}", strings);
            }

            int pid;
            fixed (nint* argvBlock = argvPtrs)
            fixed (nint* envBlock = envPtrs)
            {
                int rc = SpawnNative.Spawnp(&pid, (byte*)argvPtrs[0], actions, attr, (byte**)argvBlock, (byte**)envBlock);
                if (rc != 0)
                {
                    throw new InvalidOperationException($"posix_spawnp({CommandTemplate.Join(argv)}) failed: {new LinuxException((Errno)rc, "posix_spawnp").Message}");
                }
            }

            return pid;
        }
        finally
        {
            _ = SpawnNative.FileActionsDestroy(actions);
            _ = SpawnNative.AttrDestroy(attr);
            foreach (var p in strings)
            {
                NativeMemory.Free((void*)p);
            }
        }
    }

    /// <summary>Throws naming <paramref name="what"/> when a posix_spawn call returned an error.</summary>
    public static void Check(int rc, string what)
    {
        if (rc != 0)
        {
            throw new InvalidOperationException($"{what} failed with error {rc}.");
        }
    }

    private static nint Utf8(string value, List<nint> owned)
    {
        int length = Encoding.UTF8.GetByteCount(value);
        byte* buffer = (byte*)NativeMemory.Alloc((nuint)length + 1);
        owned.Add((nint)buffer);
        Encoding.UTF8.GetBytes(value, new Span<byte>(buffer, length));
        buffer[length] = 0;
        return (nint)buffer;
    }
}
