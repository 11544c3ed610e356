import FoundationEssentials
import Glibc
import NetFaultCore

/// `run --scope command`'s cgroup v2: a child of netfault's own cgroup named netfault-run-PID
/// (PID: run's), which the command joins before exec. Its descendants stay in it (a fork
/// inherits its parent's cgroup), so the lease's scope is everything the command starts.
public struct RunCgroup: Sendable {
    public static let namePrefix = "netfault-run-"
    public let scope: CgroupScope
    /// Its cgroup.procs, open for the command to write itself into.
    public let procs: Int32

    /// Makes the cgroup; a leftover of the same name (an earlier run with this pid) is ended first.
    /// `cell`: netfault matrix's cells, one cgroup each, named netfault-run-PID-CELL.
    public static func make(pid: pid_t = getpid(), cell: Int? = nil) throws -> RunCgroup {
        let mount = try Cgroup2.mountPoint()
        let own = Cgroup2.path(ofProcess: "self") ?? "/"
        let path = (own == "/" ? "" : own) + "/" + namePrefix + "\(pid)" + (cell.map { "-\($0)" } ?? "")
        let directory = mount + path
        if access(directory, F_OK) == 0 { end(CgroupScope(path: path, id: 0, level: 0, madeForRun: true)) }
        guard mkdir(directory, 0o755) == 0 else { throw cannotMake(directory, errno) }
        let fd = open(directory + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
        var st = stat()
        guard fd >= 0, stat(directory, &st) == 0 else {
            let e = errno
            if fd >= 0 { close(fd) }
            rmdir(directory)
            throw cannotMake(directory, e)
        }
        let scope = CgroupScope(
            path: path, id: UInt64(st.st_ino), level: CgroupScope.level(of: path), madeForRun: true)
        return RunCgroup(scope: scope, procs: fd)
    }

    /// Ends the command's processes and removes the cgroup (the lease's revert does the same;
    /// whichever comes second finds nothing).
    public func end() {
        close(procs)
        Self.end(scope)
    }

    static func cannotMake(_ directory: String, _ e: Int32) -> NetfaultError {
        let why = String(cString: strerror(e))
        if [EROFS, EACCES, EPERM].contains(e) {
            return Unavailable(
                """
                run --scope command needs a writable cgroup v2 to put the command in, and \(directory) cannot be \
                made (\(why)); in a container, mount the cgroup2 hierarchy writable (docker run --cgroupns private \
                with a cgroup v2 host, or -v /sys/fs/cgroup:/sys/fs/cgroup:rw), or scope by --uid
                """)
        }
        return ProcessError("cannot make run --scope command's cgroup \(directory): \(why)")
    }

    /// Ends every process in a cgroup netfault made for a run and removes it (and any cgroups
    /// the command made below it). Anything else, or a cgroup already gone, is left as it is.
    public static func end(_ c: CgroupScope) {
        guard c.madeForRun == true, c.path.split(separator: "/").last?.hasPrefix(namePrefix) == true,
            !c.path.split(separator: "/").contains(".."), let mount = try? Cgroup2.mountPoint()
        else { return }
        remove(mount + c.path)
    }

    /// Kills what is in `directory` and below, then removes them deepest first. rmdir succeeds
    /// once the last process has exited, which follows SIGKILL asynchronously: it is retried for
    /// up to 10 s.
    static func remove(_ directory: String) {
        let children = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for child in children {
            var st = stat()
            let sub = directory + "/" + child
            if lstat(sub, &st) == 0, st.st_mode & S_IFMT == S_IFDIR { remove(sub) }
        }
        if !write("1", to: directory + "/cgroup.kill") {
            // Before Linux 5.14: each process listed, until none is left.
            for pid in (ProcFile.text(directory + "/cgroup.procs") ?? "").split(separator: "\n") {
                if let p = pid_t(pid), p > 0 { kill(p, SIGKILL) }
            }
        }
        for _ in 0..<1000 {
            if rmdir(directory) == 0 || errno == ENOENT { return }
            usleep(10_000)
        }
    }

    static func write(_ text: String, to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == text.utf8.count
    }
}
