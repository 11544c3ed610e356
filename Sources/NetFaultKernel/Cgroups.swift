import FoundationEssentials
import Glibc
import NetFaultCore

/// `--cgroup PATH` or `--uid USER` that names nothing here: reported before the kernel is
/// touched, each with its own exit status (66: no such cgroup; 67: no such user; 69: no cgroup2).
public struct ScopeError: NetfaultError, Equatable, Sendable {
    public let message: String
    public let exitStatus: Int32
    public var description: String { message }
    static func noCgroup(_ m: String) -> Self { Self(message: m, exitStatus: ExitStatus.noInput) }
    static func noUser(_ m: String) -> Self { Self(message: m, exitStatus: ExitStatus.noUser) }
    static func noMount(_ m: String) -> Self { Self(message: m, exitStatus: ExitStatus.unavailable) }
}

/// The cgroup v2 hierarchy as this process sees it: where it is mounted, and the cgroups in it.
public enum Cgroup2 {
    /// Where cgroup2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified in a hybrid layout).
    public static func mountPoint(mountinfo: String? = ProcFile.text("/proc/self/mountinfo")) throws -> String {
        for line in (mountinfo ?? "").split(separator: "\n") {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
            let halves = line.split(separator: " - ", maxSplits: 1)
            let fields = halves[0].split(separator: " ")
            guard halves.count == 2, fields.count >= 5, halves[1].hasPrefix("cgroup2 ") else { continue }
            return unescapeMountField(String(fields[4]))
        }
        throw ScopeError.noMount(
            """
            no cgroup v2 hierarchy is mounted here (/proc/self/mountinfo has no cgroup2), so --cgroup and --scope \
            command cannot name one; mount it (mount -t cgroup2 none /sys/fs/cgroup); in a container, which \
            cannot mount, give it the host's, writable: docker run -v /sys/fs/cgroup:/sys/fs/cgroup:rw (where the \
            host mounts cgroup v2 elsewhere, as at /sys/fs/cgroup/unified, that directory); an `ip netns exec` \
            shell hides the mount, nsenter --net does not; or scope by --uid
            """)
    }

    /// mountinfo writes a space, tab, newline and backslash in a path as \040, \011, \012, \134.
    static func unescapeMountField(_ s: String) -> String {
        var out = s
        for (code, c) in [("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")] {
            out = out.replacing(code, with: c)
        }
        return out
    }

    /// `path` as a cgroup: a directory under the cgroup2 mount (`/sys/fs/cgroup/unified/ci`) or a
    /// path from the cgroup2 root as /proc/PID/cgroup's `0::` line shows it (`/ci`).
    public static func resolve(_ path: String, mount: String) throws -> CgroupScope {
        let root = mount.hasSuffix("/") ? String(mount.dropLast()) : mount
        var relative = path
        if path == root || path.hasPrefix(root + "/") { relative = String(path.dropFirst(root.count)) }
        let parts = relative.split(separator: "/").map(String.init)
        guard !parts.contains(".."), !parts.contains("."), !path.isEmpty else {
            throw ScopeError.noCgroup(
                """
                --cgroup '\(path)' is not a plain path; give it as /proc/PID/cgroup shows it (e.g. \
                /system.slice/ci.service)
                """)
        }
        let canonical = "/" + parts.joined(separator: "/")
        let directory = root + canonical
        var st = stat()
        // cgroup.controllers is in every cgroup v2 directory and in no v1 one.
        guard stat(directory, &st) == 0, st.st_mode & S_IFMT == S_IFDIR,
            access(directory + "/cgroup.controllers", F_OK) == 0
        else {
            throw ScopeError.noCgroup(
                """
                --cgroup '\(path)': no cgroup v2 \(canonical) (no directory \(directory) in the cgroup2 mount at \
                \(root)); give a path as /proc/PID/cgroup's 0:: line shows it, e.g. /system.slice/ci.service
                """)
        }
        return CgroupScope(path: canonical, id: UInt64(st.st_ino), level: CgroupScope.level(of: canonical))
    }

    /// The cgroup v2 path of a process (its /proc/PID/cgroup `0::` line); nil when it has none.
    public static func path(ofProcess pid: String = "self") -> String? {
        let text = ProcFile.text("/proc/\(pid)/cgroup") ?? ""
        return text.split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) }
    }
}

/// `--uid`: a number, or a user name from the password database.
public enum UserID {
    /// The largest uid: (uid_t)-1 means "no user" to the kernel.
    static let largest = UInt32.max - 1

    public static func resolve(_ text: String) throws -> UInt32 {
        if let n = UInt64(text) {
            guard n <= UInt64(largest) else {
                throw ScopeError.noUser(
                    "--uid \(text) is out of range; a uid is a number from 0 to \(largest) or a name")
            }
            return UInt32(n)
        }
        guard !text.isEmpty, !text.contains("/"), !text.contains(":") else {
            throw ScopeError.noUser(
                "--uid '\(text)' is neither a number nor a user name (e.g. --uid 65534, --uid nobody)")
        }
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        let rc = getpwnam_r(text, &pwd, &buffer, buffer.count, &result)
        guard rc == 0, result != nil else {
            throw ScopeError.noUser(
                "--uid '\(text)': no such user here (getent passwd \(text) finds none); give a name or a number")
        }
        return UInt32(pwd.pw_uid)
    }
}
