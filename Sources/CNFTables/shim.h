#ifndef NETFAULT_CNFTABLES_SHIM_H
#define NETFAULT_CNFTABLES_SHIM_H
// libnftnl (nf_tables objects and their netlink encoding) and libmnl (the batch buffer).
// Both are called directly from Swift; only what Swift cannot import is wrapped here.
#include <stdint.h>
#include <stdio.h>
// glibc's socket headers first: linux/libc-compat.h then skips the kernel's duplicate in_addr
// and in6_addr, which would otherwise clash with Swift's Glibc module.
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/table.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/expr.h>
#include <libnftnl/udata.h>
#include <libnftnl/set.h>
#include <net/if.h>

#endif
