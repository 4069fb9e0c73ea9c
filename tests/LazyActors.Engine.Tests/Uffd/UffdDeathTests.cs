using System.Runtime.InteropServices;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Restorer;
using LazyActors.Engine.Uffd;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using Xunit;

namespace LazyActors.Engine.Tests.Uffd;

/// <summary>
/// What the kernel answers on the userfaultfd of a task that died (it sends no event), checked on this kernel with a
/// real process holding registered memory (<see cref="UffdHolder"/>), and the liveness probe and descriptor checks
/// built on those answers.
/// </summary>
public sealed class UffdDeathTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly ScratchDirectory _dir = new("ud");

    public void Dispose() => _dir.Dispose();

    /// <summary>Starts a holder and receives its pid and uffd the way the daemon receives a task's.</summary>
    private async Task<(UffdHolder Holder, SafeFdHandle Uffd)> ReceiveAsync(UffdHolderMode mode, ulong pages = 8)
    {
        var path = Path.Combine(_dir.Path, "h.sock");
        using var listener = UnixSocket.Listen(path);
        var accepted = Task.Run(() =>
        {
            var connection = UnixSocket.Accept(listener, Bound);
            using (connection)
            {
                var word = new byte[4];
                UnixSocket.ReceiveExactly(connection, word, Bound);
                return UnixSocket.ReceiveFd(connection, Bound);
            }
        });
        var holder = await UffdHolder.StartAsync(path, pages, mode, Bound);
        return (holder, await accepted.WaitAsync(Bound));
    }

    [SkippableFact]
    public async Task A_dead_task_answers_ESRCH_to_ZEROPAGE_and_COPY_and_ENOMEM_to_UNREGISTER_whatever_the_address()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var (holder, handle) = await ReceiveAsync(UffdHolderMode.Registered);
        using (holder)
        using (var uffd = UserFaultFd.FromHandle(handle))
        {
            var unmapped = LivenessProbe.HighCandidate;
            var page = Marshal.AllocHGlobal(2 * (int)PageGeometry.PageSize);
            try
            {
                // Alive: nothing there is ENOENT, a registered missing page takes a zero page, a copy across the region's
                // end copies nothing (ENOENT), UNREGISTER of nothing is refused but does not say ENOMEM.
                Assert.Equal(Errno.ENOENT, uffd.ZeroPage(unmapped, PageGeometry.PageSize).Error);
                Assert.True(uffd.ZeroPage(holder.RegionStart, PageGeometry.PageSize).IsSuccess);
                Assert.Equal(Errno.EEXIST, uffd.ZeroPage(holder.RegionStart, PageGeometry.PageSize).Error);
                var last = holder.RegionStart + ((holder.Pages - 1) * PageGeometry.PageSize);
                var across = uffd.Copy(last, page, 2 * PageGeometry.PageSize);
                Assert.Equal((Errno.ENOENT, 0L), (across.Error, across.Bytes));
                var alive = Assert.Throws<LinuxException>(() => uffd.Unregister(unmapped, PageGeometry.PageSize));
                Assert.NotEqual(Errno.ENOMEM, alive.Errno);

                holder.Kill();
                Assert.True(holder.HasExited);

                Assert.Equal(Errno.ESRCH, uffd.ZeroPage(unmapped, PageGeometry.PageSize).Error);
                Assert.Equal(Errno.ESRCH, uffd.ZeroPage(holder.RegionStart + PageGeometry.PageSize, PageGeometry.PageSize).Error);
                Assert.Equal(Errno.ESRCH, uffd.Copy(holder.RegionStart + PageGeometry.PageSize, page, PageGeometry.PageSize).Error);
                Assert.Equal(Errno.ENOMEM, Assert.Throws<LinuxException>(() => uffd.Unregister(unmapped, PageGeometry.PageSize)).Errno);
                Assert.Equal(0, uffd.ReadMessages(new UffdMsg[4])); // no exit event, no error: just nothing to read
            }
            finally
            {
                Marshal.FreeHGlobal(page);
            }
        }
    }

    [SkippableFact]
    public async Task The_liveness_probe_finds_a_killed_task_gone_and_a_live_one_alive_without_touching_its_pending_pages()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var (holder, handle) = await ReceiveAsync(UffdHolderMode.Registered);
        using (holder)
        using (var uffd = new UserFaultFdAdapter(handle))
        {
            var book = new TaskRangeBook();
            book.AddLazy(holder.RegionStart, holder.RegionStart + (holder.Pages * PageGeometry.PageSize), holder.RegionStart);
            var probe = new LivenessProbe(uffd, book);

            Assert.Equal(LivenessOutcome.Alive, probe.Probe());
            Assert.Equal(LivenessOutcome.Alive, probe.Probe());

            // The probe left every pending page missing: each still takes a zero page (it would be EEXIST otherwise).
            for (ulong p = 0; p < holder.Pages; p++)
            {
                Assert.True(uffd.ZeroPage(holder.RegionStart + (p * PageGeometry.PageSize), PageGeometry.PageSize).IsSuccess, $"page {p} was already there");
            }

            holder.Kill();
            var gone = probe.Probe();
            Assert.NotNull(gone.Gone);
            Assert.Contains("ESRCH", gone.Gone);
        }
    }

    [SkippableFact]
    public async Task A_received_descriptor_is_told_apart_userfaultfd_with_its_features_one_never_given_UFFDIO_API_and_a_pipe()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var (holder, registered) = await ReceiveAsync(UffdHolderMode.Registered);
        using (holder)
        using (registered)
        {
            var state = UffdDescriptor.Inspect(registered);
            Assert.True(state.IsUserfaultfd);
            Assert.True(state.ApiDone);
            Assert.Null(state.Problem);
            Assert.Equal(UserFaultFd.ProbeFeatures() & UffdFeatures.NonCooperative, state.Features);
            Assert.True(state.ReportsMemoryChanges);
        }

        var (noApiHolder, noApi) = await ReceiveAsync(UffdHolderMode.NoApi);
        using (noApiHolder)
        using (noApi)
        {
            var state = UffdDescriptor.Inspect(noApi);
            Assert.True(state.IsUserfaultfd);
            Assert.False(state.ApiDone);
            Assert.Contains("never given UFFDIO_API", state.Problem);
        }

        var (read, write) = ReadinessSignal.CreateInheritablePipe();
        using (read)
        {
            ReadinessSignal.Close(write);
            var state = UffdDescriptor.Inspect(read);
            Assert.False(state.IsUserfaultfd);
            Assert.StartsWith("pipe:[", state.Kind);
            Assert.Contains("not a userfaultfd (it is pipe:[", state.Problem);
        }
    }
}
