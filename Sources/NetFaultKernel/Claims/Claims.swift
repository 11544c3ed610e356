import CNetlink
import FoundationEssentials
import Glibc
import NetFaultCore

/// A name held in a network namespace's abstract unix socket space. Binding is atomic and the
/// kernel frees the name when the holder's socket closes (exit, SIGKILL, a container's end), so
/// a claim says "a live netfault owns this" to every netfault in the namespace, whatever
/// journal or container it has. apply claims each traffic-control band of a lease before the
/// band is installed and passes the claims to the lease's watchdog, which keeps them until it
/// exits: a band nobody claims is an orphan.
///
/// Any user may bind any abstract name, so a claim is not the name itself: its socket is bound
/// to the name, "/" and 128 random bits (unguessable, so nobody can take it first), and it only
/// counts while it listens and belongs to a privileged user (see `Claims.privilegedUIDs`),
/// which unix_diag reports. A squatter's socket, listening or not, counts for nothing.
public final class Claim {
    /// The claim's name (`Claims.band`, `Claims.probe`); the socket's address adds the random part.
    public let name: String
    let fd: Int32
    /// The socket's inode, as unix_diag reports it.
    let inode: UInt32

    init(name: String, fd: Int32, inode: UInt32) { self.name = name; self.fd = fd; self.inode = inode }
    deinit { close(fd) }

    /// Accepts and closes the connections that holder lookups leave queued.
    public func drain() { nf_claim_drain(fd) }

    /// The socket's descriptor, to pass to the process that will hold the claim.
    public var fileDescriptor: Int32 { fd }
}

/// Another live netfault holds a name this one needs.
public struct ClaimTaken: NetfaultError, Sendable {
    public var exitStatus: Int32 { ExitStatus.cantCreate }
    public let name: String
    public init(name: String) { self.name = name }
    public var description: String {
        """
        \(name) is held by another live netfault (one sharing this network namespace, such as another container's); \
        try again, or revert its lease first
        """
    }
}

public enum Claims {
    /// The name that owns one netem band of netfault's root prio on a device (an ifb's band
    /// also owns the redirect filters that feed it).
    public static func band(device: String, band: UInt16) -> String { "netfault/band/\(device)/\(band)" }
    /// The name a feature probe holds while its scratch device exists.
    public static func probe(device: String) -> String { "netfault/probe/\(device)" }

    /// Whose sockets count as claims: root's, and this process's own effective user's (a
    /// netfault given CAP_NET_ADMIN as a file capability runs as its user; that user may run
    /// netfault anyway). Users as this process's user namespace sees them, as unix_diag reports
    /// them to it.
    public static var privilegedUIDs: Set<UInt32> { [0, geteuid()] }

    /// Takes every name, in `namespace` (nil: this process's own), or none of them. Each is
    /// bound at a fresh random address first, then the namespace's listeners are listed: if a
    /// privileged socket other than these holds one of the names, all are released and
    /// ClaimTaken is thrown. Two netfaults that race for a name may both back off (and try
    /// again), but never both win: whichever lists second sees the other's socket.
    public static func take(_ names: [String], in namespace: NetworkNamespace?) throws -> [Claim] {
        if names.isEmpty { return [] }  // nothing to enter the namespace for
        return try inNamespace(namespace) {
            let held = try names.map(bind)
            let others = ClaimMatch.holding(
                names, in: try UnixDiag.listeners(in: nil), uids: privilegedUIDs, excluding: Set(held.map(\.inode)))
            if let taken = names.first(where: { others[$0] != nil }) { throw ClaimTaken(name: taken) }
            return held
        }
    }

    /// A listening socket at a fresh address for `name`, in the calling thread's namespace.
    static func bind(_ name: String) throws -> Claim {
        var attempt = 0
        while true {
            attempt += 1
            let fd = nf_claim_take(ClaimMatch.address(for: name))
            guard fd >= 0 else {
                // Another socket at this very address: not a guess, but try another one.
                if errno == EADDRINUSE && attempt < 3 { continue }
                throw KernelError(operation: "claiming \(name)", errno: errno)
            }
            var st = stat()
            guard fstat(fd, &st) == 0 else {
                let e = errno
                close(fd)
                throw KernelError(operation: "claiming \(name)", errno: e)
            }
            return Claim(name: name, fd: fd, inode: UInt32(truncatingIfNeeded: st.st_ino))
        }
    }

    /// Claims this process inherited, `fds[i]` holding `names[i]`. Listening again makes this
    /// process the holder that lookups see (SO_PEERCRED reports who last called listen).
    public static func adopt(_ names: [String], fds: [Int32]) -> [Claim] {
        zip(names, fds).map { name, fd in
            _ = listen(fd, 64)
            var st = stat()
            let inode = fstat(fd, &st) == 0 ? UInt32(truncatingIfNeeded: st.st_ino) : 0
            return Claim(name: name, fd: fd, inode: inode)
        }
    }

    /// Those of `names` that a privileged netfault holds in `namespace`. A kernel that cannot
    /// tell (no unix_diag) is an error, not "free": never remove what may be alive.
    public static func held(_ names: [String], in namespace: NetworkNamespace?) throws -> Set<String> {
        if names.isEmpty { return [] }
        return try inNamespace(namespace) {
            Set(ClaimMatch.holding(names, in: try UnixDiag.listeners(in: nil), uids: privilegedUIDs).keys)
        }
    }

    /// The holders of those names that are held: name to pid (0 when the holder lives in another
    /// pid namespace, or its queue is full). Held or not is unix_diag's answer; the pid, for
    /// messages, comes from connecting to the holder's exact address.
    public static func holders(_ names: [String], in namespace: NetworkNamespace?) throws -> [String: pid_t] {
        if names.isEmpty { return [:] }
        return try inNamespace(namespace) {
            let uids = privilegedUIDs
            return ClaimMatch.holding(names, in: try UnixDiag.listeners(in: nil), uids: uids).mapValues { found in
                for address in found.compactMap(\.abstractName) where !address.contains(0) {
                    var pid: Int32 = 0
                    var uid: UInt32 = 0
                    let e = String(decoding: address, as: UTF8.self).withCString { nf_claim_peer($0, &pid, &uid) }
                    if e == 0 && uids.contains(uid) { return pid }
                }
                return 0
            }
        }
    }
}

extension LeasePlan {
    /// The claim names of the lease's bands, in band order.
    public var claimNames: [String] { bands.map { Claims.band(device: $0.device, band: $0.band) } }
}
