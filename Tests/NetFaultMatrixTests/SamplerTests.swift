import NetFaultKernel
import Testing

@testable import NetFaultMatrix

/// The connection counts a cell records from its command's sockets.
@Suite struct SamplerTests {
    @Test("a refused connect's socket, left in CLOSE until closed, is no completed connection")
    func refusedIsNotConnected() {
        var s = Sampler(watched: WatchedPort(service: "mysql", port: 3306))
        // TCP states: 1 ESTABLISHED, 2 SYN_SENT, 7 CLOSE, 8 CLOSE_WAIT.
        s.add([TCPSocket(state: 7, localPort: 40000, remotePort: 3306, inode: 1)])
        s.add([TCPSocket(state: 2, localPort: 40001, remotePort: 3306, inode: 2)])
        #expect(s.counts.peakEstablished == 0 && s.counts.peakConnecting == 1 && s.counts.peak == 1)
        s.add([TCPSocket(state: 1, localPort: 40002, remotePort: 3306, inode: 3)])
        s.add([TCPSocket(state: 8, localPort: 40002, remotePort: 3306, inode: 3)])
        #expect(s.counts.peakEstablished == 1)
    }
}
