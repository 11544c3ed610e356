import Foundation
import Glibc
import NetFaultCommand
import Testing

@Suite
struct CommandDescriptorTests {
    /// A descriptor without close-on-exec, as NIO's sockets or a caller's redirection would be,
    /// at a number no process start takes by itself.
    static func openDescriptor() -> Int32 {
        let fd = open("/dev/null", O_RDONLY)
        defer { close(fd) }
        return fcntl(fd, F_DUPFD, 200)
    }

    /// The descriptors `ls` found open in the command.
    static func descriptors(onlyStandard: Bool) throws -> [Int32] {
        let path = NSTemporaryDirectory() + "netfault-fds-\(getpid())-\(onlyStandard)"
        let out = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(out); unlink(path) }
        let me = CommandIdentity(uid: getuid(), gid: getgid(), groups: [], environment: ["PATH": "/usr/bin:/bin"], drop: false)
        let pid = try startCommand(["ls", "/proc/self/fd"], as: me, output: out, onlyStandardFDs: onlyStandard)
        defer { for s in forwardedSignals { signal(s, SIG_DFL) } }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
    }

    @Test("a matrix command gets descriptors 0-2 only; run's command gets what its caller passed on")
    func onlyStandard() throws {
        let fd = Self.openDescriptor()
        #expect(fd >= 200)
        defer { close(fd) }
        let matrix = try Self.descriptors(onlyStandard: true)
        #expect(!matrix.contains(fd) && matrix.contains(2), "\(matrix)")
        let run = try Self.descriptors(onlyStandard: false)
        #expect(run.contains(fd), "\(run)")
    }
}
