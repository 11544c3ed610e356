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
public final class Claim {
    public let name: String
    let fd: Int32

    init(name: String, fd: Int32) { self.name = name; self.fd = fd }
    deinit { close(fd) }

    /// Accepts and closes the connections that holder checks leave queued.
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

    /// Takes every name, in `namespace` (nil: this process's own), or none of them.
    public static func take(_ names: [String], in namespace: NetworkNamespace?) throws -> [Claim] {
        if names.isEmpty { return [] }  // nothing to enter the namespace for
        return try inNamespace(namespace) {
            var held: [Claim] = []
            for name in names {
                let fd = nf_claim_take(name)
                guard fd >= 0 else {
                    if errno == EADDRINUSE { throw ClaimTaken(name: name) }
                    throw KernelError(operation: "claiming \(name)", errno: errno)
                }
                held.append(Claim(name: name, fd: fd))
            }
            return held
        }
    }

    /// Claims this process inherited, `fds[i]` holding `names[i]`. Listening again makes this
    /// process the holder that others see (SO_PEERCRED reports who last called listen).
    public static func adopt(_ names: [String], fds: [Int32]) -> [Claim] {
        zip(names, fds).map { name, fd in
            _ = listen(fd, 64)
            return Claim(name: name, fd: fd)
        }
    }

    /// The holders of those names that are held: name to pid (0 when the holder lives in another
    /// pid namespace). A name whose state cannot be told counts as held: never remove what may
    /// be alive.
    public static func holders(_ names: [String], in namespace: NetworkNamespace?) throws -> [String: pid_t] {
        try inNamespace(namespace) {
            var found: [String: pid_t] = [:]
            for name in names {
                var pid: Int32 = 0
                if nf_claim_holder(name, &pid) != 0 { found[name] = pid }
            }
            return found
        }
    }
}

extension LeasePlan {
    /// The claim names of the lease's bands, in band order.
    public var claimNames: [String] { bands.map { Claims.band(device: $0.device, band: $0.band) } }
}
