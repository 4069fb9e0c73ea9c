using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;

namespace LazyActors.Host.Tests.Service;

/// <summary>One running <c>serve</c> (with its loopback HTTP endpoint) and two synthetic checkpoints, shared by the
/// tests of a class; stopped and reaped at the end.</summary>
public sealed class ServiceFixture : IAsyncLifetime
{
    private readonly ScratchDirectory _scratch = new("svc");
    private ServiceProcess? _service;

    public ServiceProcess Service => _service ?? throw new InvalidOperationException("not started");

    /// <summary>2 tasks x 8 MiB.</summary>
    public string CheckpointA { get; private set; } = "";

    /// <summary>3 tasks x 4 MiB, other content.</summary>
    public string CheckpointB { get; private set; } = "";

    /// <summary>A new empty work directory.</summary>
    public string NewWorkDir() => _scratch.CreateSub("w" + Guid.NewGuid().ToString("N")[..8]);

    public async Task InitializeAsync()
    {
        CheckpointA = _scratch.CreateSub("ckpt-a");
        SyntheticCheckpoint.Write(CheckpointA, new SyntheticCheckpointOptions(2, 8L << 20, 0xA11A));
        CheckpointB = _scratch.CreateSub("ckpt-b");
        SyntheticCheckpoint.Write(CheckpointB, new SyntheticCheckpointOptions(3, 4L << 20, 0xB22B));
        _service = await ServiceProcess.StartAsync(_scratch.Path);
    }

    public async Task DisposeAsync()
    {
        if (_service is not null)
        {
            await _service.DisposeAsync();
        }

        _scratch.Dispose();
    }
}
