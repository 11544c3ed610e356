import Foundation
import Testing
@testable import netfault
import NetFaultCommand

/// Who `netfault run` starts its command as: decided from the uid and the environment alone.
struct CommandIdentityTests {
    @Test("sudo from root (SUDO_UID=0): the command runs as root, with nothing to drop")
    func sudoFromRoot() throws {
        let id = try CommandIdentity.forRun(
            asRoot: false, uid: 0, gid: 0, environment: ["SUDO_UID": "0", "SUDO_GID": "0", "HOME": "/root"])
        #expect(!id.drop && id.uid == 0 && id.gid == 0)
        #expect(id.environment["HOME"] == "/root")
    }

    @Test("sudo from another user: the command drops to that user; --as-root keeps root")
    func sudoFromUser() throws {
        let env = ["SUDO_UID": "65534", "SUDO_GID": "65534"]
        let user = try CommandIdentity.forRun(asRoot: false, uid: 0, gid: 0, environment: env)
        #expect(user.drop && user.uid == 65534 && user.gid == 65534)
        let root = try CommandIdentity.forRun(asRoot: true, uid: 0, gid: 0, environment: env)
        #expect(!root.drop && root.uid == 0)
    }

    @Test("not root, or no SUDO_UID: the command runs as ourselves")
    func noSudo() throws {
        #expect(try !CommandIdentity.forRun(asRoot: false, uid: 1000, gid: 1000, environment: ["SUDO_UID": "0"]).drop)
        #expect(try !CommandIdentity.forRun(asRoot: false, uid: 0, gid: 0, environment: [:]).drop)
    }
}
