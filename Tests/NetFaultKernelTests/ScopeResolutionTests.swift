import Glibc
import Testing
import NetFaultCore
@testable import NetFaultKernel

/// --uid and --cgroup resolved against this system before anything touches the kernel: each
/// kind of bad input has its message and its own exit status.
struct ScopeResolutionTests {
    func status(_ body: () throws -> Any) -> Int32? {
        do { _ = try body() } catch let e as ScopeError { return e.exitStatus } catch { return -1 }
        return nil
    }

    @Test("--uid takes a number or a name; no such user and out of range exit 67")
    func uid() throws {
        #expect(try UserID.resolve("0") == 0)
        #expect(try UserID.resolve("root") == 0)
        #expect(try UserID.resolve("4294967294") == 4_294_967_294)
        for bad in ["4294967295", "99999999999999999999", "no-such-user-netfault", "", "a/b", "x:y"] {
            #expect(status { try UserID.resolve(bad) } == 67, "\(bad)")
        }
    }

    @Test("the cgroup2 mount is read from mountinfo; none exits 69")
    func mount() throws {
        let hybrid = """
            25 20 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
            26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev shared:9 - cgroup2 cgroup2 rw,nsdelegate
            """
        #expect(try Cgroup2.mountPoint(mountinfo: hybrid) == "/sys/fs/cgroup/unified")
        let escaped = "30 1 0:5 / /mnt/my\\040cgroups rw - cgroup2 none rw"
        #expect(try Cgroup2.mountPoint(mountinfo: escaped) == "/mnt/my cgroups")
        #expect(status { try Cgroup2.mountPoint(mountinfo: "25 20 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw") } == 69)
    }

    static var hasCgroup2: Bool { (try? Cgroup2.mountPoint()) != nil }

    /// This process's own cgroup (and the root), found by its path from the root or by its
    /// directory, with its inode as id and its depth as level; anything else exits 66. Needs no
    /// root, only a cgroup2 mount, which every machine this project tests on has.
    @Test(
        "--cgroup resolves to the directory's inode and depth; missing, v1 or dotted paths exit 66",
        .enabled(if: hasCgroup2, "no cgroup2 mounted here"))
    func cgroup() throws {
        let mount = try Cgroup2.mountPoint()
        let own = Cgroup2.path(ofProcess: "self") ?? "/"
        for cgroup in Set([own, "/"]) {
            var st = stat()
            #expect(stat(mount + (cgroup == "/" ? "" : cgroup), &st) == 0)
            for path in [cgroup, mount + (cgroup == "/" ? "" : cgroup), cgroup + "/"] {
                let c = try Cgroup2.resolve(path, mount: mount)
                #expect(c.path == cgroup && c.id == UInt64(st.st_ino), "\(path)")
                #expect(c.level == CgroupScope.level(of: cgroup))
            }
        }
        for bad in ["/no-such-cgroup-netfault", own + "/../x", "/./x"] {
            #expect(status { try Cgroup2.resolve(bad, mount: mount) } == 66, "\(bad)")
        }
        // A directory that is not a cgroup v2 (no cgroup.controllers): /proc/self under /proc.
        #expect(status { try Cgroup2.resolve("/self", mount: "/proc") } == 66)
    }
}
