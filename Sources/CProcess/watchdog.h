#ifndef NETFAULT_CPROCESS_WATCHDOG_H
#define NETFAULT_CPROCESS_WATCHDOG_H
// The watchdog forked from apply, without an exec: starting the whole program again (a 30 MB
// static binary paged in, relocated, its conformances scanned) cost a third of a lease's CPU.
// Only for a caller with one thread (the Swift side checks): the child then has a consistent
// heap and may go on in Swift.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

// The number of threads of this process (entries of /proc/self/task), or -1 when unknown.
static inline int nf_thread_count(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

// fork() as posix_spawn set the exec'd watchdog up: in the child, `title` written over the
// command line (`area`, `area_len` bytes, which ps and the sweeps read); a session of its own;
// SIGTERM, SIGINT and SIGHUP blocked (and at their default action, so sigtimedwait gets them);
// stdin /dev/null, stdout and stderr `log_fd`; `fds[i]` at 3 + i; every other descriptor
// closed (the journal's lock, apply's other sockets). The parent returns only once the child
// has closed them, seen as the end of a pipe whose last writer is the child: until then the
// child shares apply's flock on the journal, and a child stopped (SIGSTOP) or not yet
// scheduled when apply exits would hold it for every other netfault. Returns the child's pid
// in the parent (-1 with errno: fork failed, or ETIMEDOUT when the child did not get there in
// 10 s, then killed); 0 in the child, which exits 1 when the descriptors cannot be arranged.
static inline pid_t nf_fork_watchdog(int log_fd, const int *fds, int nfds, char *area, size_t area_len,
                                     const char *title, size_t title_len) {
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(ready[0]);
        close(ready[1]);
        errno = e;
        return -1;
    }
    if (pid > 0) {
        close(ready[1]);
        struct pollfd p = {ready[0], POLLIN, 0};
        char c;
        int n;
        // EOF (0) once the child's copy of the write end is closed; a poll that times out
        // leaves the child killed and apply failing, rather than a lock held for ever.
        while ((n = poll(&p, 1, 10000)) < 0 && errno == EINTR) {}
        if (n == 1) while (read(ready[0], &c, 1) < 0 && errno == EINTR) {}
        close(ready[0]);
        if (n != 1) {
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
            errno = ETIMEDOUT;
            return -1;
        }
        return pid;
    }
    for (size_t i = 0; i < area_len; i++) area[i] = i < title_len ? title[i] : 0;
    (void)setsid();
    sigset_t set;
    sigemptyset(&set);
    int revert[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) { sigaddset(&set, revert[i]); signal(revert[i], SIG_DFL); }
    sigprocmask(SIG_SETMASK, &set, NULL);
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in < 0 || dup2(in, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0) _exit(1);
    // Each above the targets' range first, so that no dup2 overwrites one still to be moved.
    // The pipe's ends go with the rest: each is either a target dup2 replaces or above the range.
    int moved[nfds > 0 ? nfds : 1];
    for (int i = 0; i < nfds; i++)
        if ((moved[i] = fcntl(fds[i], F_DUPFD, 3 + nfds)) < 0) _exit(1);
    for (int i = 0; i < nfds; i++)
        if (dup2(moved[i], 3 + i) < 0) _exit(1);
    if (syscall(SYS_close_range, 3 + nfds, ~0U, 0) != 0)
        for (int fd = 3 + nfds; fd < 65536; fd++) close(fd);
    return 0;
}
#endif
