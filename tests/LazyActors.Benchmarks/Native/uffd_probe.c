/*
 * Reference C probe of the same limits the `bench` command measures in C# (see docs/benchmarks.md):
 *   1. UFFDIO_COPY bandwidth into a never-touched anonymous region registered MISSING, for chunk sizes of
 *      4 KiB, 64 KiB, 1 MiB and 4 MiB, from one pre-faulted source buffer of the chunk's size;
 *   2. the in-process fault round trip: a handler thread poll()s the userfaultfd, reads the uffd_msg and answers
 *      with UFFDIO_COPY of 4 KiB while the main thread touches pages one by one (p50/p99/max per pass).
 * Build and run:  cc -O2 -pthread -o /tmp/uffd_probe uffd_probe.c && /tmp/uffd_probe [region_mib] [faults]
 * Used only to check that the C# probes are not distorted by the runtime; not part of the build.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int new_uffd(void)
{
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) { perror("userfaultfd"); exit(1); }
    struct uffdio_api api = { .api = UFFD_API, .features = 0 };
    if (ioctl(fd, UFFDIO_API, &api)) { perror("UFFDIO_API"); exit(1); }
    return fd;
}

static void register_missing(int fd, void *addr, size_t len)
{
    struct uffdio_register reg = { .range = { (unsigned long)addr, len }, .mode = UFFDIO_REGISTER_MODE_MISSING };
    if (ioctl(fd, UFFDIO_REGISTER, &reg)) { perror("UFFDIO_REGISTER"); exit(1); }
}

static void *map_anon(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(1); }
    return p;
}

static double bandwidth(size_t chunk, size_t region)
{
    char *src = map_anon(chunk);
    for (size_t i = 0; i < chunk; i += PAGE) memset(src + i, 0xA5 ^ (int)(i / PAGE), PAGE);
    int fd = new_uffd();
    char *dst = map_anon(region);
    register_missing(fd, dst, region);
    double t0 = now_s();
    for (size_t off = 0; off < region; off += chunk) {
        struct uffdio_copy c = { .dst = (unsigned long)dst + off, .src = (unsigned long)src, .len = chunk, .mode = 0 };
        if (ioctl(fd, UFFDIO_COPY, &c) || c.copy != (long)chunk) { perror("UFFDIO_COPY"); exit(1); }
    }
    double t = now_s() - t0;
    munmap(dst, region); munmap(src, chunk); close(fd);
    return region / t / 1e9;
}

struct handler { int fd; char *src; int expected; };

static void *serve(void *arg)
{
    struct handler *h = arg;
    struct pollfd p = { .fd = h->fd, .events = POLLIN };
    struct uffd_msg msgs[16];
    int served = 0;
    while (served < h->expected) {
        if (poll(&p, 1, 1000) <= 0) { fprintf(stderr, "poll timeout\n"); exit(1); }
        ssize_t n = read(h->fd, msgs, sizeof msgs);
        if (n < 0) { if (errno == EAGAIN) continue; perror("read"); exit(1); }
        for (int i = 0; i < n / (ssize_t)sizeof msgs[0]; i++) {
            if (msgs[i].event != UFFD_EVENT_PAGEFAULT) continue;
            struct uffdio_copy c = { .dst = msgs[i].arg.pagefault.address & ~(PAGE - 1), .src = (unsigned long)h->src, .len = PAGE };
            if (ioctl(h->fd, UFFDIO_COPY, &c) && errno != EEXIST) { perror("UFFDIO_COPY"); exit(1); }
            served++;
        }
    }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void round_trip(int pages)
{
    char *src = map_anon(PAGE);
    memset(src, 0x5A, PAGE);
    int fd = new_uffd();
    volatile char *region = map_anon(pages * PAGE);
    register_missing(fd, (void *)region, pages * PAGE);
    struct handler h = { fd, src, pages };
    pthread_t t;
    pthread_create(&t, NULL, serve, &h);
    double *lat = malloc(sizeof(double) * pages);
    for (int i = 0; i < pages; i++) {
        double t0 = now_s();
        (void)region[(size_t)i * PAGE];
        lat[i] = (now_s() - t0) * 1e6;
    }
    pthread_join(t, NULL);
    qsort(lat, pages, sizeof lat[0], cmp);
    printf("round trip %d faults: p50 %.1f us  p99 %.1f us  max %.1f us\n", pages, lat[(pages + 1) / 2 - 1], lat[(pages * 99 + 99) / 100 - 1], lat[pages - 1]);
    free(lat); munmap((void *)region, pages * PAGE); munmap(src, PAGE); close(fd);
}

int main(int argc, char **argv)
{
    size_t region = (argc > 1 ? strtoul(argv[1], NULL, 10) : 256) << 20;
    int faults = argc > 2 ? atoi(argv[2]) : 4096;
    size_t chunks[] = { 4 << 10, 64 << 10, 1 << 20, 4 << 20 };
    for (int c = 0; c < 4; c++) {
        printf("UFFDIO_COPY %7zu B chunks:", chunks[c]);
        for (int r = 0; r < 3; r++) printf(" %.2f", bandwidth(chunks[c], region));
        printf(" GB/s\n");
    }
    for (int r = 0; r < 3; r++) round_trip(faults);
    return 0;
}
