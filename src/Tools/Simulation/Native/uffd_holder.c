/*
 * uffd_holder.c - a process that holds memory behind a userfaultfd and hands the uffd over (LazyActors).
 *
 * Tests of what the kernel answers about a restored task that dies (the daemon's liveness probe, the uffd checks)
 * need a uffd whose memory belongs to a process they can kill. This helper is that process:
 *   1. create a userfaultfd (O_CLOEXEC|O_NONBLOCK) and, unless MODE is "noapi", give it UFFDIO_API with
 *      FORK|REMAP|REMOVE|UNMAP (what criu restore asks for) masked by what the kernel supports;
 *   2. map PAGES anonymous private pages anywhere and, unless MODE is "noapi" or "unregistered", register them in
 *      MISSING mode;
 *   3. connect to the UNIX socket SOCKET and send, as criu restore does per task, its pid (int32) and then the uffd
 *      (1 data byte with SCM_RIGHTS);
 *   4. print "region 0x<start> <pages>" on stdout, close its own copy of the uffd and sleep until a signal ends it
 *      (SIGTERM: exit 0; SIGKILL: the test's way to make the task die mid-restore). SIGALRM bounds it at 120 s.
 *
 * Mode "peer" makes no uffd and maps nothing: it only connects and sends its pid (a bare peer, for tests of who may
 * connect; run it as another user).
 *
 * Usage: uffd_holder SOCKET PAGES [registered|unregistered|noapi|peer]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define PAGE 4096UL

static void die(const char *what)
{
    fprintf(stderr, "uffd_holder: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void send_all(int sock, const void *data, size_t length)
{
    const char *p = data;
    while (length > 0) {
        ssize_t n = send(sock, p, length, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("send");
        }
        p += n;
        length -= (size_t)n;
    }
}

static void send_fd(int sock, int fd)
{
    char byte = 0;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union {
        char buffer[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer, .msg_controllen = sizeof control.buffer };
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(header), &fd, sizeof(int));
    while (sendmsg(sock, &message, MSG_NOSIGNAL) < 0) {
        if (errno != EINTR)
            die("sendmsg(SCM_RIGHTS)");
    }
}

static void on_term(int signal)
{
    (void)signal;
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: uffd_holder SOCKET PAGES [registered|unregistered|noapi]\n");
        return 2;
    }

    const char *mode = argc == 4 ? argv[3] : "registered";
    int peer = strcmp(mode, "peer") == 0;
    int api = strcmp(mode, "noapi") != 0 && !peer;
    int registered = strcmp(mode, "registered") == 0;
    if (!registered && !peer && api && strcmp(mode, "unregistered") != 0) {
        fprintf(stderr, "uffd_holder: unknown mode %s\n", mode);
        return 2;
    }

    unsigned long pages = strtoul(argv[2], NULL, 10);
    if (pages > (1UL << 20) || (pages == 0 && !peer)) {
        fprintf(stderr, "uffd_holder: PAGES must be 1..1048576\n");
        return 2;
    }

    signal(SIGTERM, on_term);
    alarm(120);

    int uffd = peer ? -1 : (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (uffd < 0 && !peer)
        die("userfaultfd");

    if (api) {
        struct uffdio_api probe = { .api = UFFD_API, .features = 0 };
        int scratch = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
        if (scratch < 0 || ioctl(scratch, UFFDIO_API, &probe) < 0)
            die("UFFDIO_API probe");
        close(scratch);
        unsigned long long wanted = UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP;
        struct uffdio_api request = { .api = UFFD_API, .features = wanted & probe.features };
        if (ioctl(uffd, UFFDIO_API, &request) < 0)
            die("UFFDIO_API");
    }

    void *region = NULL;
    if (!peer) {
        region = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (region == MAP_FAILED)
            die("mmap");
    }

    if (registered) {
        struct uffdio_register request = { .range = { .start = (uintptr_t)region, .len = pages * PAGE }, .mode = UFFDIO_REGISTER_MODE_MISSING };
        if (ioctl(uffd, UFFDIO_REGISTER, &request) < 0)
            die("UFFDIO_REGISTER");
    }

    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        die("socket");
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    if (strlen(argv[1]) >= sizeof address.sun_path) {
        fprintf(stderr, "uffd_holder: socket path too long\n");
        return 2;
    }
    strcpy(address.sun_path, argv[1]);
    if (connect(sock, (struct sockaddr *)&address, sizeof address) < 0)
        die("connect");

    int32_t pid = (int32_t)getpid();
    if (peer) {
        /* A daemon that refuses this peer may close the connection before the word goes out (EPIPE, ECONNRESET):
         * being refused is what a bare peer is for, so that is no failure of ours. */
        if (send(sock, &pid, sizeof pid, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
            die("send");
    } else {
        send_all(sock, &pid, sizeof pid);
    }
    if (!peer) {
        send_fd(sock, uffd);
        close(uffd);
    }

    printf("region 0x%lx %lu\n", (unsigned long)(uintptr_t)region, pages);
    fflush(stdout);
    for (;;)
        pause();
}
