import ArgumentParser
import FoundationEssentials
import Glibc
import NetFaultCommand
import NetFaultCore
import NetFaultKernel
import NetFaultLeases

@main
struct NetFault: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netfault",
        abstract:
            """
            Inject network faults into a service's traffic inside the Linux kernel, under leases that end at \
            their deadline.
            """,
        discussion: """
            Netem faults (delay, loss, duplication, corruption, reordering, rate) go into traffic \
            control; connection faults (blackhole, reject, reset, hang, loss) into nf_tables. All \
            are installed through netlink (no tc, nft, iptables or ip is run) under a lease with a \
            deadline, which a detached watchdog keeps; where nf_tables works the kernel itself ends \
            connection faults and netem on leaving traffic on time. Clients keep talking to the real \
            server address, so pools, timeouts and retries behave as in production.

            Exit status:
              0   success
              64  bad value or combination (nothing was changed)
              65  run --expect-traffic: the faults matched no packet
              66  --cgroup names no cgroup v2 here
              67  --uid names no user here
              69  the kernel lacks a needed feature (see `netfault doctor`), or no
                  (writable) cgroup2 mount for --cgroup or run --scope command
              71  the kernel refused a request
              73  a configuration netfault will not touch (a user's qdisc, a lease
                  already faulting the same packets), or /run/netfault is unusable
              77  no CAP_NET_ADMIN (or, for --netns, no CAP_SYS_ADMIN)

            In a container, netfault needs only --cap-add NET_ADMIN; docs/containers.md has the \
            sidecar pattern (--network container:NAME) and what each command needs.
            """,
        version: NetFaultVersion.current,
        subcommands: [
            Apply.self, RunCommand.self, Status.self, Revert.self, Doctor.self, Serve.self, Matrix.self,
            WatchdogCommand.self
        ])
}

extension NetFault {
    /// What the subcommands `main` parses alone name as their program. Besides putting
    /// "netfault" before "apply" in what such a parse prints, it skips ArgumentParser's check
    /// for `--generate-completion-script`, which builds two more commands' arguments through
    /// reflection: a fifth of `--version`'s CPU. A request for a script fails that parse and
    /// goes to the full parser, which answers it.
    static let superCommandName = "netfault"

    /// The subcommands `main` may parse alone, by name. A switch, not a dictionary: building
    /// `[String: ParsableCommand.Type]` took 4% of every start in type metadata and lookups.
    static func fastPath(_ name: String) -> ParsableCommand.Type? {
        switch name {
        case "apply": Apply.self
        case "run": RunCommand.self
        case "status": Status.self
        case "revert": Revert.self
        case "doctor": Doctor.self
        case WatchdogProcess.command: WatchdogCommand.self
        default: nil
        }
    }

    /// Parses a well-formed command line with its subcommand alone: building the whole command
    /// tree (every subcommand's options, through reflection) was a sixth of a revert's time.
    /// Anything else (help, a mistake, `--version`) goes through the full parser, which says
    /// it the usual way, as `netfault SUBCOMMAND`.
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        if args.first == "serve" { execSibling("netfault-serve", as: "netfault serve", Array(args.dropFirst())) }
        if args.first == "matrix" { execSibling("netfault-matrix", as: "netfault matrix", Array(args.dropFirst())) }
        // parseAsRoot answers --help with a help command of its own: only the subcommand itself
        // takes this path.
        if let name = args.first, let type = fastPath(name),
            var command = try? type.parseAsRoot(Array(args.dropFirst())), Swift.type(of: command) == type
        {
            do {
                try command.run()
                Self.exit()
            } catch {
                Self.exit(withError: error)
            }
        }
        Self.main(nil)
    }
}

/// `netfault serve` is the program netfault-serve beside this one: its SwiftNIO code stays out
/// of every other command's start. This entry lists it in the help and the manual; the whole
/// command line goes to netfault-serve, which parses it (`netfault serve --help` included).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve Toxiproxy's HTTP API, with toxics as kernel faults or in a built-in proxy.",
        discussion: """
            Runs netfault-serve, installed beside netfault; `netfault serve --help` (or man \
            netfault-serve) has its options, and docs/serve.md each toxic in both backends.
            """)

    @Argument(parsing: .captureForPassthrough, help: "netfault-serve's options.")
    var options: [String] = []

    func run() throws { execSibling("netfault-serve", as: "netfault serve", options) }
}

/// `netfault matrix` is the program netfault-matrix beside this one, for the same reason: it
/// holds the proxy backend (SwiftNIO) and the YAML parser.
struct Matrix: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "matrix",
        abstract: "Run a command under each fault, through the kernel and through a proxy, and report.",
        discussion: """
            Runs netfault-matrix, installed beside netfault; `netfault matrix --help` (or man \
            netfault-matrix) has its options, and docs/matrix.md the scenario format and the report.
            """)

    @Argument(parsing: .captureForPassthrough, help: "netfault-matrix's arguments.")
    var options: [String] = []

    func run() throws { execSibling("netfault-matrix", as: "netfault matrix", options) }
}

/// Replaces this process with the program `name` beside it; exits 69 when it is not installed.
func execSibling(_ name: String, as command: String, _ args: [String]) -> Never {
    let path = siblingExecutable(name)
    let argv = ([path] + args).map { strdup($0) } + [nil]
    execv(path, argv)
    let reason = String(cString: strerror(errno))
    writeStandardError(
        """
        netfault: error: \(command) runs \(path), which cannot be started (\(reason)); install it beside netfault \
        (make install)

        """)
    Glibc.exit(ExitStatus.unavailable)
}
