// remote34: the floor of a remote restore's byte path on this machine, with nothing else in the way (no actors, no
// runtime, no protocol): a source process sends the pages file from the page cache with sendfile over C loopback
// connections (one thread each, 4 MiB pieces), the destination receives on C reader threads into a pool of 4 MiB
// buffers (2 MiB-aligned, MADV_HUGEPAGE, touched once before the clock starts, as the daemon's) and UFFDIO_COPYs them
// into a userfaultfd-registered area on K copier threads (K = 0: the reader copies what it received itself). With
// TOUCH=1 a toucher thread reads every page of the area in a random order and checks its first word while the bytes
// stream (it blocks in the kernel until UFFDIO_COPY wakes it), then compares every word: TOUCH=1 is the restored task
// of `remote-single-512m-rand`, TOUCH=4 the tree of `remote-tree-4x128-rand` (each thread its quarter).
// Prints wall time (first byte asked -> every page placed [and verified]) and CPU of both sides.
// C = 0: the local path's floor instead (K copiers UFFDIO_COPY straight from a mapping of the pages file).
// usage: [TOUCH=N] transfer-floor MiB C K        (root: userfaultfd)
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/sendfile.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <linux/userfaultfd.h>
#include <time.h>

#define CHUNK (4u << 20)
#define BUFFERS 16
#define MAXC 8

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static double cpu(int who) { struct rusage r; getrusage(who, &r); return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6; }

static size_t total, mib; static int conns, copiers, uffd, ffd; static char *dst;
static struct sockaddr_in addr;

// buffer pool and the queue of received chunks (both bounded by BUFFERS)
static char *pool[BUFFERS]; static int freeList[BUFFERS], freeCount;
static struct { int buf; size_t off; } queue[BUFFERS]; static int qHead, qCount; static size_t chunksLeft;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; static pthread_cond_t hasFree = PTHREAD_COND_INITIALIZER, hasWork = PTHREAD_COND_INITIALIZER;

static int takeBuffer(void) { pthread_mutex_lock(&lock); while (!freeCount) pthread_cond_wait(&hasFree, &lock); int b = freeList[--freeCount]; pthread_mutex_unlock(&lock); return b; }
static void giveBuffer(int b) { pthread_mutex_lock(&lock); freeList[freeCount++] = b; pthread_cond_signal(&hasFree); pthread_mutex_unlock(&lock); }

static void place(char *src, size_t off, size_t len) {
  struct uffdio_copy cp = { .dst = (unsigned long)dst + off, .src = (unsigned long)src, .len = len };
  while (ioctl(uffd, UFFDIO_COPY, &cp)) { if (errno != EAGAIN) { perror("UFFDIO_COPY"); exit(1); } cp.dst += cp.copy > 0 ? cp.copy : 0; cp.src += cp.copy > 0 ? cp.copy : 0; cp.len -= cp.copy > 0 ? cp.copy : 0; cp.copy = 0; }
}

static void *reader(void *arg) {
  (void)arg; int fd = accept(*(int *)&addr.sin_zero, NULL, NULL); int i = -1;
  if (fd < 0 || recv(fd, &i, sizeof i, MSG_WAITALL) != sizeof i || i < 0 || i >= conns) { perror("accept/index"); exit(1); }
  size_t per = total / conns, start = i * per, end = i == conns - 1 ? total : start + per;
  for (size_t off = start; off < end; off += CHUNK) {
    size_t len = end - off < CHUNK ? end - off : CHUNK; int b = takeBuffer(); size_t got = 0;
    while (got < len) { ssize_t n = recv(fd, pool[b] + got, len - got, 0); if (n <= 0) { perror("recv"); exit(1); } got += n; }
    if (!copiers) { place(pool[b], off, len); giveBuffer(b); continue; }
    pthread_mutex_lock(&lock); queue[(qHead + qCount) % BUFFERS].buf = b; queue[(qHead + qCount) % BUFFERS].off = off; qCount++;
    pthread_cond_signal(&hasWork); pthread_mutex_unlock(&lock);
  }
  close(fd); return NULL;
}

static char *fileMap; static size_t nextLocal;
static void *localCopier(void *arg) {
  (void)arg;
  for (;;) { size_t off = __atomic_fetch_add(&nextLocal, CHUNK, __ATOMIC_RELAXED); if (off >= total) return NULL; place(fileMap + off, off, total - off < CHUNK ? total - off : CHUNK); }
}

static void *copier(void *arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&lock);
    while (!qCount && chunksLeft) pthread_cond_wait(&hasWork, &lock);
    if (!chunksLeft) { pthread_mutex_unlock(&lock); return NULL; }
    int b = queue[qHead].buf; size_t off = queue[qHead].off; qHead = (qHead + 1) % BUFFERS; qCount--; chunksLeft--;
    if (!chunksLeft) pthread_cond_broadcast(&hasWork);
    pthread_mutex_unlock(&lock);
    place(pool[b], off, total - off < CHUNK ? total - off : CHUNK); giveBuffer(b);
  }
}

// TOUCH=N: N toucher threads (the restored tasks), each owning 1/N of the area: first a byte of every page in a
// random order (blocking until the page is placed), then every word of its share compared (the workload's verify)
static int touchers; static double touchedAt[8], toucherCpu[8]; static long bad;
static double threadCpu(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void *toucher(void *arg) {
  long k = (long)arg; size_t share = total / touchers, base = k * share, pages = share / 4096; uint32_t *order = malloc(pages * sizeof *order);
  for (size_t i = 0; i < pages; i++) order[i] = i;
  unsigned seed = 7 + k; for (size_t i = pages - 1; i > 0; i--) { size_t j = ((size_t)rand_r(&seed) * RAND_MAX + rand_r(&seed)) % (i + 1); uint32_t t = order[i]; order[i] = order[j]; order[j] = t; }
  double c0 = threadCpu(); long wrong = 0;
  for (size_t i = 0; i < pages; i++) { size_t off = base + (size_t)order[i] * 4096; if (*(volatile unsigned long *)(dst + off) != off + 1) wrong++; }
  for (size_t off = base; off < base + share; off += 8) if (*(unsigned long *)(dst + off) != off + 1) wrong++;
  toucherCpu[k] = threadCpu() - c0; touchedAt[k] = now(); __atomic_add_fetch(&bad, wrong, __ATOMIC_RELAXED); free(order); return NULL;
}

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: %s MiB connections copiers\n", argv[0]); return 2; }
  mib = atoi(argv[1]); total = mib << 20; conns = atoi(argv[2]); copiers = atoi(argv[3]);
  touchers = getenv("TOUCH") ? atoi(getenv("TOUCH")) : 0; int touch = touchers > 0;
  if (touchers > 8) { fprintf(stderr, "TOUCH: 0-8 toucher threads\n"); return 2; }
  if (conns < 0 || conns > MAXC || copiers < 0 || copiers > 8 || (conns == 0 && copiers == 0)) { fprintf(stderr, "0-8 connections (0: local), 0-8 copiers\n"); return 2; }
  int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1; setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  addr.sin_family = AF_INET; addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK); socklen_t al = sizeof addr;
  bind(lfd, (void *)&addr, sizeof addr); listen(lfd, MAXC); getsockname(lfd, (void *)&addr, &al);
  static char path[] = "/tmp/remote34-floorXXXXXX"; ffd = mkstemp(path); char *b = malloc(1 << 20);
  for (size_t i = 0; i < mib; i++) { for (int j = 0; j < (1 << 20); j += 8) *(unsigned long *)(b + j) = i * (1 << 20) + j + 1; if (write(ffd, b, 1 << 20) != 1 << 20) return 1; }
  fsync(ffd); unlink(path);
  { char *m = mmap(NULL, total, PROT_READ, MAP_SHARED, ffd, 0); volatile unsigned long s = 0; for (size_t i = 0; i < total; i += 4096) s += m[i]; munmap(m, total); }
  uffd = syscall(SYS_userfaultfd, O_CLOEXEC); struct uffdio_api api = { .api = UFFD_API }; ioctl(uffd, UFFDIO_API, &api);
  dst = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  struct uffdio_register reg = { .range = { (unsigned long)dst, total }, .mode = UFFDIO_REGISTER_MODE_MISSING };
  if (ioctl(uffd, UFFDIO_REGISTER, &reg)) { perror("register"); return 1; }
  char *area = mmap(NULL, (size_t)BUFFERS * CHUNK + (2u << 20), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  area = (char *)(((uintptr_t)area + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1));
  madvise(area, (size_t)BUFFERS * CHUNK, MADV_HUGEPAGE); memset(area, 0, (size_t)BUFFERS * CHUNK);
  for (int i = 0; i < BUFFERS; i++) { pool[i] = area + (size_t)i * CHUNK; freeList[freeCount++] = i; }
  chunksLeft = (total + CHUNK - 1) / CHUNK;
  *(int *)&addr.sin_zero = lfd; // the readers accept on it
  if (conns == 0) {
    // the local path's floor: UFFDIO_COPY straight from a mapping of the pages file (page cache), no network
    fileMap = mmap(NULL, total, PROT_READ, MAP_SHARED | MAP_POPULATE, ffd, 0);
    pthread_t lc[8], lt[8]; double c0 = cpu(RUSAGE_SELF), t0 = now();
    for (long k = 0; k < touchers; k++) pthread_create(&lt[k], NULL, toucher, (void *)k);
    for (long i = 0; i < copiers; i++) pthread_create(&lc[i], NULL, localCopier, NULL);
    for (int i = 0; i < copiers; i++) pthread_join(lc[i], NULL);
    double t1 = now(), last = 0, touchCpu = 0;
    for (int k = 0; k < touchers; k++) { pthread_join(lt[k], NULL); if (touchedAt[k] > last) last = touchedAt[k]; touchCpu += toucherCpu[k]; }
    double c1 = cpu(RUSAGE_SELF);
    printf("%zu MiB, local, %d copier(s), %d toucher(s): placed %.3f s, CPU %.3f s, %.3f CPU s/GiB\n", mib, copiers, touchers, t1 - t0, c1 - c0, (c1 - c0) * 1024 / mib);
    if (touch) printf("  every page touched and verified %.3f s after the start (%ld bad); the touchers' own CPU %.3f s\n", last - t0, bad, touchCpu);
    return bad ? 1 : 0;
  }
  int ready[2]; if (pipe(ready)) return 1;
  pid_t p = fork();
  if (p == 0) {
    // the source: one thread per connection, sendfile of its contiguous share
    char go; if (read(ready[0], &go, 1) != 1) _exit(4);
    int s[MAXC]; for (int i = 0; i < conns; i++) { s[i] = socket(AF_INET, SOCK_STREAM, 0); if (connect(s[i], (void *)&addr, sizeof addr)) _exit(3); }
    double cs = cpu(RUSAGE_SELF);
    pid_t kids[MAXC];
    for (int i = 0; i < conns; i++) {
      if ((kids[i] = fork()) == 0) {
        if (send(s[i], &i, sizeof i, 0) != sizeof i) _exit(3);
        size_t per = total / conns; off_t off = (off_t)i * per, end = i == conns - 1 ? (off_t)total : off + (off_t)per;
        while (off < end) { size_t len = end - off < (off_t)CHUNK ? (size_t)(end - off) : CHUNK; off_t o = off; while (o < off + (off_t)len) { ssize_t n = sendfile(s[i], ffd, &o, off + len - o); if (n <= 0) _exit(3); } off += len; }
        char x; shutdown(s[i], SHUT_WR); while (recv(s[i], &x, 1, 0) > 0) {} _exit(0);
      }
    }
    for (int i = 0; i < conns; i++) waitpid(kids[i], NULL, 0);
    (void)cs;
    _exit(0);
  }
  pthread_t r[MAXC], c[8], t[8];
  double c0 = cpu(RUSAGE_SELF), t0 = now();
  if (write(ready[1], "g", 1) != 1) return 1;
  for (long k = 0; k < touchers; k++) pthread_create(&t[k], NULL, toucher, (void *)k);
  for (long i = 0; i < conns; i++) pthread_create(&r[i], NULL, reader, (void *)i);
  for (long i = 0; i < copiers; i++) pthread_create(&c[i], NULL, copier, NULL);
  for (int i = 0; i < conns; i++) pthread_join(r[i], NULL);
  for (int i = 0; i < copiers; i++) pthread_join(c[i], NULL);
  double t1 = now();
  double last = 0, touchCpu = 0; for (int k = 0; k < touchers; k++) { pthread_join(t[k], NULL); if (touchedAt[k] > last) last = touchedAt[k]; touchCpu += toucherCpu[k]; }
  double t2 = now(), c1 = cpu(RUSAGE_SELF);
  int st; waitpid(p, &st, 0);
  struct rusage ru; getrusage(RUSAGE_CHILDREN, &ru); double src = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  for (size_t i = 0; i < total; i += 4096 * 7) if (*(unsigned long *)(dst + i) != i + 1) { fprintf(stderr, "bad data at %zu\n", i); return 1; }
  printf("%zu MiB, %d connection(s), %d copier(s), %d toucher(s): placed %.3f s, destination CPU %.3f s, source CPU %.3f s, together %.3f CPU s/GiB\n",
    mib, conns, copiers, touchers, t1 - t0, c1 - c0, src, (c1 - c0 + src) * 1024 / mib);
  if (touch) printf("  every page touched and verified %.3f s after the start (%ld bad); the touchers' own CPU %.3f s (in the destination's)\n", last - t0, bad, touchCpu);
  (void)t2;
  return bad ? 1 : 0;
}
