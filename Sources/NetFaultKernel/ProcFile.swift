import Glibc

/// Text the kernel writes on demand under /proc. Foundation's file readers stop after the first
/// short read, but a seq_file (/proc/net/tcp, /proc/cpuinfo) answers a page per read(2): they
/// saw the first 26 sockets of /proc/net/tcp and none after. This reads until read(2) says EOF.
public enum ProcFile {
    public static func text(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return String(decoding: out, as: UTF8.self) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            out.append(contentsOf: chunk[0..<n])
        }
    }
}
