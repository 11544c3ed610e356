#ifndef NETFAULT_CNETLINK_SHIM_H
#define NETFAULT_CNETLINK_SHIM_H
// Thin C layer over libnl-3: it opens the netlink socket and moves raw datagrams. Every message
// is encoded and decoded in Swift (NetFaultKernel), so its bytes are testable.
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/msg.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/pkt_sched.h>
#include <linux/pkt_cls.h>
#include <linux/gen_stats.h>
#include <linux/tc_act/tc_mirred.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
#include <linux/unix_diag.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <netinet/tcp.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

// Ask the kernel for extended acks (the human-readable reason behind an errno).
static inline int nf_enable_ext_ack(struct nl_sock *sk) {
    int one = 1;
    return setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
}

// Receive one datagram of netlink messages and its sender's port id (0: the kernel); *buf is
// malloc'd by libnl, free with nf_free.
static inline int nf_recv(struct nl_sock *sk, unsigned char **buf, uint32_t *sender) {
    struct sockaddr_nl peer;
    memset(&peer, 0, sizeof(peer));
    int n = nl_recv(sk, &peer, buf, NULL);
    *sender = peer.nl_pid;
    return n;
}

static inline void nf_free(void *p) { free(p); }

// Moves the calling thread into the network namespace the file descriptor refers to.
// setns(2) and CLONE_NEWNET hide behind _GNU_SOURCE, which Swift's Glibc module lacks.
extern int setns(int fd, int nstype);
static inline int nf_setns_net(int fd) { return setns(fd, 0x40000000 /* CLONE_NEWNET */); }

// Claims: names in the abstract unix socket space of the calling thread's network namespace.
// The kernel frees a name when its socket closes, so a claim lives exactly as long as its holder
// and no file or journal is needed to know it. Who holds a claim is asked of unix_diag (by name
// prefix and owner, in Swift); these helpers bind, connect and accept.
static inline socklen_t nf_abstract_addr(struct sockaddr_un *a, const char *name) {
    size_t n = strlen(name);
    if (n > sizeof(a->sun_path) - 1) n = sizeof(a->sun_path) - 1;
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path + 1, name, n);  // sun_path[0] == 0: abstract
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

// A listening socket holding `name`; -1 with errno (EADDRINUSE: another socket holds it).
static inline int nf_claim_take(const char *name) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_un a;
    socklen_t len = nf_abstract_addr(&a, name);
    if (bind(fd, (struct sockaddr *)&a, len) != 0 || listen(fd, 64) != 0) {
        int e = errno; close(fd); errno = e; return -1;
    }
    return fd;
}

// Who listens on `name`, for messages: 0 with *pid and *uid of the process that last called
// listen() on it (*pid 0 when it lives in another pid namespace), or an errno (ECONNREFUSED: no
// listener; EAGAIN: its queue is full). Liveness is never decided here: see Claims.holders.
static inline int nf_claim_peer(const char *name, int *pid, unsigned *uid) {
    *pid = 0;
    *uid = (unsigned)-1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    struct sockaddr_un a;
    socklen_t len = nf_abstract_addr(&a, name);
    int e = 0;
    if (connect(fd, (struct sockaddr *)&a, len) == 0) {
        int cred[3] = {0, -1, -1};  // struct ucred (pid, uid, gid), hidden behind _GNU_SOURCE
        socklen_t cl = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &cl) == 0) {
            *pid = cred[0];
            *uid = (unsigned)cred[1];
        } else {
            e = errno;
        }
    } else {
        e = errno;
    }
    close(fd);
    return e;
}

// Accepts and closes the connections that holder checks leave queued on a claim.
static inline void nf_claim_drain(int fd) {
    int c;
    while ((c = accept(fd, NULL, NULL)) >= 0) close(c);
}


// Keeps `fds` open in a child until this process exits, then lets them close there. Closing the
// last reference to a netfilter socket waits until nf_tables has freed the objects of recent
// transactions (an RCU grace period, often 10 ms or more); the child waits for that instead of
// whoever waits for this process. The child holds nothing else: not stdout, not a pipe a shell
// reads. Returns 0, or an errno (nothing changed but the fds still open here).
static inline int nf_close_after_exit(const int *fds, int n) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return e;
    }
    if (pid == 0) {
        // Close every descriptor but p[0] and fds: walk upwards, closing the gap below each kept one.
        int lo = 0;
        for (;;) {
            int next = -1;
            if (p[0] >= lo) next = p[0];
            for (int i = 0; i < n; i++)
                if (fds[i] >= lo && (next < 0 || fds[i] < next)) next = fds[i];
            if (next < 0) break;
            if (next > lo && syscall(SYS_close_range, lo, next - 1, 0) != 0)
                for (int fd = lo; fd < next; fd++) close(fd);
            lo = next + 1;
        }
        if (syscall(SYS_close_range, lo, ~0U, 0) != 0)
            for (int fd = lo; fd < 1024; fd++) close(fd);
        char c;
        while (read(p[0], &c, 1) < 0 && errno == EINTR) {}  // EOF: the parent has exited
        _exit(0);
    }
    close(p[0]);  // the write end stays open, unused, until this process exits
    return 0;
}

// One ioctl on a device by name, over a datagram socket of the calling thread's network
// namespace: 0, or an errno.
static inline int nf_ifreq_ioctl(unsigned long request, struct ifreq *ifr) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    int e = ioctl(fd, request, ifr) == 0 ? 0 : errno;
    close(fd);
    return e;
}

static inline void nf_ifreq_name(struct ifreq *ifr, const char *ifname) {
    memset(ifr, 0, sizeof(*ifr));
    strncpy(ifr->ifr_name, ifname, IFNAMSIZ - 1);
}

// One legacy ethtool value of a device (cmd: ETHTOOL_GGSO, ETHTOOL_GTSO, ETHTOOL_GGRO): 0, or an
// errno (EOPNOTSUPP where the driver does not say). Reading needs no capability, and no ethtool
// process: netfault never shells out.
static inline int nf_ethtool_get(const char *ifname, uint32_t cmd, uint32_t *value) {
    struct ethtool_value ev = {.cmd = cmd, .data = 0};
    struct ifreq ifr;
    nf_ifreq_name(&ifr, ifname);
    ifr.ifr_data = (void *)&ev;
    int e = nf_ifreq_ioctl(SIOCETHTOOL, &ifr);
    if (e == 0) *value = ev.data;
    return e;
}

// A device's MTU: 0, or an errno.
static inline int nf_if_mtu(const char *ifname, uint32_t *mtu) {
    struct ifreq ifr;
    nf_ifreq_name(&ifr, ifname);
    int e = nf_ifreq_ioctl(SIOCGIFMTU, &ifr);
    if (e == 0) *mtu = (uint32_t)ifr.ifr_mtu;
    return e;
}

#endif
