using System.Runtime.InteropServices;
using System.Text;
using LazyActors.Engine.Interop;
using LazyActors.Testing;
using Xunit;

namespace LazyActors.Engine.Tests.Interop;

/// <summary>
/// Compiles a C file of static assertions built from the managed constants and layouts against the system headers,
/// so any disagreement between our structs/numbers and &lt;linux/userfaultfd.h&gt;, &lt;sys/epoll.h&gt;,
/// &lt;sys/socket.h&gt; etc. fails compilation.
/// </summary>
public sealed class NativeHeaderTests
{
    private static int Off<T>(string field) => (int)Marshal.OffsetOf<T>(field);

    [SkippableFact]
    public async Task ManagedLayoutsAndConstants_MatchSystemHeaders()
    {
        var cc = FindCompiler();
        Skip.If(cc is null, "No C compiler ('cc') on PATH; cannot check layouts against the system headers.");

        var c = new StringBuilder();
        c.AppendLine("#define _GNU_SOURCE");
        foreach (var header in new[] { "stddef.h", "errno.h", "fcntl.h", "poll.h", "sys/epoll.h", "sys/eventfd.h", "sys/ioctl.h", "sys/mman.h", "sys/socket.h", "sys/un.h", "linux/userfaultfd.h" })
        {
            c.AppendLine($"#include <{header}>");
        }

        var n = 0;
        void Check(string expr, long expected) => c.AppendLine($"_Static_assert(({expr}) == {expected}L, \"{expr.Replace("\"", "'", StringComparison.Ordinal)} != {expected}\"); /* {n++} */");
        void CheckU(string expr, ulong expected) => c.AppendLine($"_Static_assert((unsigned long)({expr}) == {expected}UL, \"{expr} != 0x{expected:x}\"); /* {n++} */");

        Check("sizeof(struct uffd_msg)", UffdMsg.Size);
        Check("offsetof(struct uffd_msg, event)", Off<UffdMsg>(nameof(UffdMsg.Event)));
        Check("offsetof(struct uffd_msg, arg.pagefault.flags)", Off<UffdMsg>(nameof(UffdMsg.PagefaultFlags)));
        Check("offsetof(struct uffd_msg, arg.pagefault.address)", Off<UffdMsg>(nameof(UffdMsg.PagefaultAddress)));
        Check("offsetof(struct uffd_msg, arg.pagefault.feat.ptid)", Off<UffdMsg>(nameof(UffdMsg.PagefaultPtid)));
        Check("offsetof(struct uffd_msg, arg.fork.ufd)", Off<UffdMsg>(nameof(UffdMsg.ForkUfd)));
        Check("offsetof(struct uffd_msg, arg.remap.from)", Off<UffdMsg>(nameof(UffdMsg.RemapFrom)));
        Check("offsetof(struct uffd_msg, arg.remap.to)", Off<UffdMsg>(nameof(UffdMsg.RemapTo)));
        Check("offsetof(struct uffd_msg, arg.remap.len)", Off<UffdMsg>(nameof(UffdMsg.RemapLength)));
        Check("offsetof(struct uffd_msg, arg.remove.start)", Off<UffdMsg>(nameof(UffdMsg.RemoveStart)));
        Check("offsetof(struct uffd_msg, arg.remove.end)", Off<UffdMsg>(nameof(UffdMsg.RemoveEnd)));

        Check("sizeof(struct uffdio_api)", UffdioApi.Size);
        Check("offsetof(struct uffdio_api, features)", Off<UffdioApi>(nameof(UffdioApi.Features)));
        Check("offsetof(struct uffdio_api, ioctls)", Off<UffdioApi>(nameof(UffdioApi.Ioctls)));
        Check("sizeof(struct uffdio_range)", UffdioRange.Size);
        Check("offsetof(struct uffdio_range, len)", Off<UffdioRange>(nameof(UffdioRange.Length)));
        Check("sizeof(struct uffdio_register)", UffdioRegister.Size);
        Check("offsetof(struct uffdio_register, mode)", Off<UffdioRegister>(nameof(UffdioRegister.Mode)));
        Check("offsetof(struct uffdio_register, ioctls)", Off<UffdioRegister>(nameof(UffdioRegister.Ioctls)));
        Check("sizeof(struct uffdio_copy)", UffdioCopy.Size);
        Check("offsetof(struct uffdio_copy, src)", Off<UffdioCopy>(nameof(UffdioCopy.Source)));
        Check("offsetof(struct uffdio_copy, len)", Off<UffdioCopy>(nameof(UffdioCopy.Length)));
        Check("offsetof(struct uffdio_copy, mode)", Off<UffdioCopy>(nameof(UffdioCopy.Mode)));
        Check("offsetof(struct uffdio_copy, copy)", Off<UffdioCopy>(nameof(UffdioCopy.Copy)));
        Check("sizeof(struct uffdio_zeropage)", UffdioZeropage.Size);
        Check("offsetof(struct uffdio_zeropage, mode)", Off<UffdioZeropage>(nameof(UffdioZeropage.Mode)));
        Check("offsetof(struct uffdio_zeropage, zeropage)", Off<UffdioZeropage>(nameof(UffdioZeropage.Zeropage)));

        CheckU("UFFD_API", UffdIoctls.ApiVersion);
        CheckU("UFFDIO_API", UffdIoctls.UFFDIO_API);
        CheckU("UFFDIO_REGISTER", UffdIoctls.UFFDIO_REGISTER);
        CheckU("UFFDIO_UNREGISTER", UffdIoctls.UFFDIO_UNREGISTER);
        CheckU("UFFDIO_WAKE", UffdIoctls.UFFDIO_WAKE);
        CheckU("UFFDIO_COPY", UffdIoctls.UFFDIO_COPY);
        CheckU("UFFDIO_ZEROPAGE", UffdIoctls.UFFDIO_ZEROPAGE);
        CheckU("USERFAULTFD_IOC_NEW", UffdIoctls.USERFAULTFD_IOC_NEW);
        CheckU("(1UL << _UFFDIO_WAKE) | (1UL << _UFFDIO_COPY) | (1UL << _UFFDIO_ZEROPAGE)", UffdIoctls.LazyPagesRangeIoctls);
        CheckU("UFFDIO_COPY_MODE_DONTWAKE", UffdioCopy.ModeDontWake);
        CheckU("UFFDIO_ZEROPAGE_MODE_DONTWAKE", UffdioZeropage.ModeDontWake);
        CheckU("UFFDIO_REGISTER_MODE_MISSING", (ulong)LazyActors.Engine.Uffd.RegisterMode.Missing);
        CheckU("UFFDIO_REGISTER_MODE_WP", (ulong)LazyActors.Engine.Uffd.RegisterMode.WriteProtect);
        CheckU("UFFDIO_REGISTER_MODE_MINOR", (ulong)LazyActors.Engine.Uffd.RegisterMode.Minor);
        CheckU("UFFD_FEATURE_EVENT_FORK", UffdFeatures.EventFork);
        CheckU("UFFD_FEATURE_EVENT_REMAP", UffdFeatures.EventRemap);
        CheckU("UFFD_FEATURE_EVENT_REMOVE", UffdFeatures.EventRemove);
        CheckU("UFFD_FEATURE_EVENT_UNMAP", UffdFeatures.EventUnmap);
        CheckU("UFFD_FEATURE_MISSING_SHMEM", UffdFeatures.MissingShmem);
        CheckU("UFFD_FEATURE_THREAD_ID", UffdFeatures.ThreadId);
        Check("UFFD_EVENT_PAGEFAULT", (byte)UffdEvent.Pagefault);
        Check("UFFD_EVENT_FORK", (byte)UffdEvent.Fork);
        Check("UFFD_EVENT_REMAP", (byte)UffdEvent.Remap);
        Check("UFFD_EVENT_REMOVE", (byte)UffdEvent.Remove);
        Check("UFFD_EVENT_UNMAP", (byte)UffdEvent.Unmap);

        Check("sizeof(struct epoll_event)", EpollEvent.Size);
        Check("offsetof(struct epoll_event, data)", Off<EpollEvent>(nameof(EpollEvent.Data)));
        Check("EPOLLIN", (long)EpollFlags.EPOLLIN);
        Check("EPOLLERR", (long)EpollFlags.EPOLLERR);
        Check("EPOLLHUP", (long)EpollFlags.EPOLLHUP);
        Check("EPOLLRDHUP", (long)EpollFlags.EPOLLRDHUP);
        Check("EPOLLONESHOT", (long)EpollFlags.EPOLLONESHOT);
        Check("EPOLL_CTL_ADD", Libc.EPOLL_CTL_ADD);
        Check("EPOLL_CTL_MOD", Libc.EPOLL_CTL_MOD);
        Check("EPOLL_CTL_DEL", Libc.EPOLL_CTL_DEL);
        Check("EPOLL_CLOEXEC", Libc.EPOLL_CLOEXEC);
        Check("EFD_CLOEXEC", Libc.EFD_CLOEXEC);
        Check("EFD_NONBLOCK", Libc.EFD_NONBLOCK);

        Check("sizeof(struct pollfd)", PollFd.Size);
        Check("offsetof(struct pollfd, revents)", Off<PollFd>(nameof(PollFd.REvents)));
        Check("POLLIN", PollFd.POLLIN);
        Check("POLLHUP", PollFd.POLLHUP);

        Check("sizeof(struct iovec)", Iovec.Size);
        Check("offsetof(struct iovec, iov_len)", Off<Iovec>(nameof(Iovec.Length)));
        Check("sizeof(struct msghdr)", Msghdr.Size);
        Check("offsetof(struct msghdr, msg_namelen)", Off<Msghdr>(nameof(Msghdr.NameLength)));
        Check("offsetof(struct msghdr, msg_iov)", Off<Msghdr>(nameof(Msghdr.Iov)));
        Check("offsetof(struct msghdr, msg_iovlen)", Off<Msghdr>(nameof(Msghdr.IovLength)));
        Check("offsetof(struct msghdr, msg_control)", Off<Msghdr>(nameof(Msghdr.Control)));
        Check("offsetof(struct msghdr, msg_controllen)", Off<Msghdr>(nameof(Msghdr.ControlLength)));
        Check("offsetof(struct msghdr, msg_flags)", Off<Msghdr>(nameof(Msghdr.Flags)));
        Check("sizeof(struct ucred)", Ucred.Size);
        Check("offsetof(struct ucred, uid)", Off<Ucred>(nameof(Ucred.Uid)));
        Check("offsetof(struct ucred, gid)", Off<Ucred>(nameof(Ucred.Gid)));
        Check("SO_PEERCRED", SocketConstants.SO_PEERCRED);
        Check("sizeof(struct cmsghdr)", Cmsghdr.Size);
        Check("offsetof(struct cmsghdr, cmsg_level)", Off<Cmsghdr>(nameof(Cmsghdr.Level)));
        Check("offsetof(struct cmsghdr, cmsg_type)", Off<Cmsghdr>(nameof(Cmsghdr.Type)));
        Check("CMSG_SPACE(sizeof(int))", Cmsg.Space(sizeof(int)));
        Check("CMSG_LEN(sizeof(int))", Cmsg.Len(sizeof(int)));
        Check("CMSG_SPACE(3 * sizeof(int))", Cmsg.Space(3 * sizeof(int)));
        Check("sizeof(struct sockaddr_un)", SockaddrUn.Size);
        Check("offsetof(struct sockaddr_un, sun_path)", SockaddrUn.PathOffset);
        Check("sizeof(((struct sockaddr_un *)0)->sun_path)", SockaddrUn.PathCapacity);
        Check("AF_UNIX", SocketConstants.AF_UNIX);
        Check("SOCK_STREAM", SocketConstants.SOCK_STREAM);
        Check("SOCK_CLOEXEC", SocketConstants.SOCK_CLOEXEC);
        Check("SOCK_NONBLOCK", SocketConstants.SOCK_NONBLOCK);
        Check("SOL_SOCKET", SocketConstants.SOL_SOCKET);
        Check("SCM_RIGHTS", SocketConstants.SCM_RIGHTS);
        Check("MSG_CTRUNC", SocketConstants.MSG_CTRUNC);
        Check("MSG_NOSIGNAL", SocketConstants.MSG_NOSIGNAL);
        Check("MSG_CMSG_CLOEXEC", SocketConstants.MSG_CMSG_CLOEXEC);
        Check("MSG_DONTWAIT", SocketConstants.MSG_DONTWAIT);

        Check("O_NONBLOCK", OpenFlags.O_NONBLOCK);
        Check("O_CLOEXEC", OpenFlags.O_CLOEXEC);
        Check("O_RDWR", OpenFlags.O_RDWR);
        Check("MAP_PRIVATE", (long)MapFlags.MAP_PRIVATE);
        Check("MAP_ANONYMOUS", (long)MapFlags.MAP_ANONYMOUS);
        Check("MAP_FIXED", (long)MapFlags.MAP_FIXED);
        Check("MAP_FIXED_NOREPLACE", (long)MapFlags.MAP_FIXED_NOREPLACE);
        Check("PROT_READ | PROT_WRITE", (long)(ProtFlags.PROT_READ | ProtFlags.PROT_WRITE));
        Check("MADV_DONTNEED", (long)MadviseAdvice.MADV_DONTNEED);
        Check("MADV_REMOVE", (long)MadviseAdvice.MADV_REMOVE);
        Check("MREMAP_MAYMOVE", (long)MremapFlags.MREMAP_MAYMOVE);
        Check("MREMAP_FIXED", (long)MremapFlags.MREMAP_FIXED);
        Check("MREMAP_DONTUNMAP", (long)MremapFlags.MREMAP_DONTUNMAP);

        foreach (var errno in Enum.GetValues<Errno>().Where(e => e != Errno.None))
        {
            Check(errno.ToString(), (long)errno);
        }

        var dir = Directory.CreateTempSubdirectory("lazyactors-layout-");
        try
        {
            var source = Path.Combine(dir.FullName, "layout_check.c");
            await File.WriteAllTextAsync(source, c.ToString());
            var (exitCode, stdout, stderr) = await VerbProcess.RunAsync([cc!], TimeSpan.FromSeconds(60), "-std=c11", "-Wall", "-Werror", "-c", source, "-o", Path.Combine(dir.FullName, "layout_check.o"));
            var output = stdout + stderr;
            Assert.True(exitCode == 0, $"Static assertions against the system headers failed ({n} checks):\n{output}");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static string? FindCompiler()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "cc"))
            .FirstOrDefault(File.Exists);
    }
}
