/*
 * fork_task.c - the restore simulator's "task that forks after registration" (LazyActors).
 *
 * .NET cannot fork a running runtime safely, so this one scenario runs as a small C program that the
 * simulator compiles with `cc` at run time. It behaves like a task restored by `criu restore --lazy-pages`:
 *   1. create a userfaultfd (O_CLOEXEC|O_NONBLOCK), UFFDIO_API with FORK|REMAP|REMOVE|UNMAP (0x4E) masked by
 *      what the kernel supports;
 *   2. map every lazy-capable VMA of the plan at its dump address (MAP_FIXED_NOREPLACE; exit 3 on a collision
 *      so the simulator retries in a fresh process), fill the eager pages, apply the VMA protection,
 *      register each VMA in MISSING mode;
 *   3. hand the uffd to the simulator over its control socket (frame READY + 1 byte with SCM_RIGHTS), wait for
 *      HANDED and close its own copy (as CRIU's restorer does), then wait for GO;
 *   4. fork(); parent and child both touch every readable page (seq or rand order), time each first touch,
 *      verify all bytes against the expected-content file and print one "result" line each on stdout.
 * The parent reaps the child (killing it when the plan's timeout passes). SIGALRM bounds every process.
 *
 * Plan file (text, one directive per line):
 *   ctl PATH | expected PATH | pid N | touch seq|rand|none | timeout_ms N | seed N
 *   vma START END PROT OFFSET      (hex START/END, decimal PROT, decimal byte OFFSET into the expected file)
 *   eager ADDR NPAGES OFFSET       (hex ADDR, pages to fill before registration from the expected file)
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PAGE 4096UL
#define MAX_VMAS 256
#define MAX_EAGER 4096

enum { FRAME_READY = 1, FRAME_HANDED = 2, FRAME_GO = 3, FRAME_ERROR = 5 };

struct vma { uint64_t start, end; int prot; uint64_t offset; };
struct eager { uint64_t addr, pages, offset; };

static struct vma vmas[MAX_VMAS];
static int nr_vmas;
static struct eager eagers[MAX_EAGER];
static int nr_eagers;
static char ctl_path[4096], expected_path[4096], touch_mode[16] = "seq";
static int image_pid;
static long timeout_ms = 60000;
static unsigned long seed = 1;
static const char *role = "parent";
static volatile uint64_t touched_pages;
static volatile pid_t forked_child;

static void die(const char *what)
{
    fprintf(stderr, "fork_task: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void on_alarm(int sig)
{
    char buf[160];
    (void)sig;
    int n = snprintf(buf, sizeof buf, "timeout role=%s touched=%llu\n", role, (unsigned long long)touched_pages);
    if (n > 0)
        (void)!write(1, buf, (size_t)n);
    if (forked_child > 0) {
        kill(forked_child, SIGKILL);
        waitpid(forked_child, NULL, 0);
    }
    _exit(4);
}

static void parse_plan(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    if (!f)
        die("open plan");
    while (fgets(line, sizeof line, f)) {
        unsigned long long a, b, c;
        int prot;
        if (sscanf(line, "vma %llx %llx %d %llu", &a, &b, &prot, &c) == 4 && nr_vmas < MAX_VMAS)
            vmas[nr_vmas++] = (struct vma){ a, b, prot, c };
        else if (sscanf(line, "eager %llx %llu %llu", &a, &b, &c) == 3 && nr_eagers < MAX_EAGER)
            eagers[nr_eagers++] = (struct eager){ a, b, c };
        else if (sscanf(line, "ctl %4095s", ctl_path) == 1) {}
        else if (sscanf(line, "expected %4095s", expected_path) == 1) {}
        else if (sscanf(line, "pid %d", &image_pid) == 1) {}
        else if (sscanf(line, "touch %15s", touch_mode) == 1) {}
        else if (sscanf(line, "timeout_ms %ld", &timeout_ms) == 1) {}
        else if (sscanf(line, "seed %lu", &seed) == 1) {}
    }
    fclose(f);
}

static void write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("write control socket");
        p += n;
        len -= (size_t)n;
    }
}

static void read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            fprintf(stderr, "fork_task: control socket closed by the simulator\n");
            exit(2);
        }
        if (n < 0)
            die("read control socket");
        p += n;
        len -= (size_t)n;
    }
}

static void expect_frame(int fd, uint32_t type)
{
    uint32_t hdr[2];
    char skip[256];
    read_all(fd, hdr, sizeof hdr);
    if (hdr[1] > sizeof skip) {
        fprintf(stderr, "fork_task: oversized control frame\n");
        exit(2);
    }
    read_all(fd, skip, hdr[1]);
    if (hdr[0] != type) {
        fprintf(stderr, "fork_task: expected control frame %u, got %u\n", type, hdr[0]);
        exit(2);
    }
}

static void send_uffd(int sock, int uffd)
{
    uint32_t hdr[3] = { FRAME_READY, 4, (uint32_t)image_pid };
    char byte = 0, cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { &byte, 1 };
    struct msghdr msg = { 0 };
    struct cmsghdr *cm;

    write_all(sock, hdr, sizeof hdr);
    memset(cbuf, 0, sizeof cbuf);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &uffd, sizeof(int));
    if (sendmsg(sock, &msg, 0) != 1)
        die("sendmsg uffd");
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Touch every readable page, time first touches, verify against the expected file, print one result line. */
static int touch_and_verify(const unsigned char *expected)
{
    uint64_t total = 0, i, k, verified = 0, mismatches = 0, first_bad = 0, t0, t1, state;
    uint64_t *addrs, *offs, *lat;
    int v;

    for (v = 0; v < nr_vmas; v++)
        if (vmas[v].prot & PROT_READ)
            total += (vmas[v].end - vmas[v].start) / PAGE;
    addrs = calloc(total ? total : 1, sizeof *addrs);
    offs = calloc(total ? total : 1, sizeof *offs);
    lat = calloc(total ? total : 1, sizeof *lat);
    if (!addrs || !offs || !lat)
        die("calloc");
    for (v = 0, k = 0; v < nr_vmas; v++) {
        if (!(vmas[v].prot & PROT_READ))
            continue;
        for (i = vmas[v].start; i < vmas[v].end; i += PAGE, k++) {
            addrs[k] = i;
            offs[k] = vmas[v].offset + (i - vmas[v].start);
        }
    }
    state = seed * 2654435761ull + (uint64_t)getpid() + 1;
    if (strcmp(touch_mode, "rand") == 0) {
        for (k = total; k > 1; k--) {
            uint64_t j = rng_next(&state) % k, ta = addrs[k - 1], to = offs[k - 1];
            addrs[k - 1] = addrs[j];
            offs[k - 1] = offs[j];
            addrs[j] = ta;
            offs[j] = to;
        }
    }
    t0 = now_ns();
    if (strcmp(touch_mode, "none") != 0) {
        for (k = 0; k < total; k++) {
            uint64_t s = now_ns();
            (void)*(volatile const unsigned char *)(uintptr_t)addrs[k];
            lat[k] = now_ns() - s;
            touched_pages = k + 1;
        }
    }
    t1 = now_ns();
    for (k = 0; k < total; k++) {
        if (memcmp((const void *)(uintptr_t)addrs[k], expected + offs[k], PAGE) == 0) {
            verified += PAGE;
        } else {
            if (!mismatches)
                first_bad = addrs[k];
            mismatches++;
        }
    }
    qsort(lat, total, sizeof *lat, cmp_u64);
    printf("result role=%s ospid=%d pages=%llu touch_ns=%llu p50_ns=%llu p99_ns=%llu max_ns=%llu bytes_verified=%llu mismatches=%llu first_mismatch=0x%llx\n",
           role, getpid(), (unsigned long long)total, (unsigned long long)(t1 - t0),
           (unsigned long long)(total ? lat[total / 2] : 0),
           (unsigned long long)(total ? lat[(total * 99) / 100 < total ? (total * 99) / 100 : total - 1] : 0),
           (unsigned long long)(total ? lat[total - 1] : 0), (unsigned long long)verified,
           (unsigned long long)mismatches, (unsigned long long)first_bad);
    fflush(stdout);
    return mismatches ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct uffdio_api api = { .api = UFFD_API, .features = 0 };
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    const unsigned char *expected;
    struct stat st;
    int probe, uffd, sock, efd, v, rc, status;
    uint64_t supported, e;
    pid_t child;

    if (argc != 2) {
        fprintf(stderr, "usage: fork_task PLAN\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    parse_plan(argv[1]);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)((timeout_ms + 999) / 1000));

    efd = open(expected_path, O_RDONLY | O_CLOEXEC);
    if (efd < 0 || fstat(efd, &st) < 0)
        die("open expected-content file");
    expected = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, efd, 0) : (void *)"";
    if (expected == MAP_FAILED)
        die("mmap expected-content file");

    probe = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (probe < 0 || ioctl(probe, UFFDIO_API, &api) < 0)
        die("userfaultfd probe");
    supported = api.features;
    close(probe);
    uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (uffd < 0)
        die("userfaultfd");
    api.api = UFFD_API;
    api.features = supported & 0x4E;
    if (ioctl(uffd, UFFDIO_API, &api) < 0)
        die("UFFDIO_API");

    for (v = 0; v < nr_vmas; v++) {
        size_t len = vmas[v].end - vmas[v].start;
        void *p = mmap((void *)(uintptr_t)vmas[v].start, len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p == MAP_FAILED || (uintptr_t)p != vmas[v].start) {
            fprintf(stderr, "collision: cannot map 0x%llx-0x%llx at its dump address: %s\n",
                    (unsigned long long)vmas[v].start, (unsigned long long)vmas[v].end, strerror(errno));
            return 3;
        }
    }
    for (e = 0; e < (uint64_t)nr_eagers; e++)
        memcpy((void *)(uintptr_t)eagers[e].addr, expected + eagers[e].offset, eagers[e].pages * PAGE);
    for (v = 0; v < nr_vmas; v++) {
        struct uffdio_register reg = { .range = { vmas[v].start, vmas[v].end - vmas[v].start },
                                       .mode = UFFDIO_REGISTER_MODE_MISSING };
        if (mprotect((void *)(uintptr_t)vmas[v].start, vmas[v].end - vmas[v].start, vmas[v].prot) < 0)
            die("mprotect");
        if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
            die("UFFDIO_REGISTER");
    }

    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        die("socket");
    if (strlen(ctl_path) >= sizeof sa.sun_path) {
        fprintf(stderr, "fork_task: control socket path too long: %s\n", ctl_path);
        return 2;
    }
    memcpy(sa.sun_path, ctl_path, strlen(ctl_path) + 1);
    if (connect(sock, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("connect control socket");
    send_uffd(sock, uffd);
    expect_frame(sock, FRAME_HANDED);
    close(uffd); /* the daemon now holds the only reference, as after CRIU's restorer */
    expect_frame(sock, FRAME_GO);

    child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        role = "child";
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the task that forked us */
        if (getppid() == 1)
            _exit(6);
        alarm((unsigned)((timeout_ms + 999) / 1000));
        _exit(touch_and_verify(expected));
    }
    forked_child = child;
    rc = touch_and_verify(expected);
    for (;;) {
        pid_t w = waitpid(child, &status, 0);
        if (w == child)
            break;
        if (w < 0 && errno != EINTR)
            die("waitpid");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        rc = rc ? rc : (WIFEXITED(status) ? WEXITSTATUS(status) : 5);
    close(sock);
    return rc;
}
