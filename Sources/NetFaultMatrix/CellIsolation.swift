import FoundationEssentials
import NetFaultCore
import NetFaultKernel
import NetFaultServe

/// What keeps a cell apart from the cells beside it under --jobs: a kernel cell's command runs
/// in a cgroup of its own, to which its leases are scoped; a proxy cell's command talks to
/// proxies of its own, so the toxics of one never reach another's connections.
final class CellIsolation {
    let cgroup: RunCgroup?
    let proxies: CellProxies?

    init(cgroup: RunCgroup? = nil, proxies: CellProxies? = nil) { self.cgroup = cgroup; self.proxies = proxies }

    /// Where the command reaches `service` through the proxy backend; nil: the scenario's listen.
    func listen(_ service: String) -> HostPort? { proxies?.listen[service] }

    func end() {
        cgroup?.end()
        proxies?.remove()
    }
}

/// A proxy cell's own proxies, one per service, each on a port the kernel picks on its service's
/// listen host, named SERVICE@cellN in the matrix's proxy registry; removed when the cell ends.
final class CellProxies {
    let registry: ProxyRegistry
    private(set) var names: [String: String] = [:]
    private(set) var listen: [String: HostPort] = [:]

    init(registry: ProxyRegistry, services: [Scenario.Service], cell: Int) throws {
        self.registry = registry
        for s in services {
            let name = "\(s.name)@cell\(cell)"
            // The scenario's listen address with port 0: "127.0.0.1:0", "[::1]:0".
            let text = s.listen.description
            let any = String(text[..<(text.lastIndex(of: ":") ?? text.endIndex)]) + ":0"
            do {
                let view = try registry.create(
                    ProxySettings(name: name, listen: any, upstream: s.upstream.description))
                names[s.name] = name
                guard let bound = HostPort.parse(view.listen) else { throw ProcessError("bound at \(view.listen)") }
                listen[s.name] = bound
            } catch {
                remove()
                throw Unavailable("the proxy for \(s.name) of cell \(cell) cannot listen on \(any): \(error)")
            }
        }
    }

    func remove() {
        for name in names.values { try? registry.delete(name) }
        names = [:]
    }
}
