#ifndef NETFAULT_CPROCESS_SHIM_H
#define NETFAULT_CPROCESS_SHIM_H
// Starting a command as another user: fork, drop to the user's groups, gid and uid, exec.
// In C because the child of a multithreaded process may only make async-signal-safe calls
// between fork and exec, which Swift cannot promise.
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

extern int execvpe(const char *file, char *const argv[], char *const envp[]);
// glibc 2.32+; a table lookup, with no locale or allocation, so usable between fork and exec.
extern const char *strerrordesc_np(int errnum);

static inline void nf_put(const char *s) { (void)!write(2, s, strlen(s)); }

static inline void nf_put_uint(unsigned long n) {
    char buf[24];
    char *p = buf + sizeof buf;
    *--p = 0;
    do { *--p = (char)('0' + n % 10); n /= 10; } while (n);
    nf_put(p);
}

// Says why the command cannot run as `uid` (the exit status alone would not), then exits 126.
// `err`: the failed call's errno, or 0 when nothing failed but the result is wrong.
static inline void nf_drop_failed(uid_t uid, const char *what, int err) {
    nf_put("netfault: cannot run the command as uid ");
    nf_put_uint(uid);
    nf_put(": ");
    nf_put(what);
    if (err) {
        const char *desc = strerrordesc_np(err);
        nf_put(": ");
        nf_put(desc ? desc : "unknown error");
        nf_put(" (errno ");
        nf_put_uint((unsigned)err);
        nf_put(")");
    }
    nf_put("; --as-root runs it as root instead\n");
    _exit(126);
}

// Returns the child's pid, or -1 with errno set. In the child, a failed exec exits 127
// (126 when dropping privileges failed), as shells do.
// `out_fd` >= 0: the command's stdout and stderr go there and stdin is /dev/null (the matrix
// keeps each run's output). `new_session`: the command leads a session of its own, so that its
// processes can be found (by session id) and stopped together. `cwd`: NULL, or where it starts.
// `cgroup_procs` >= 0: an open cgroup.procs of a cgroup v2, which the child joins first ("0" is
// the writer), so that every socket the command makes is that cgroup's. `only_standard`: every
// descriptor above 2 is closed before exec, whatever its close-on-exec flag (the matrix: its
// proxies' and event loops' sockets must not reach the command, which would hold them open and
// show them as its own connections).
static inline void nf_close_from(int low) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)low, ~0U, 0) == 0) return;
#endif
    struct rlimit rl;
    long end = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (1 << 20))
        end = (long)rl.rlim_cur;
    for (long fd = low; fd < end; fd++) (void)close((int)fd);
}

static inline pid_t nf_spawn_as(int drop, uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups,
                                char *const argv[], char *const envp[], int out_fd, int new_session,
                                const char *cwd, int cgroup_procs, int only_standard) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    if (cgroup_procs >= 0 && write(cgroup_procs, "0", 1) != 1) {
        int err = errno;
        nf_put("netfault: cannot move the command into its cgroup: ");
        nf_put(strerrordesc_np(err) ? strerrordesc_np(err) : "unknown error");
        nf_put("\n");
        _exit(126);
    }
    if (new_session) (void)setsid();
    if (out_fd >= 0) {
        int in = open("/dev/null", O_RDONLY);
        if (in >= 0) { dup2(in, 0); close(in); }
        dup2(out_fd, 1);
        dup2(out_fd, 2);
        if (out_fd > 2) close(out_fd);
    }
    if (cwd && chdir(cwd) != 0) {
        nf_put("netfault: cannot enter the command's directory ");
        nf_put(cwd);
        nf_put("\n");
        _exit(126);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    if (drop) {
        if (setgroups(ngroups, groups) != 0) nf_drop_failed(uid, "setgroups() failed", errno);
        if (setgid(gid) != 0) nf_drop_failed(uid, "setgid() failed", errno);
        if (setuid(uid) != 0) nf_drop_failed(uid, "setuid() failed", errno);
        // The drop must be permanent (the caller never asks to drop to uid 0, which has nothing to drop).
        if (setuid(0) == 0) nf_drop_failed(uid, "the drop was not permanent: setuid(0) still succeeded after it", 0);
    }
    if (only_standard) nf_close_from(3);
    execvpe(argv[0], argv, envp);
    _exit(127);
}
#endif
