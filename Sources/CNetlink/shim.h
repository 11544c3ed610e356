#ifndef NETFAULT_CNETLINK_SHIM_H
#define NETFAULT_CNETLINK_SHIM_H
// Thin C layer over libnl-3 / libnl-route-3: transport and read-back only.
// Requests are encoded in Swift (NetFaultKernel/Encoding) so their bytes are testable.
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/msg.h>
#include <netlink/cache.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/tc.h>
#include <netlink/route/qdisc/netem.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <stdlib.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

// Ask the kernel for extended acks (the human-readable reason behind an errno).
static inline int nf_enable_ext_ack(struct nl_sock *sk) {
    int one = 1;
    return setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
}

// Receive one datagram of netlink messages; *buf is malloc'd by libnl, free with nf_free.
static inline int nf_recv(struct nl_sock *sk, unsigned char **buf) {
    struct sockaddr_nl peer;
    return nl_recv(sk, &peer, buf, NULL);
}

static inline void nf_free(void *p) { free(p); }

// unshare(2) and CLONE_NEWNET hide behind _GNU_SOURCE, which Swift's Glibc module lacks.
extern int unshare(int flags);
static inline int nf_unshare_netns(void) { return unshare(0x40000000 /* CLONE_NEWNET */); }

// Moves the calling thread into the network namespace the file descriptor refers to.
extern int setns(int fd, int nstype);
static inline int nf_setns_net(int fd) { return setns(fd, 0x40000000 /* CLONE_NEWNET */); }

static inline struct rtnl_qdisc *nf_qdisc_from_object(struct nl_object *o) { return (struct rtnl_qdisc *)o; }
static inline struct rtnl_tc *nf_tc_from_qdisc(struct rtnl_qdisc *q) { return (struct rtnl_tc *)q; }

#endif
