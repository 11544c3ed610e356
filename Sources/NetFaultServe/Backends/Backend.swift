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

/// Where toxics take effect: in the proxy's own streams (user space), or in the kernel.
/// The registry calls it under its lock, one change at a time.
public protocol ToxicBackend: AnyObject, Sendable {
    var name: String { get }
    /// The proxies' forwarders run the toxics themselves (the proxy backend).
    var runsToxicsInProxy: Bool { get }
    /// Refuses an upstream this backend will not fault, before the proxy exists.
    func check(upstream: HostPort) throws(ApiError)
    /// Refuses a toxic this backend cannot express, before anything changes.
    func check(_ toxic: Toxic) throws(ApiError)
    /// Makes the faults in force match the proxy's toxics and state.
    func apply(_ proxy: ProxyFaults) throws(ApiError)
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
    public let runsToxicsInProxy = true
    public func check(upstream: HostPort) throws(ApiError) {}
    public func check(_ toxic: Toxic) throws(ApiError) {}
    public func apply(_ proxy: ProxyFaults) throws(ApiError) {}
    public func remove(proxy name: String) {}
    public func notes(for toxic: Toxic) -> [String] { [] }
    public func shutdown() {}
}

extension ApiError {
    /// A netfault error as the API answers it: bad values 400, a conflict with another lease
    /// 409, a kernel without the feature 501, anything else 500.
    static func from(_ error: Error) -> ApiError {
        switch error {
        case let e as ApiError: e
        case let e as InputError: ApiError(e.description, status: 400)
        case let e as PlanConflict: ApiError(e.description, status: 409)
        case let e as Unavailable: ApiError(e.description, status: 501)
        default: ApiError("\(error)", status: 500)
        }
    }
}
