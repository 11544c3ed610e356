import CNetlink
import Foundation
import Testing
@testable import NetFaultKernel

/// unix_diag's bytes: netfault's request against linux/unix_diag.h, and the decoding of a reply
/// this kernel (6.18) sent.
@Suite struct UnixDiagTests {
    /// One message of a real dump: a listening SOCK_STREAM socket of uid 65534 bound to
    /// "\0netfault/band/lo/2/00112233445566778899aabbccddeeff", captured on this machine's
    /// kernel with Python (socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG), the request below).
    static let capturedReply = hexBytes(
        "680000001400020001000000b545000001010a00001f02001d1000000000000038000000006e65746661756c742f"
            + "62616e642f6c6f2f322f3030313132323333343435353636373738383939616162626363646465656666050006"
            + "000000000008000700feff0000")

    @Test("the request asks for AF_UNIX sockets in LISTEN only, with their name and uid (struct unix_diag_req)")
    func request() {
        let r = UnixDiag.request()
        #expect(r.type == 20 && r.flags == 0x301)  // SOCK_DIAG_BY_FAMILY; NLM_F_REQUEST | NLM_F_DUMP
        #expect(r.payload.count == UnixDiag.requestSize && r.payload.count == MemoryLayout<unix_diag_req>.size)
        // family AF_UNIX, protocol 0, pad; states 1 << TCP_LISTEN (10); inode 0 (any);
        // show UDIAG_SHOW_NAME | UDIAG_SHOW_UID (0x41); cookie 0 (any).
        let cookie = [UInt8](repeating: 0, count: 8)
        #expect(r.payload == [1, 0, 0, 0, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0x41, 0, 0, 0] + cookie)
    }

    @Test("a captured reply gives the inode, the abstract name without its NUL, and the owner")
    func capturedReply() throws {
        let msg = try #require(NetlinkMessage.parse(Self.capturedReply).first)
        #expect(UnixDiag.messageSize == MemoryLayout<unix_diag_msg>.size)
        let l = try #require(UnixDiag.parse(msg))
        #expect(l.inode == 0x021f00)
        #expect(l.abstractName == Array("netfault/band/lo/2/00112233445566778899aabbccddeeff".utf8))
        #expect(l.uid == 65534)
    }

    /// struct unix_diag_msg for `state`, then the attributes.
    func reply(state: UInt8 = 10, family: UInt8 = 1, name: [UInt8]?, uid: UInt32?) -> NetlinkMessage {
        var w = ByteWriter()
        w.u8(family); w.u8(1); w.u8(state); w.u8(0)
        w.u32(77); w.u32(0); w.u32(0)
        if let name { w.attr(UNIX_DIAG_NAME) { $0.raw(name) } }
        if let uid { w.attr(UNIX_DIAG_UID) { $0.u32(uid) } }
        return NetlinkMessage(type: 20, flags: 2, seq: 1, payload: w.bytes)
    }

    @Test("a path name or no name is no abstract name; no UID attribute is an unknown owner; others are not listeners")
    func variants() {
        #expect(UnixDiag.parse(reply(name: Array("/run/x.sock".utf8), uid: 0))?.abstractName == nil)
        #expect(UnixDiag.parse(reply(name: nil, uid: 0)) == UnixListener(inode: 77, abstractName: nil, uid: 0))
        #expect(
            UnixDiag.parse(reply(name: [0, 0x61], uid: nil)) == UnixListener(inode: 77, abstractName: [0x61], uid: nil))
        #expect(UnixDiag.parse(reply(state: 7, name: [0, 0x61], uid: 0)) == nil, "TCP_CLOSE: bound, not listening")
        #expect(UnixDiag.parse(reply(family: 2, name: [0, 0x61], uid: 0)) == nil)
        let header = Array(reply(name: nil, uid: nil).payload[0..<12])
        #expect(UnixDiag.parse(NetlinkMessage(type: 20, flags: 2, seq: 1, payload: header)) == nil)
    }
}

/// Which listeners hold a claim: pure, from a listing.
@Suite struct ClaimMatchTests {
    func listener(_ inode: UInt32, _ name: String, uid: UInt32) -> UnixListener {
        UnixListener(inode: inode, abstractName: Array(name.utf8), uid: uid)
    }

    @Test("only privileged listeners at the name or under name/ hold it; band 2 is not band 20")
    func holding() {
        let band2 = Claims.band(device: "lo", band: 2)
        let listeners = [
            listener(1, band2, uid: 65534),  // a squatter on the old fixed name
            listener(2, band2 + "/00112233445566778899aabbccddeeff", uid: 65534),  // a squatter under the prefix
            listener(3, Claims.band(device: "lo", band: 20) + "/ab", uid: 0),
            listener(4, band2 + "x/ab", uid: 0),
            UnixListener(inode: 5, abstractName: Array((band2 + "/cd").utf8), uid: nil)
        ]
        #expect(ClaimMatch.holding([band2], in: listeners, uids: [0]).isEmpty)
        let root = listener(6, band2 + "/ffeeddccbbaa99887766554433221100", uid: 0)
        let old = listener(7, band2, uid: 0)  // a netfault from before random addresses
        #expect(ClaimMatch.holding([band2], in: listeners + [root], uids: [0]) == [band2: [root]])
        #expect(ClaimMatch.holding([band2], in: listeners + [old], uids: [0]) == [band2: [old]])
        #expect(ClaimMatch.holding([band2], in: listeners + [root], uids: [0], excluding: [6]).isEmpty)
        #expect(ClaimMatch.holding([band2], in: listeners, uids: [0, 65534]).keys.sorted() == [band2])
    }

    @Test("a claim's address is its name, a slash and 128 random bits in hex, new every time")
    func address() {
        let name = Claims.probe(device: "nfprobe12a")
        let a = ClaimMatch.address(for: name), b = ClaimMatch.address(for: name)
        #expect(a != b)
        #expect(a.hasPrefix(name + "/") && a.count == name.count + 33)
        #expect(a.dropFirst(name.count + 1).allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(ClaimMatch.isAddress(Array(a.utf8), of: Array(name.utf8)))
        #expect(a.utf8.count + 1 <= 108, "fits sun_path with its leading NUL")
    }
}
