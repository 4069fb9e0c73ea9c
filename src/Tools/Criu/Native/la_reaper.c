/*
 * la_reaper.c - run one command under a child subreaper that reaps everything below it (LazyActors CRIU harness).
 *
 * usage: la_reaper --report-fd N [--deadline-ms MS] [--setsid] [--new-pidns] [--pass-fd FD]... -- PROGRAM ARGS...
 *
 * Why it exists: PID 1 of the machines we run on does not reap orphans, and `criu restore -d` returns while the
 * restored tree keeps running: the tree is reparented to the nearest child subreaper. The harness starts every step
 * (the workload, criu dump, the lazy-pages daemon, criu restore) under its own reaper, so the restored tree, a daemon
 * that detaches (-d) and the children of a killed tree all end up here, are reaped with their exit status and
 * rusage, and are killed by pid when the deadline passes or the harness asks (SIGTERM). The harness process itself
 * stays out of the subreaper business (it shares its process with tests and other children).
 *
 *   --report-fd N   every event is one line written with one write(2) to N (a pipe, lines < PIPE_BUF):
 *                     start pid=P mono_ns=T
 *                     exit pid=P main=0|1 code=C signal=S utime_us=U stime_us=S maxrss_kib=K mono_ns=T
 *                     kill pid=P reason=deadline|term|orphaned
 *                     done code=C mono_ns=T
 *                   N is close-on-exec here, so nothing below inherits it (CRIU refuses to dump foreign pipes).
 *   --deadline-ms   after MS milliseconds every process below is killed (SIGKILL, by pid) and reaped.
 *   --setsid        the command starts a new session (its own session and group leader: `criu dump --shell-job`
 *                   then has nothing outside the tree, and a restored session leader stays one).
 *   --new-pidns     the command is PID 1 of a new pid namespace (so a restored copy can take the same pids while
 *                   the source tree is still alive). setsid happens inside, after the clone.
 *   --pass-fd FD    FD is for the command only: this process closes its own copy after forking (a status pipe
 *                   whose EOF must mean "the command closed it"). The command inherits stdio and these only.
 *
 * It exits when nothing is left to reap, with the command's exit code (128+signal if killed, 124 if the deadline
 * passed). If its parent dies it kills everything below (the harness is gone, nobody would reap or bound it).
 * CLOCK_MONOTONIC is the clock of every mono_ns (the harness uses the same clock).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PASS_FDS 16
#define TICK_MS 20
#define KILL_BOUND_MS 10000

static int report_fd = -1;
static volatile sig_atomic_t term_requested;
static volatile sig_atomic_t tick;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    /* A harness that stopped reading must not stop the reaping: errors (EPIPE) are ignored. */
    ssize_t rc;
    do
        rc = write(report_fd, line, (size_t)n);
    while (rc < 0 && errno == EINTR);
}

static void on_term(int sig)
{
    (void)sig;
    term_requested = 1;
}

static void on_tick(int sig)
{
    (void)sig;
    tick = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: la_reaper --report-fd N [--deadline-ms MS] [--setsid] [--new-pidns] [--pass-fd FD]... -- PROGRAM ARGS...\n");
    exit(125);
}

static long parse_long(const char *text, const char *what)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || *end || value < 0) {
        fprintf(stderr, "la_reaper: bad %s: %s\n", what, text);
        exit(125);
    }
    return value;
}

/* Sends SIGKILL to every process whose parent is this one; returns how many it found. */
static int kill_children(const char *reason)
{
    DIR *proc = opendir("/proc");
    if (!proc)
        return 0;
    pid_t self = getpid();
    int found = 0;
    struct dirent *entry;
    while ((entry = readdir(proc))) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char path[64], stat[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, stat, sizeof stat - 1);
        close(fd);
        if (n <= 0)
            continue;
        stat[n] = 0;
        /* pid (comm) state ppid ...: comm may hold spaces and parentheses, the last ')' ends it. */
        char *close_paren = strrchr(stat, ')');
        char state;
        long ppid;
        if (!close_paren || sscanf(close_paren + 1, " %c %ld", &state, &ppid) != 2 || ppid != self)
            continue;
        found++;
        if (state != 'Z') {
            kill((pid_t)pid, SIGKILL);
            report("kill pid=%ld reason=%s", pid, reason);
        }
    }
    closedir(proc);
    return found;
}

/*
 * In the command, before exec: close every descriptor but stdio and the --pass-fd ones. Whatever the harness's own
 * parent leaked to it (a test runner's pipe, a /dev/null opened in another mount namespace) would otherwise be part
 * of the dumped tree, and CRIU refuses to dump what it cannot restore ("Can't lookup mount ... path=/dev/null").
 */
static void close_inherited(const int *keep, int nr_keep)
{
    int fds[1024], nr = 0;
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL && nr < (int)(sizeof fds / sizeof fds[0])) {
        char *end;
        long fd = strtol(entry->d_name, &end, 10);
        if (*end != '\0' || entry->d_name[0] == '\0' || fd <= 2 || fd == dirfd(dir))
            continue;
        int kept = 0;
        for (int k = 0; k < nr_keep; k++)
            kept |= keep[k] == fd;
        if (!kept)
            fds[nr++] = (int)fd;
    }
    closedir(dir);
    for (int k = 0; k < nr; k++)
        close(fds[k]);
}

int main(int argc, char **argv)
{
    long deadline_ms = -1;
    int setsid_flag = 0, new_pidns = 0, pass_fds[MAX_PASS_FDS], nr_pass = 0;
    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else if (!strcmp(argv[i], "--report-fd") && i + 1 < argc) {
            report_fd = (int)parse_long(argv[++i], "--report-fd");
        } else if (!strcmp(argv[i], "--deadline-ms") && i + 1 < argc) {
            deadline_ms = parse_long(argv[++i], "--deadline-ms");
        } else if (!strcmp(argv[i], "--setsid")) {
            setsid_flag = 1;
        } else if (!strcmp(argv[i], "--new-pidns")) {
            new_pidns = 1;
        } else if (!strcmp(argv[i], "--pass-fd") && i + 1 < argc && nr_pass < MAX_PASS_FDS) {
            pass_fds[nr_pass++] = (int)parse_long(argv[++i], "--pass-fd");
        } else {
            usage();
        }
    }
    if (i >= argc || report_fd < 0)
        usage();
    if (fcntl(report_fd, F_SETFD, FD_CLOEXEC) < 0) {
        fprintf(stderr, "la_reaper: --report-fd %d: %s\n", report_fd, strerror(errno));
        return 125;
    }
    signal(SIGPIPE, SIG_IGN);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        fprintf(stderr, "la_reaper: PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
        return 125;
    }
    pid_t parent = getppid();
    uint64_t start = mono_ns();

    if (new_pidns && unshare(CLONE_NEWPID) < 0) {
        fprintf(stderr, "la_reaper: unshare(CLONE_NEWPID): %s\n", strerror(errno));
        return 125;
    }

    /* Signals that end the wait: no SA_RESTART, so wait4 returns EINTR and the loop looks at the flags. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_tick;
    sigaction(SIGALRM, &sa, NULL);

    pid_t main_pid = fork();
    if (main_pid < 0) {
        fprintf(stderr, "la_reaper: fork: %s\n", strerror(errno));
        return 125;
    }
    if (main_pid == 0) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGTERM, &dfl, NULL);
        sigaction(SIGINT, &dfl, NULL);
        sigaction(SIGHUP, &dfl, NULL);
        sigaction(SIGALRM, &dfl, NULL);
        sigaction(SIGPIPE, &dfl, NULL);
        if (setsid_flag && setsid() < 0) {
            fprintf(stderr, "la_reaper: setsid: %s\n", strerror(errno));
            _exit(126);
        }
        close_inherited(pass_fds, nr_pass);
        execvp(argv[i], &argv[i]);
        fprintf(stderr, "la_reaper: exec %s: %s\n", argv[i], strerror(errno));
        _exit(127);
    }
    for (int p = 0; p < nr_pass; p++)
        close(pass_fds[p]);
    report("start pid=%d mono_ns=%llu", (int)main_pid, (unsigned long long)mono_ns());

    struct itimerval every = { { 0, TICK_MS * 1000 }, { 0, TICK_MS * 1000 } };
    setitimer(ITIMER_REAL, &every, NULL);

    int main_code = -1;
    const char *killing = NULL;
    uint64_t kill_started = 0;
    for (;;) {
        int status;
        struct rusage usage;
        pid_t pid = wait4(-1, &status, 0, &usage);
        if (pid > 0) {
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
            report("exit pid=%d main=%d code=%d signal=%d utime_us=%lld stime_us=%lld maxrss_kib=%ld mono_ns=%llu",
                   (int)pid, pid == main_pid, code, sig,
                   (long long)usage.ru_utime.tv_sec * 1000000 + usage.ru_utime.tv_usec,
                   (long long)usage.ru_stime.tv_sec * 1000000 + usage.ru_stime.tv_usec,
                   usage.ru_maxrss, (unsigned long long)mono_ns());
            if (pid == main_pid)
                main_code = code >= 0 ? code : 128 + sig;
            continue;
        }
        if (errno == ECHILD)
            break;
        if (errno != EINTR) {
            fprintf(stderr, "la_reaper: wait4: %s\n", strerror(errno));
            killing = killing ? killing : "term";
        }
        tick = 0;
        uint64_t now = mono_ns();
        if (!killing) {
            if (term_requested)
                killing = "term";
            else if (deadline_ms >= 0 && now - start >= (uint64_t)deadline_ms * 1000000ull)
                killing = "deadline";
            else if (getppid() != parent)
                killing = "orphaned";
            if (killing)
                kill_started = now;
        }
        if (killing) {
            kill_children(killing);
            if (now - kill_started > (uint64_t)KILL_BOUND_MS * 1000000ull) {
                /* Something below survives SIGKILL (stuck in the kernel): report and give up rather than hang. */
                report("done code=%d mono_ns=%llu stuck=1", 125, (unsigned long long)now);
                return 125;
            }
        }
    }

    int code = killing && !strcmp(killing, "deadline") ? 124 : main_code < 0 ? 125 : main_code;
    report("done code=%d mono_ns=%llu", code, (unsigned long long)mono_ns());
    return code;
}
