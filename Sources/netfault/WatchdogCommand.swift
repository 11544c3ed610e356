import ArgumentParser
import Glibc
import Logging
import NetFaultCommand
import NetFaultLeases

/// `netfault __watchdog ID`: a lease's watchdog after an exec, where apply could not fork it
/// (a process with more than one thread: serve, matrix).
struct WatchdogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: WatchdogProcess.command, _superCommandName: NetFault.superCommandName, shouldDisplay: false)
    @Argument var lease: String
    @Option(name: .customLong("entry-fd")) var entryFD: Int32?
    @Option(name: .customLong("table-fd")) var tableFD: Int32?
    @Option(name: .customLong("claim-fds")) var claimFDs: String?

    func run() throws {
        do { try Lease.checkID(lease) } catch { throw fail(error) }
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        var logger = Logger(label: "netfault.watchdog")
        logger[metadataKey: "pid"] = "\(getpid())"
        logger.info("started by exec")
        let journal: Journal
        do { journal = try Journal() } catch { throw fail(error) }
        throw ExitCode(WatchdogProcess.run(
                leaseID: lease, journal: journal, logger: logger, entryFD: entryFD, tableFD: tableFD,
                claimFDs: (claimFDs ?? "").split(separator: ",").compactMap { Int32($0) }))
    }
}
