import CNetlink
import FoundationEssentials
import Glibc
import NetFaultCore

/// A listening unix socket as sock_diag reports it: which socket (its inode), the abstract name
/// it is bound to, and the user that created it. Claims are found this way, by name prefix and
/// owner, rather than by connecting: a name bound without listen() answers a connect with
/// ECONNREFUSED, which said "free" to anyone who asked, whoever held it.
public struct UnixListener: Sendable, Equatable {
    public let inode: UInt32
    /// The abstract name without its leading NUL; nil for a path name or an unbound socket.
    public let abstractName: [UInt8]?
    /// The socket's owner as the diag socket's user namespace sees it; nil when the kernel did
    /// not say (before Linux 5.3, UNIX_DIAG_UID).
    public let uid: UInt32?

    public init(inode: UInt32, abstractName: [UInt8]?, uid: UInt32?) {
        self.inode = inode; self.abstractName = abstractName; self.uid = uid
    }
}

/// The kernel's unix_diag (CONFIG_UNIX_DIAG): every listening unix socket of a network
/// namespace, with name and owner. It needs no privilege (`ss -xl` shows the same).
public enum UnixDiag {
    /// The feature's name as `netfault doctor` prints it.
    public static let feature = KernelFeature.unixDiag

    /// sizeof(struct unix_diag_req) and sizeof(struct unix_diag_msg).
    static let requestSize = 24
    static let messageSize = 16

    /// SOCK_DIAG_BY_FAMILY with struct unix_diag_req: AF_UNIX sockets in `states` (a bit per
    /// state; TCP_LISTEN is 10 for unix sockets too), with their name and uid.
    static func request(states: UInt32 = 1 << UInt32(TCP_LISTEN)) -> NetlinkRequest {
        var w = ByteWriter()
        w.u8(UInt8(AF_UNIX))  // sdiag_family
        w.u8(0)  // sdiag_protocol
        w.u16(0)  // pad
        w.u32(states)  // udiag_states
        w.u32(0)  // udiag_ino: any (a dump)
        w.u32(UInt32(UDIAG_SHOW_NAME | UDIAG_SHOW_UID))  // udiag_show
        w.u32(0); w.u32(0)  // udiag_cookie: any
        return NetlinkRequest(
            type: UInt16(SOCK_DIAG_BY_FAMILY), flags: UInt16(NLM_F_REQUEST | NLM_F_DUMP), payload: w.bytes)
    }

    /// struct unix_diag_msg (family, type, state, pad, inode, cookie; host order), then
    /// attributes: UNIX_DIAG_NAME (sun_path as bound: a leading NUL for an abstract name) and
    /// UNIX_DIAG_UID (a u32). nil for anything that is not one AF_UNIX socket in LISTEN.
    static func parse(_ msg: NetlinkMessage) -> UnixListener? {
        let p = msg.payload
        guard msg.type == UInt16(SOCK_DIAG_BY_FAMILY), p.count >= messageSize, p[0] == UInt8(AF_UNIX),
            p[2] == UInt8(TCP_LISTEN)
        else { return nil }
        let attrs = Attributes(p[messageSize...])
        var name: [UInt8]?
        if let raw = attrs[UNIX_DIAG_NAME], raw.first == 0 { name = Array(raw.dropFirst()) }
        return UnixListener(inode: p.le32(at: 4), abstractName: name, uid: attrs.u32(UNIX_DIAG_UID))
    }

    /// Every listening unix socket in `namespace` (nil: this process's own). A kernel without
    /// unix_diag, or one too old to report owners, is a FeatureMissing: without it no holder
    /// can be told from a squatter, and taking every name for free would remove live faults.
    public static func listeners(in namespace: NetworkNamespace?) throws -> [UnixListener] {
        let found: [UnixListener]
        do {
            let socket = try NetlinkSocket.open(in: namespace, netlinkProtocol: NETLINK_SOCK_DIAG)
            found = try socket.dump(request(), "listing listening unix sockets (sock_diag)").compactMap(parse)
        } catch let e as KernelError where [ENOENT, EOPNOTSUPP, EPROTONOSUPPORT, EINVAL].contains(e.errno) {
            // sock_diag answers ENOENT for a family it has no handler for (after trying to
            // load unix_diag); no NETLINK_SOCK_DIAG at all fails at socket().
            throw FeatureMissing(feature: feature, underlying: e)
        }
        if found.contains(where: { $0.uid == nil }) {
            throw FeatureMissing(
                feature: feature,
                underlying: KernelError(
                    operation: "listing listening unix sockets (sock_diag)", errno: EOPNOTSUPP, source: .netfault,
                    detail: "the kernel does not report their owners (UNIX_DIAG_UID, Linux 5.3)"))
        }
        return found
    }
}
