using System.Buffers.Binary;
using Akka.Configuration;
using LazyActors.Engine;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Restorer;
using LazyActors.Engine.Uffd;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.Sweep;

/// <summary>
/// Bad input sweep of lazy-pages.socket (issue 12): adversarial and random restorer streams against the whole engine,
/// with real descriptors (userfaultfds with and without UFFDIO_API, pipes). None is a restore that can succeed, so
/// every one must end the engine with a non-zero exit and a one-line error, in bounded time.
/// </summary>
public sealed class RestorerStreamSweepTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(40);
    private static readonly int[] Pids = [SyntheticCheckpoint.FirstPid, SyntheticCheckpoint.FirstPid + 1];
    private readonly ScratchDirectory _work = new();

    public void Dispose() => _work.Dispose();

    public static TheoryData<string> Adversarial => ["nothing then FIN", "pid then FIN", "pid without fd", "unknown pid", "stall after pid", "second connection", "restore finished first", "garbage"];

    [SkippableTheory]
    [MemberData(nameof(Adversarial))]
    public async Task An_adversarial_restorer_stream_ends_the_restore_with_one_clear_error(string stream)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var result = await RestoreAsync(socketPath =>
        {
            using var socket = UnixSocket.Connect(socketPath);
            switch (stream)
            {
                case "nothing then FIN":
                    break;
                case "pid then FIN":
                    Word(socket, Pids[0]);
                    break;
                case "pid without fd":
                    Word(socket, Pids[0]);
                    UnixSocket.SendExactly(socket, [0]);
                    Thread.Sleep(200);
                    break;
                case "unknown pid":
                    Word(socket, 4242);
                    SendUffd(socket, api: true);
                    break;
                case "stall after pid":
                    Word(socket, Pids[0]);
                    Thread.Sleep(TimeSpan.FromSeconds(4)); // longer than the handshake timeout
                    break;
                case "second connection":
                    Word(socket, Pids[0]);
                    try
                    {
                        using var second = UnixSocket.Connect(socketPath);
                        Word(second, Pids[1]);
                    }
                    catch (LinuxException)
                    {
                        // the daemon no longer listens once its restorer connected
                    }

                    Thread.Sleep(TimeSpan.FromSeconds(4));
                    break;
                case "restore finished first":
                    Word(socket, unchecked((int)LazyPagesHandshake.RestoreFinished));
                    break;
                default:
                    UnixSocket.SendExactly(socket, "GET / HTTP/1.0\r\n\r\n"u8);
                    break;
            }
        });

        Assert.NotEqual(0, result.ExitCode);
        AssertOneLine(result.Error);
    }

    [SkippableFact]
    public async Task Random_restorer_streams_end_the_restore_with_one_clear_error()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var random = new Random(SweepScale.Seed);
        var cases = SweepScale.Count(6, 200);
        for (int i = 0; i < cases; i++)
        {
            var seed = random.Next();
            var steps = new List<string>();
            var result = await RestoreAsync(socketPath =>
            {
                var rng = new Random(seed);
                using var socket = UnixSocket.Connect(socketPath);
                try
                {
                    for (int step = rng.Next(1, 6); step > 0; step--)
                    {
                        switch (rng.Next(6))
                        {
                            case 0:
                                var pid = Pids[rng.Next(Pids.Length)];
                                steps.Add($"pid {pid}");
                                Word(socket, pid);
                                break;
                            case 1:
                                var zombie = -Pids[rng.Next(Pids.Length)];
                                steps.Add($"pid {zombie}");
                                Word(socket, zombie);
                                break;
                            case 2:
                                var api = rng.Next(2) == 0;
                                steps.Add(api ? "uffd" : "uffd without UFFDIO_API");
                                SendUffd(socket, api);
                                break;
                            case 3:
                                steps.Add("pipe");
                                var (read, write) = ReadinessSignal.CreateInheritablePipe();
                                using (read)
                                {
                                    UnixSocket.SendFd(socket, read);
                                }

                                ReadinessSignal.Close(write);
                                break;
                            case 4:
                                steps.Add("restore finished");
                                Word(socket, unchecked((int)LazyPagesHandshake.RestoreFinished));
                                break;
                            default:
                                var bytes = new byte[rng.Next(1, 64)];
                                rng.NextBytes(bytes);
                                steps.Add($"{bytes.Length} random bytes");
                                UnixSocket.SendExactly(socket, bytes);
                                break;
                        }
                    }
                }
                catch (LinuxException)
                {
                    steps.Add("(the daemon closed the connection)");
                }
            });

            output.WriteLine($"case {i} [{string.Join(", ", steps)}]: exit {result.ExitCode}: {result.Error}");
            Assert.NotEqual(0, result.ExitCode);
            AssertOneLine(result.Error);
        }
    }

    private static void AssertOneLine(string? error)
    {
        Assert.False(string.IsNullOrWhiteSpace(error));
        Assert.DoesNotContain("\n", error);
        Assert.DoesNotContain("   at ", error);
    }

    private async Task<EngineResult> RestoreAsync(Action<string> restorer)
    {
        var images = Path.Combine(_work.Path, "images");
        if (!Directory.Exists(images))
        {
            SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 256L << 10, 0x5EE));
        }

        var settings = EngineSettings.Create(images, _work.Path) with
        {
            AcceptTimeout = TimeSpan.FromSeconds(3),
            HandshakeTimeout = TimeSpan.FromSeconds(2),
        };
        using var engine = LazyPagesEngine.Listen(settings);
        var run = engine.RunAsync(ConfigurationFactory.ParseString("akka.loglevel = WARNING"), null, null, CancellationToken.None);
        await Task.Run(() => restorer(engine.SocketPath)).WaitAsync(Bound);
        return await run.WaitAsync(Bound);
    }

    private static void SendUffd(SafeFdHandle socket, bool api)
    {
        using var uffd = UserFaultFd.Create();
        if (api)
        {
            uffd.Api(UffdFeatures.NonCooperative);
        }

        UnixSocket.SendFd(socket, uffd.Handle);
    }

    private static void Word(SafeFdHandle socket, int value)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(word, value);
        UnixSocket.SendExactly(socket, word);
    }
}
