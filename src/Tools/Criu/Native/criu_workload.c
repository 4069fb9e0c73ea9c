/*
 * criu_workload.c - the process tree the CRIU harness dumps and restores lazily (LazyActors).
 *
 * usage: criu_workload --dir DIR --tasks N --mib M [--shape flat|binary] [--touch seq|rand|stride:K]
 *                      [--seed S] [--wait-s S] [--run-s S]
 *
 * Task 0 is the root; it forks tasks 1..N-1 as its children (--shape flat) or as a binary tree (--shape binary:
 * task i is a child of task (i-1)/2, so trees of 4+ tasks have grandchildren). Every task forks its children first,
 * then maps M MiB of anonymous private memory of its own (nothing shared copy-on-write, so every page is the task's
 * own lazy page) and fills word k of page i with
 *     (SEED << 48) | (task << 40) | (1 << 32) | (i * 512 + k)
 * (the fixtures' pattern with buffer number 1), writes DIR/ready-<task> (written to a temporary name and renamed,
 * then closed: no file stays open across the dump) and waits for SIGUSR1.
 *
 * The trigger: SIGUSR1 to the root; each task's handler forwards it to its own children (pids it knows: CRIU restores
 * the same pids, in a pid namespace too). The wait is a sleep loop on a flag set by the handler (the handler
 * interrupts the sleep), so it does not depend on how CRIU restores a task's signal mask.
 *
 * After the trigger every task builds its touch order in fresh populated memory (seq: ascending pages; rand: a
 * permutation of the pages seeded by SEED and the task; stride:K: pages 0, K, 2K, ... then 1, K+1, ...), reads the
 * first word of every page in that order timing each read with CLOCK_MONOTONIC (the first touch of a lazy page is
 * the fault the daemon serves), then checks every word of every page against the pattern, and only then opens
 * DIR/result-<task>.json (CRIU checks the sizes of files open at dump time, so results are opened after restore) and
 * writes one JSON line: counts, first-touch p50/p99/max/mean and total touch time, and the times of the trigger and
 * of the end of verification on the host's CLOCK_MONOTONIC (see timens_monotonic_offset_ns); then "slow_touches" (the
 * touches over SLOW_TOUCH_NS) and "touch_histogram" (touches per power-of-two band: [0] under 1 us, [i] 2^(i-1) to
 * 2^i us, the last band everything longer), and writes every slow touch to DIR/slow-<task>.tsv (host-clock start ns,
 * duration ns, page, touch number), so that a run's worst p99 can be laid beside the daemon's log. Then it reaps its
 * children (the root also reaps orphans: as PID 1 of a pid namespace it gets them) and exits:
 *     0 every byte of this task and of every task below it verified, 1 a mismatch here or below,
 *     2 a system call failed, 3 the run timed out (--run-s after the trigger), 4 never triggered (--wait-s).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul
#define WORDS_PER_PAGE (PAGE / 8)
#define MAX_TASKS 255
#define BUFFER_NUMBER 1ull
/* Issue 10's bound on the first-touch p99: touches longer than this are counted and listed one by one. */
#define SLOW_TOUCH_NS 250000ull
#define HISTOGRAM_BANDS 24

enum order { ORDER_SEQ, ORDER_RAND, ORDER_STRIDE };

static char dir[3072];
static int tasks = 1, task_index, parent_task = -1;
static long mib = 16;
static int binary_shape;
static enum order order = ORDER_RAND;
static unsigned long stride = 16;
static uint64_t seed = 0xC417;
static long wait_s = 600, run_s = 300;

static pid_t children[MAX_TASKS];
static int nr_children;
static volatile sig_atomic_t triggered;
static volatile uint64_t touched_pages;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * CRIU restores the tree in a time namespace whose CLOCK_MONOTONIC continues from the dump, so the restored tasks'
 * clock runs behind the harness's. The offset is in /proc/self/timens_offsets (absent or zero outside a time
 * namespace); every *_mono_ns of the result is on the host's clock (task clock - offset), comparable with the
 * harness's timestamps.
 */
static int64_t timens_monotonic_offset_ns(void)
{
    int fd = open("/proc/self/timens_offsets", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char text[256];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = 0;
    const char *line = strstr(text, "monotonic");
    long long seconds;
    long nanoseconds;
    if (!line || sscanf(line + strlen("monotonic"), " %lld %ld", &seconds, &nanoseconds) != 2)
        return 0;
    return (int64_t)seconds * 1000000000ll + nanoseconds;
}

static void die(const char *what)
{
    fprintf(stderr, "criu_workload task %d (pid %d): %s: %s\n", task_index, (int)getpid(), what, strerror(errno));
    exit(2);
}

static void on_trigger(int sig)
{
    (void)sig;
    int saved = errno;
    triggered = 1;
    for (int c = 0; c < nr_children; c++)
        kill(children[c], SIGUSR1);
    errno = saved;
}

static void write_all(int fd, const char *text, size_t length)
{
    while (length > 0) {
        ssize_t n = write(fd, text, length);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        text += n;
        length -= (size_t)n;
    }
}

/* Async-signal-safe: the run timed out, say so in the result file and leave. */
static void on_alarm(int sig)
{
    (void)sig;
    char path[3200], line[256];
    snprintf(path, sizeof path, "%s/result-%d.json", dir, task_index);
    int n = snprintf(line, sizeof line, "{\"task\":%d,\"pid\":%d,\"status\":\"timeout\",\"touched_pages\":%llu}\n",
                     task_index, (int)getpid(), (unsigned long long)touched_pages);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0 && n > 0) {
        write_all(fd, line, (size_t)n);
        close(fd);
    }
    for (int c = 0; c < nr_children; c++)
        kill(children[c], SIGKILL);
    _exit(3);
}

static void usage(void)
{
    fprintf(stderr, "usage: criu_workload --dir DIR --tasks N --mib M [--shape flat|binary] [--touch seq|rand|stride:K] "
                    "[--seed S] [--wait-s S] [--run-s S]\n");
    exit(2);
}

static long parse_long(const char *text, long min, long max)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 0);
    if (errno || *end || value < min || value > max)
        usage();
    return value;
}

static void parse(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!value)
            usage();
        i++;
        if (!strcmp(arg, "--dir")) {
            if (strlen(value) >= sizeof dir)
                usage();
            strcpy(dir, value);
        } else if (!strcmp(arg, "--tasks")) {
            tasks = (int)parse_long(value, 1, MAX_TASKS);
        } else if (!strcmp(arg, "--mib")) {
            mib = parse_long(value, 1, 1 << 20);
        } else if (!strcmp(arg, "--shape")) {
            if (!strcmp(value, "flat"))
                binary_shape = 0;
            else if (!strcmp(value, "binary"))
                binary_shape = 1;
            else
                usage();
        } else if (!strcmp(arg, "--touch")) {
            if (!strcmp(value, "seq"))
                order = ORDER_SEQ;
            else if (!strcmp(value, "rand"))
                order = ORDER_RAND;
            else if (!strncmp(value, "stride:", 7)) {
                order = ORDER_STRIDE;
                stride = (unsigned long)parse_long(value + 7, 1, 1 << 30);
            } else
                usage();
        } else if (!strcmp(arg, "--seed")) {
            seed = (uint64_t)parse_long(value, 0, 0xFFFF);
        } else if (!strcmp(arg, "--wait-s")) {
            wait_s = parse_long(value, 1, 86400);
        } else if (!strcmp(arg, "--run-s")) {
            run_s = parse_long(value, 1, 86400);
        } else {
            usage();
        }
    }
    if (!dir[0])
        usage();
}

static inline uint64_t pattern(uint64_t page, uint64_t k)
{
    return (seed << 48) | ((uint64_t)task_index << 40) | (BUFFER_NUMBER << 32) | (page * WORDS_PER_PAGE + k);
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void *populated(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED)
        die("mmap (after restore)");
    return p;
}

static void build_order(uint32_t *pages_order, uint64_t pages)
{
    if (order == ORDER_SEQ) {
        for (uint64_t i = 0; i < pages; i++)
            pages_order[i] = (uint32_t)i;
    } else if (order == ORDER_STRIDE) {
        uint64_t j = 0;
        for (uint64_t start = 0; start < stride && start < pages; start++)
            for (uint64_t i = start; i < pages; i += stride)
                pages_order[j++] = (uint32_t)i;
    } else {
        uint64_t state = seed * 0x100000001B3ull + (uint64_t)task_index + 1;
        for (uint64_t i = 0; i < pages; i++)
            pages_order[i] = (uint32_t)i;
        for (uint64_t i = pages - 1; i > 0; i--) {
            uint64_t j = splitmix64(&state) % (i + 1);
            uint32_t t = pages_order[i];
            pages_order[i] = pages_order[j];
            pages_order[j] = t;
        }
    }
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least pct % of the values at or below it. */
static uint64_t percentile(const uint64_t *sorted, uint64_t n, double pct)
{
    uint64_t rank = (uint64_t)(pct / 100.0 * (double)n + 0.999999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static void write_ready(uint64_t pages)
{
    char tmp[3200], path[3200], line[256];
    snprintf(tmp, sizeof tmp, "%s/.ready-%d.tmp", dir, task_index);
    snprintf(path, sizeof path, "%s/ready-%d", dir, task_index);
    int n = snprintf(line, sizeof line, "task=%d pid=%d parent_task=%d pages=%llu\n", task_index, (int)getpid(),
                     parent_task, (unsigned long long)pages);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("open ready file");
    write_all(fd, line, (size_t)n);
    if (close(fd) < 0 || rename(tmp, path) < 0)
        die("write ready file");
}

/* DIR/slow-<task>.tsv: one line per touch over SLOW_TOUCH_NS, in touch order (written only when there is one). */
static void write_slow_touches(const uint32_t *touch_order, const uint64_t *latency,
                               const uint64_t *started, uint64_t pages, int64_t clock_offset)
{
    FILE *out = NULL;
    for (uint64_t j = 0; j < pages; j++) {
        if (latency[j] <= SLOW_TOUCH_NS)
            continue;
        if (!out) {
            char path[3200];
            snprintf(path, sizeof path, "%s/slow-%d.tsv", dir, task_index);
            out = fopen(path, "we");
            if (!out)
                die("open slow-touch file");
            fprintf(out, "start_mono_ns\tduration_ns\tpage\ttouch\n");
        }
        fprintf(out, "%llu\t%llu\t%u\t%llu\n", (unsigned long long)(started[j] - clock_offset),
                (unsigned long long)latency[j], touch_order[j], (unsigned long long)j);
    }
    if (out && fclose(out) != 0)
        die("close slow-touch file");
}

/* Forks the children of this task; in each child returns with task_index set to the child's task. */
static void fork_children(void)
{
    for (int t = 1; t < tasks; t++) {
        int parent = binary_shape ? (t - 1) / 2 : 0;
        if (parent != task_index)
            continue;
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            parent_task = task_index;
            task_index = t;
            nr_children = 0;
            fork_children();
            return;
        }
        children[nr_children++] = pid;
    }
}

int main(int argc, char **argv)
{
    parse(argc, argv);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_trigger;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);

    fork_children();

    uint64_t pages = (uint64_t)mib * (1ull << 20) / PAGE;
    uint64_t *memory = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED)
        die("mmap");
    for (uint64_t i = 0; i < pages; i++)
        for (uint64_t k = 0; k < WORDS_PER_PAGE; k++)
            memory[i * WORDS_PER_PAGE + k] = pattern(i, k);
    write_ready(pages);

    uint64_t wait_deadline = mono_ns() + (uint64_t)wait_s * 1000000000ull;
    while (!triggered) {
        if (mono_ns() > wait_deadline) {
            fprintf(stderr, "criu_workload task %d: no SIGUSR1 within %ld s\n", task_index, wait_s);
            for (int c = 0; c < nr_children; c++)
                kill(children[c], SIGKILL);
            exit(4);
        }
        struct timespec nap = { 0, 10 * 1000 * 1000 };
        nanosleep(&nap, NULL);
    }
    uint64_t trigger_ns = mono_ns();
    alarm((unsigned)run_s);
    int64_t clock_offset = timens_monotonic_offset_ns();

    uint32_t *touch_order = populated(pages * sizeof(uint32_t));
    uint64_t *latency = populated(pages * sizeof(uint64_t));
    uint64_t *started = populated(pages * sizeof(uint64_t));
    build_order(touch_order, pages);

    uint64_t sink = 0, touch_start = mono_ns();
    for (uint64_t j = 0; j < pages; j++) {
        const volatile uint64_t *word = memory + (uint64_t)touch_order[j] * WORDS_PER_PAGE;
        uint64_t before = mono_ns();
        sink += *word;
        uint64_t after = mono_ns();
        latency[j] = after - before;
        started[j] = before;
        touched_pages = j + 1;
    }
    uint64_t touch_end = mono_ns();

    uint64_t mismatched = 0, zero_pages = 0;
    int64_t first_bad_page = -1;
    uint64_t first_bad_expected = 0, first_bad_actual = 0;
    for (uint64_t i = 0; i < pages; i++) {
        const uint64_t *page = memory + i * WORDS_PER_PAGE;
        int bad = 0, zero = 1;
        for (uint64_t k = 0; k < WORDS_PER_PAGE; k++) {
            if (page[k] != 0)
                zero = 0;
            if (page[k] != pattern(i, k) && !bad) {
                bad = 1;
                if (first_bad_page < 0) {
                    first_bad_page = (int64_t)i;
                    first_bad_expected = pattern(i, k);
                    first_bad_actual = page[k];
                }
            }
        }
        mismatched += (uint64_t)bad;
        zero_pages += (uint64_t)zero;
    }
    uint64_t verified_ns = mono_ns();

    uint64_t histogram[HISTOGRAM_BANDS] = { 0 }, slow = 0;
    for (uint64_t j = 0; j < pages; j++) {
        int band = 0;
        for (uint64_t us = latency[j] / 1000; us > 0 && band < HISTOGRAM_BANDS - 1; us >>= 1)
            band++;
        histogram[band]++;
        slow += latency[j] > SLOW_TOUCH_NS;
    }
    write_slow_touches(touch_order, latency, started, pages, clock_offset);
    char histogram_text[HISTOGRAM_BANDS * 24], *h = histogram_text;
    for (int b = 0; b < HISTOGRAM_BANDS; b++)
        h += snprintf(h, sizeof histogram_text - (size_t)(h - histogram_text), "%s%llu", b ? "," : "",
                      (unsigned long long)histogram[b]);

    qsort(latency, pages, sizeof *latency, compare_u64);
    uint64_t total = 0;
    for (uint64_t j = 0; j < pages; j++)
        total += latency[j];

    char path[3200], line[2048];
    snprintf(path, sizeof path, "%s/result-%d.json", dir, task_index);
    const char *touch_name = order == ORDER_SEQ ? "seq" : order == ORDER_RAND ? "rand" : "stride";
    int n = snprintf(line, sizeof line,
                     "{\"task\":%d,\"pid\":%d,\"parent_task\":%d,\"status\":\"%s\",\"touch\":\"%s\",\"stride\":%lu,"
                     "\"pages\":%llu,\"bytes_checked\":%llu,\"bytes_verified\":%llu,\"mismatched_pages\":%llu,"
                     "\"zero_pages\":%llu,\"first_mismatch_page\":%lld,\"first_mismatch_expected\":%llu,"
                     "\"first_mismatch_actual\":%llu,\"p50_ns\":%llu,\"p99_ns\":%llu,\"max_ns\":%llu,\"mean_ns\":%llu,"
                     "\"touch_ns\":%llu,\"verify_ns\":%llu,\"trigger_mono_ns\":%llu,\"touch_start_mono_ns\":%llu,"
                     "\"verified_mono_ns\":%llu,\"timens_offset_ns\":%lld,\"sink\":%llu,\"slow_touch_ns\":%llu,"
                     "\"slow_touches\":%llu,\"touch_histogram\":[%s]}\n",
                     task_index, (int)getpid(), parent_task, mismatched ? "mismatch" : "ok", touch_name,
                     order == ORDER_STRIDE ? stride : 0, (unsigned long long)pages,
                     (unsigned long long)(pages * PAGE), (unsigned long long)((pages - mismatched) * PAGE),
                     (unsigned long long)mismatched, (unsigned long long)zero_pages, (long long)first_bad_page,
                     (unsigned long long)first_bad_expected, (unsigned long long)first_bad_actual,
                     (unsigned long long)percentile(latency, pages, 50), (unsigned long long)percentile(latency, pages, 99),
                     (unsigned long long)latency[pages - 1], (unsigned long long)(total / pages),
                     (unsigned long long)(touch_end - touch_start), (unsigned long long)(verified_ns - touch_end),
                     (unsigned long long)(trigger_ns - clock_offset), (unsigned long long)(touch_start - clock_offset),
                     (unsigned long long)(verified_ns - clock_offset), (long long)clock_offset, (unsigned long long)sink,
                     SLOW_TOUCH_NS, (unsigned long long)slow, histogram_text);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("open result file");
    write_all(fd, line, (size_t)n);
    if (close(fd) < 0)
        die("close result file");

    int failed = mismatched ? 1 : 0;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ECHILD)
                break;
            die("waitpid");
        }
        int known = 0;
        for (int c = 0; c < nr_children; c++)
            known |= children[c] == pid;
        if (!known)
            continue; /* an orphan reparented to a pid namespace's init: not one of ours */
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            fprintf(stderr, "criu_workload task %d: child pid %d ended with %d\n", task_index, (int)pid, code);
            if (code == 1 || !failed)
                failed = code == 1 ? 1 : code;
        }
    }
    return failed;
}
