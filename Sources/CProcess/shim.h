#ifndef NETFAULT_CPROCESS_SHIM_H
#define NETFAULT_CPROCESS_SHIM_H
// Starting a command as another user: fork, drop to the user's groups, gid and uid, exec.
// In C because the child of a multithreaded process may only make async-signal-safe calls
// between fork and exec, which Swift cannot promise.
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

extern int execvpe(const char *file, char *const argv[], char *const envp[]);

// Returns the child's pid, or -1 with errno set. In the child, a failed exec exits 127
// (126 when dropping privileges failed), as shells do.
static inline pid_t nf_spawn_as(int drop, uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups,
                                char *const argv[], char *const envp[]) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    if (drop) {
        if (setgroups(ngroups, groups) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(126);
        if (setuid(0) == 0) _exit(126);  // the drop must be permanent
    }
    execvpe(argv[0], argv, envp);
    _exit(127);
}
#endif
