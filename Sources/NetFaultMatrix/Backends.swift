import FoundationEssentials
import Glibc
import NIOPosix
import NetFaultCommand
import NetFaultCore
import NetFaultKernel
import NetFaultServe
import NetFaultLeases

/// How a cell puts its fault in and takes it out. A scheduled fault goes in and out several
/// times during one run; `packetsMatched` adds up what its leases matched.
protocol CellFault: AnyObject {
    func put() throws
    func takeOut() throws
    /// Packets the fault's rules matched so far (kernel backend), read before takeOut.
    var packetsMatched: UInt64? { get }
}

/// The kernel backend: each on-period is a lease, with its watchdog, as `netfault run` makes.
final class LeaseFault: CellFault {
    let manager: LeaseManager
    let request: FaultRequest
    let policy: LeasePolicy
    let executable: String
    private var lease: Lease?
    private var matched: UInt64 = 0
    private var counted = false

    init(manager: LeaseManager, request: FaultRequest, policy: LeasePolicy, executable: String) {
        self.manager = manager; self.request = request; self.policy = policy; self.executable = executable
    }

    func put() throws {
        lease = try manager.apply(
            request, policy: policy, executable: executable, controller: ProcessIdentity.current()
        ).lease
    }

    func takeOut() throws {
        guard let lease else { return }
        self.lease = nil
        let n = try manager.revertCounting(id: lease.id).matched
        if let n { matched += n; counted = true }
    }

    var packetsMatched: UInt64? { counted ? matched : nil }
}

/// The proxy backend: toxics on the service's proxy in the built-in proxy, or the proxy turned
/// off (refused connections).
final class ToxicFault: CellFault {
    let registry: ProxyRegistry
    let proxy: String
    let plan: FaultWords.ProxyPlan
    private var names: [String] = []

    init(registry: ProxyRegistry, proxy: String, plan: FaultWords.ProxyPlan) {
        self.registry = registry; self.proxy = proxy; self.plan = plan
    }

    func put() throws {
        do {
            for t in plan.toxics { names.append(try registry.addToxic(proxy, t).toxic.name) }
            if plan.disable { _ = try registry.setEnabled(proxy, false) }
        } catch { throw ProcessError("the proxy refused the fault: \(error)") }
    }

    func takeOut() throws {
        do {
            for n in names { try registry.deleteToxic(proxy, n) }
            names = []
            if plan.disable { _ = try registry.setEnabled(proxy, true) }
        } catch { throw ProcessError("the proxy could not take the fault out: \(error)") }
    }

    var packetsMatched: UInt64? { nil }
}

/// netfault serve's proxies, in this process, one per service, for the whole matrix.
final class Proxies {
    let registry: ProxyRegistry
    private let group: MultiThreadedEventLoopGroup

    init(services: [Scenario.Service]) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        registry = ProxyRegistry(backend: ProxyBackend(), group: group)
        for s in services {
            do {
                _ = try registry.create(
                    ProxySettings(name: s.name, listen: s.listen.description, upstream: s.upstream.description))
            } catch {
                shutdown()
                throw Unavailable("the proxy for \(s.name) cannot listen on \(s.listen): \(error)")
            }
        }
    }

    func shutdown() {
        registry.shutdown()
        try? group.syncShutdownGracefully()
    }
}

/// Runs `body` with the fault in for the whole time, or put in and out on its schedule from
/// another thread, as `netfault run --after/--every/--on` does.
func withFault<T>(_ fault: CellFault, schedule: Schedule, limit: Duration, _ body: () throws -> T) throws -> T {
    if schedule.fromStart {
        try fault.put()
        let result: T
        do { result = try body() } catch { try? fault.takeOut(); throw error }
        try fault.takeOut()
        return result
    }
    let periods = try ScheduleThread(schedule, limit: limit) { clock, _, end in
        try fault.put()
        let stillRunning = clock.sleep(until: end)
        try fault.takeOut()
        return stillRunning
    }
    let result: T
    do { result = try body() } catch { try? periods.finish(); throw error }
    try periods.finish()
    return result
}
