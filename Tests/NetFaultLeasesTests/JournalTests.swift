import Foundation
import NetFaultCore
import Testing
@testable import NetFaultLeases

/// The lease journal's file-system rules, on a scratch directory (no kernel access).
struct JournalTests {
    static func scratch() -> URL {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
            "netfault-journal-\(UUID().uuidString)")
        return url
    }

    static func lease(_ id: String = Lease.newID()) -> Lease {
        Lease(
            id: id, target: Target(ports: [6379], name: "redis"), direction: .toServer,
            netem: NetemSpec(delay: .milliseconds(10)),
            device: "lo", plan: LeasePlan(bands: [], redirects: []),
            // Whole seconds: the journal stores dates as seconds since 1970, a Double.
            created: Date(timeIntervalSince1970: 1_800_000_000), deadline: Date(timeIntervalSince1970: 1_800_000_060),
            watchdog: ProcessIdentity(pid: 42, startTime: 7))
    }

    func mode(_ path: String) -> mode_t {
        var st = stat()
        lstat(path, &st)
        return st.st_mode & 0o7777
    }

    @Test("creates its directories 0700 and lease files 0600, and reads back what it wrote")
    func modesAndRoundTrip() throws {
        let dir = Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let journal = try Journal(directory: dir)
        #expect(mode(dir.path) == 0o700)
        #expect(mode(dir.appendingPathComponent("leases").path) == 0o700)
        let lease = Self.lease()
        try journal.write(lease)
        #expect(mode(journal.url(for: lease.id)!.path) == 0o600)
        #expect(journal.read(lease.id) == lease)
        #expect(journal.all() == [lease])
        try journal.remove(lease.id)
        try journal.remove(lease.id)  // already gone: not an error
        #expect(journal.all().isEmpty)
    }

    @Test("tightens a group- or world-readable directory to 0700")
    func tightensModes() throws {
        let dir = Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        mkdir(dir.path, 0o755)
        chmod(dir.path, 0o755)
        _ = try Journal(directory: dir)
        #expect(mode(dir.path) == 0o700)
    }

    @Test("refuses a symlink in place of the state directory")
    func refusesSymlink() throws {
        let real = Self.scratch(), link = Self.scratch()
        defer { try? FileManager.default.removeItem(at: real); unlink(link.path) }
        mkdir(real.path, 0o700)
        symlink(real.path, link.path)
        #expect(throws: JournalError.self) { _ = try Journal(directory: link) }
    }

    @Test("refuses a directory another user owns", .enabled(if: geteuid() == 0, "needs root to give a directory away"))
    func refusesForeignOwner() throws {
        let dir = Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        mkdir(dir.path, 0o700)
        chown(dir.path, 65534, 65534)
        let error = #expect(throws: JournalError.self) { _ = try Journal(directory: dir) }
        #expect(error?.message.contains("owned by uid 65534") == true)
    }

    @Test("a lease file that is a symlink, or owned by someone else, is not trusted")
    func untrustedLeaseFiles() throws {
        let dir = Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let journal = try Journal(directory: dir)
        let real = Self.lease("nf-aaaaaa")
        try journal.write(real)
        symlink(journal.url(for: real.id)!.path, journal.url(for: "nf-bbbbbb")!.path)
        #expect(journal.read("nf-bbbbbb") == nil)
        #expect(journal.unreadable() == ["nf-bbbbbb"])
        if geteuid() == 0 {
            chown(journal.url(for: real.id)!.path, 65534, 65534)
            #expect(journal.read(real.id) == nil)
        }
    }

    @Test("a state directory that cannot be created gives a clear message")
    func unwritable() {
        let error = #expect(throws: JournalError.self) {
            _ = try Journal(directory: URL(fileURLWithPath: "/proc/netfault-cannot-exist"))
        }
        #expect(error?.message.contains("cannot create the state directory") == true)
    }

    @Test("an entry is decoded once per version of its file, and a changed file is read again")
    func decodesOncePerVersion() throws {
        let dir = Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let journal = try Journal(directory: dir)
        var lease = Self.lease()
        try journal.write(lease)
        for _ in 0..<3 { #expect(journal.read(lease.id) == lease) }
        #expect(journal.all() == [lease])
        #expect(journal.decodes == 1)
        // Another process (another Journal) replaces the entry: read again, not the old copy.
        lease.state = .reverting
        try Journal(directory: dir).write(lease)
        #expect(journal.read(lease.id) == lease)
        #expect(journal.decodes == 2)
        // Rewritten in place (same inode): read again, and found unreadable.
        let path = journal.url(for: lease.id)!.path
        let fd = open(path, O_WRONLY | O_TRUNC)
        #expect(write(fd, "{", 1) == 1)
        close(fd)
        #expect(journal.read(lease.id) == nil)
        #expect(journal.unreadable() == [lease.id])
        try journal.remove(lease.id)
        #expect(journal.read(lease.id) == nil)
    }

    @Test("unreadable lease files are listed apart, not as leases")
    func corruptedEntries() throws {
        let dir = Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let journal = try Journal(directory: dir)
        let good = Self.lease()
        try journal.write(good)
        try Data("{\"id\": \"nf-".utf8).write(to: journal.url(for: "nf-bad000")!)
        #expect(journal.all() == [good])
        #expect(journal.unreadable() == ["nf-bad000"])
    }

    @Test(
        "lease ids: only nf- and six lowercase hex digits",
        arguments: [
            ("nf-84ac52", true), ("nf-000000", true), ("nf-ffffff", true),
            ("../../victim", false), ("nf-84ac52/../../x", false), ("nf-84AC52", false), ("nf-84ac5", false),
            ("nf-84ac521", false), ("nf-84ac5g", false), ("xx-84ac52", false), ("", false), ("nf-٣٣٠٦٣٣", false),
            ("/etc/passwd", false), ("nf-84ac52\u{0}", false)
        ])
    func leaseIDFormat(id: String, valid: Bool) {
        #expect(Lease.isValidID(id) == valid)
        #expect((journalURL(id) != nil) == valid)
    }

    func journalURL(_ id: String) -> URL? {
        (try? Journal(directory: Self.scratch())).flatMap { $0.url(for: id) }
    }

    @Test("an id that walks out of the journal reads nothing and deletes nothing")
    func traversalIDs() throws {
        let dir = Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let journal = try Journal(directory: dir)
        // A well-formed lease file outside the journal, where "../victim" would lead.
        let victim = dir.appendingPathComponent("victim.json")
        try Journal.encoder.encode(Self.lease("nf-abcdef")).write(to: victim)
        for id in ["../victim", "../../\(dir.lastPathComponent)/victim", victim.deletingPathExtension().path] {
            #expect(journal.read(id) == nil)
            #expect(!journal.exists(id))
            try journal.remove(id)
            #expect(FileManager.default.fileExists(atPath: victim.path), "\(id) removed a file outside the journal")
        }
        #expect(throws: JournalError.self) { try journal.write(Self.lease("../victim")) }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(".../victim.tmp").path))
        // A stray file with another name in the journal is not netfault's: never listed for removal.
        try Data("x".utf8).write(to: dir.appendingPathComponent("leases/notes.json"))
        #expect(journal.unreadable().isEmpty)
    }

    @Test("a process is told apart from a later one reusing its pid")
    func processIdentity() throws {
        let me = try #require(ProcessIdentity.current())
        #expect(me.isAlive)
        #expect(!ProcessIdentity(pid: me.pid, startTime: me.startTime + 1).isAlive)
        #expect(!ProcessIdentity(pid: Int32.max, startTime: 1).isAlive)
    }
}

/// The lease's life as the journal records it.
struct LeaseStateTests {
    @Test("states round-trip; only journalled and watchdog-started are still installing; old entries are installed")
    func states() throws {
        var lease = JournalTests.lease("nf-00000d")
        for (state, installing) in [
            (Lease.State.journalled, true), (.watchdogStarted, true), (.installed, false), (.reverting, false)
        ] {
            lease.state = state
            let back = try Journal.decoder.decode(Lease.self, from: Journal.encoder.encode(lease))
            #expect(back.state == state && back.installing == installing)
        }
        lease.state = nil
        let json = String(decoding: try Journal.encoder.encode(lease), as: UTF8.self)
        #expect(!json.contains("\"state\""))
        #expect(try Journal.decoder.decode(Lease.self, from: Data(json.utf8)).installing == false)
        lease.state = .watchdogStarted
        #expect(String(decoding: try Journal.encoder.encode(lease), as: UTF8.self).contains("\"watchdog-started\""))
    }
}
