import FoundationEssentials
import NetFaultCore

/// One proxy as a backend sees it: where it forwards, whether it is up, its toxics in order.
public struct ProxyFaults: Sendable, Equatable {
    public var name: String
    public var upstream: HostPort
    public var enabled: Bool
    public var toxics: [Toxic]
    public init(name: String, upstream: HostPort, enabled: Bool, toxics: [Toxic]) {
        self.name = name; self.upstream = upstream; self.enabled = enabled; self.toxics = toxics
    }
}

/// Where toxics take effect: in the proxy's own streams (user space), or in the kernel. The
/// registry calls it under its lock, one change at a time, and does not ask which it is.
/// Refusals and failures are `ServeFailure`s; the router decides their HTTP status.
public protocol ToxicBackend: AnyObject, Sendable {
    var name: String { get }
    /// Refuses an upstream this backend will not fault, before the proxy exists.
    func check(upstream: HostPort) throws(ServeFailure)
    /// Refuses a toxic this backend cannot express, before anything changes.
    func check(_ toxic: Toxic) throws(ServeFailure)
    /// Makes the faults in force match the proxy's toxics and state: in its forwarder's streams
    /// (the proxy backend) or in the kernel.
    func apply(_ proxy: ProxyFaults, to forwarder: ToxicProxy) throws(ServeFailure)
    /// Removes every fault of a proxy that no longer exists.
    func remove(proxy name: String)
    /// Where this backend only approximates a toxic (netfault's own field in the toxic's JSON).
    func notes(for toxic: Toxic) -> [String]
    /// Reverts everything; the backend takes no more changes.
    func shutdown()
    /// What the kernel matched for each toxic of a proxy (GET /metrics); empty where no
    /// kernel counts (the proxy backend). Called outside the registry's lock.
    func matched(proxy name: String) -> [ToxicMatch]
}

extension ToxicBackend {
    public func matched(proxy name: String) -> [ToxicMatch] { [] }
}

/// Toxics run in the proxy's streams, as in Toxiproxy: the kernel is not touched.
public final class ProxyBackend: ToxicBackend {
    public init() {}
    public let name = "proxy"
    public func check(upstream: HostPort) throws(ServeFailure) {}
    public func check(_ toxic: Toxic) throws(ServeFailure) {}
    public func apply(_ proxy: ProxyFaults, to forwarder: ToxicProxy) throws(ServeFailure) {
        forwarder.setToxics(proxy.toxics)
    }
    public func remove(proxy name: String) {}
    public func notes(for toxic: Toxic) -> [String] { [] }
    public func shutdown() {}
}
