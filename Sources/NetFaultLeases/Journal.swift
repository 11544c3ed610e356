import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel

/// Why the state directory cannot be used. Reported before the kernel is touched.
public struct JournalError: NetfaultError, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitStatus: Int32 { ExitStatus.cantCreate }
}

/// The lease journal under /run/netfault: one JSON file per lease, guarded by an flock so two
/// netfault commands never interleave. /run is a tmpfs, so a reboot leaves nothing behind.
public final class Journal {
    public let directory: URL
    var leasesDir: URL { directory.appendingPathComponent("leases") }
    private let leasesPath: String
    private var lockFD: Int32 = -1
    /// The leases read so far, each with the version of its file it was decoded from. Locked:
    /// the matrix's schedule thread and its main thread share one journal.
    private var decoded: [String: (version: EntryVersion, lease: Lease?)] = [:]
    private let decodedLock = Condition()
    /// How many entries this journal has decoded (the tests count them).
    private(set) var decodes = 0

    /// The state directory: NETFAULT_STATE_DIR (inherited by the watchdog), else /run/netfault.
    public static func directory(environment: [String: String]) -> URL {
        URL(fileURLWithPath: environment["NETFAULT_STATE_DIR"] ?? "/run/netfault")
    }

    public static var defaultDirectory: URL { directory(environment: ProcessInfo.processInfo.environment) }

    public init(directory: URL = Journal.defaultDirectory) throws {
        self.directory = directory
        leasesPath = directory.appendingPathComponent("leases").path
        try Self.ensureDirectory(directory)
        try Self.ensureDirectory(leasesDir)
    }

    deinit { if lockFD >= 0 { close(lockFD) } }

    /// Creates the directory 0700, or checks that an existing one is a real directory owned by us.
    static func ensureDirectory(_ url: URL) throws {
        var st = stat()
        if lstat(url.path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw JournalError(
                    "\(url.path) exists and is not a directory (or is a symlink); netfault will not use it. Remove it.")
            }
            guard st.st_uid == geteuid() else {
                throw JournalError(
                    "\(url.path) is owned by uid \(st.st_uid), not by uid \(geteuid()); netfault will not use it")
            }
            if st.st_mode & 0o077 != 0 { chmod(url.path, 0o700) }
            return
        }
        if mkdir(url.path, 0o700) != 0 && errno != EEXIST {
            let why = String(cString: strerror(errno))
            throw JournalError(
                """
                cannot create the state directory \(url.path): \(why). netfault needs a writable /run (a tmpfs) for \
                its lease journal
                """
            )
        }
    }

    /// Runs `body` holding the journal's exclusive lock.
    public func locked<T>(_ body: () throws -> T) throws -> T {
        if lockFD < 0 {
            let path = directory.appendingPathComponent("lock").path
            lockFD = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard lockFD >= 0 else {
                throw JournalError("cannot open \(path): \(String(cString: strerror(errno)))")
            }
        }
        while flock(lockFD, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw JournalError("cannot lock the journal: \(String(cString: strerror(errno)))")
            }
        }
        defer { flock(lockFD, LOCK_UN) }
        return try body()
    }

    /// The file of a lease; nil for anything but a well-formed id, so no id can name a path
    /// outside the journal (every caller treats nil as "no such lease").
    func url(for id: String) -> URL? {
        Lease.isValidID(id) ? leasesDir.appendingPathComponent("\(id).json") : nil
    }

    /// The same as a path, without URL's costly appending (serve asks at every toxic).
    func path(for id: String) -> String? {
        Lease.isValidID(id) ? "\(leasesPath)/\(id).json" : nil
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.dateEncodingStrategy = .secondsSince1970
        return e
    }()
    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .secondsSince1970
        return d
    }()

    /// Writes a lease atomically (temp file + rename), mode 0600.
    public func write(_ lease: Lease) throws {
        let data = try Self.encoder.encode(lease)
        guard let target = url(for: lease.id) else {
            throw JournalError("refusing to journal a malformed lease id '\(lease.id)'")
        }
        let tmp = leasesDir.appendingPathComponent(".\(lease.id).tmp")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JournalError("cannot write \(tmp.path): \(String(cString: strerror(errno)))") }
        // A short write or a failed rename leaves the old entry in place and is reported. No
        // fsync: the rename is atomic for every process, and what an entry describes (kernel
        // objects, processes) does not outlive the system crash that fsync guards against.
        let ok = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) == $0.count }
        let why = errno
        close(fd)
        guard ok, rename(tmp.path, target.path) == 0 else {
            let e = ok ? errno : why
            if unlink(tmp.path) != 0 && errno != ENOENT {
                throw JournalError(
                    """
                    cannot write the lease journal in \(leasesDir.path): \(String(cString: strerror(e))); and \
                    \(tmp.path) is left: \(String(cString: strerror(errno)))
                    """
                )
            }
            throw JournalError("cannot write the lease journal in \(leasesDir.path): \(String(cString: strerror(e)))")
        }
    }

    /// A lease file is trusted only if it is a regular file owned by this user (no symlink, no
    /// file planted by someone else); anything else reads as unreadable.
    /// A command reads the same entry several times (its sweeps, the revert, the packet count):
    /// it is decoded once per version of its file, which the stat tells apart (every write is a
    /// new inode, by rename; an edit in place changes its times).
    public func read(_ id: String) -> Lease? {
        guard let path = path(for: id) else { return nil }
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == geteuid() else {
            decodedLock.withLock { decoded[id] = nil }
            return nil
        }
        let version = EntryVersion(st)
        if let cached = decodedLock.withLock({ decoded[id] }), cached.version == version { return cached.lease }
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let lease = try? Self.decoder.decode(Lease.self, from: data)
        decodedLock.withLock {
            decodes += 1
            decoded[id] = (version, lease)
        }
        return lease
    }

    /// What tells one version of an entry from another: its inode and times and size.
    struct EntryVersion: Equatable {
        let device: UInt64, inode: UInt64, size: Int64
        let mtime: timespec, ctime: timespec

        init(_ st: stat) {
            device = UInt64(st.st_dev); inode = UInt64(st.st_ino); size = Int64(st.st_size)
            mtime = st.st_mtim; ctime = st.st_ctim
        }

        static func == (a: Self, b: Self) -> Bool {
            a.device == b.device && a.inode == b.inode && a.size == b.size
                && a.mtime.tv_sec == b.mtime.tv_sec && a.mtime.tv_nsec == b.mtime.tv_nsec
                && a.ctime.tv_sec == b.ctime.tv_sec && a.ctime.tv_nsec == b.ctime.tv_nsec
        }
    }

    /// The entry's file, open for reading: a copy of the lease that stays readable after the
    /// entry is replaced or deleted (the watchdog inherits it from apply).
    public func openEntry(_ id: String) throws -> Int32 {
        guard let path = url(for: id)?.path else { throw JournalError("no journal entry for '\(id)'") }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw JournalError("cannot open \(path): \(String(cString: strerror(errno)))") }
        return fd
    }

    /// The lease in an entry opened by `openEntry`, read from its start.
    public static func read(entry fd: Int32) -> Lease? {
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(data.count)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            data += chunk[..<n]
        }
        return try? decoder.decode(Lease.self, from: Data(data))
    }

    public func exists(_ id: String) -> Bool {
        guard let path = path(for: id) else { return false }
        return access(path, F_OK) == 0
    }

    /// Removes a lease's entry; one that is already gone is not an error.
    public func remove(_ id: String) throws {
        decodedLock.withLock { decoded[id] = nil }
        guard let path = url(for: id)?.path, unlink(path) != 0, errno != ENOENT else { return }
        throw JournalError("cannot remove \(path) from the lease journal: \(String(cString: strerror(errno)))")
    }

    /// The ids of the lease files in the journal; a file whose name is not a lease id is not
    /// netfault's and is left alone.
    /// Read with readdir: serve reads the journal at every toxic, and FileManager's listing
    /// cost more than the rest of the toggle's journal work.
    private func fileIDs() -> [String] {
        guard let dir = opendir(leasesPath) else { return [] }
        defer { closedir(dir) }
        var ids: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasSuffix(".json"), !name.hasPrefix(".") else { continue }
            let id = String(name.dropLast(5))
            if Lease.isValidID(id) { ids.append(id) }
        }
        return ids
    }

    /// Lease files that cannot be read as a lease (truncated, corrupted): their objects are
    /// found by their marks instead.
    public func unreadable() -> [String] {
        fileIDs().filter { read($0) == nil }
    }

    /// Every readable lease, oldest first.
    public func all() -> [Lease] {
        fileIDs().compactMap(read).sorted { $0.created < $1.created }
    }
}
