import NetFaultCore

/// What the registry and its backends refuse or fail at, by what it means. Neither knows HTTP:
/// the router turns a failure into a status and Toxiproxy's error body in one place
/// (`ApiError.init(_:)`), and serve's start turns one from --config into an exit status.
public enum ServeFailure: NetfaultError, Equatable, Sendable {
    /// The API refused the request as it read it (its body, a name): Toxiproxy's own answer.
    case request(ApiError)
    case proxyNotFound, proxyAlreadyExists, toxicNotFound, toxicAlreadyExists
    /// --allow-listen (or its absence) does not allow the address; the message names the flag.
    case listenNotAllowed(String)
    /// The listener could not open (a port in use), in Toxiproxy's words.
    case listenFailed(address: String, reason: String)
    /// The kernel backend faults only the ports of --allow-ports.
    case upstreamNotAllowed(port: UInt16, allowed: [UInt16])
    /// The kernel backend cannot resolve the upstream's host name.
    case unresolvableUpstream(host: String)
    /// The kernel backend cannot express this toxic; the proxy backend can.
    case cannotExpress(toxic: String, type: ToxicType, why: String)
    /// A toxicity below 1 the kernel backend cannot draw: `why` says what stands in its way.
    case partialToxicity(toxic: String, toxicity: Double, why: String)
    /// This kernel has no netem, which the toxic needs.
    case noNetem(toxic: String, type: ToxicType)
    /// A fault the planner refuses (bad values, as a netfault command would refuse them).
    case invalid(String)
    /// Another lease holds these packets.
    case conflict(String)
    /// The kernel lacks a feature the fault needs.
    case unavailable(String)
    case shuttingDown
    /// Anything else the kernel or the system answered.
    case failed(String)

    /// A netfault error as a failure: bad values, a conflict with another lease, a missing
    /// kernel feature, anything else.
    public init(_ error: any Error) {
        switch error {
        case let e as ServeFailure: self = e
        case let e as ApiError: self = .request(e)
        case let e as InputError: self = .invalid(e.description)
        case let e as PlanConflict: self = .conflict(e.description)
        case let e as Unavailable: self = .unavailable(e.description)
        default: self = .failed("\(error)")
        }
    }

    /// As a program's exit (serve's --config): the caller's values 64, a kernel feature missing
    /// 69 (as every netfault command), what exists or is held 73, the system 71; the same split
    /// as the HTTP statuses.
    public var exitStatus: Int32 {
        switch self {
        case .proxyAlreadyExists, .toxicAlreadyExists, .conflict: ExitStatus.cantCreate
        case .noNetem, .unavailable: ExitStatus.unavailable
        case .listenFailed, .failed, .shuttingDown: ExitStatus.osError
        case .request(let e) where e.status == 409: ExitStatus.cantCreate
        case .request(let e) where !(400..<500).contains(e.status): ExitStatus.osError
        default: ExitStatus.usage
        }
    }

    public var description: String {
        switch self {
        case .request(let e): e.error
        case .proxyNotFound: ApiError.proxyNotFound.error
        case .proxyAlreadyExists: ApiError.proxyAlreadyExists.error
        case .toxicNotFound: ApiError.toxicNotFound.error
        case .toxicAlreadyExists: ApiError.toxicAlreadyExists.error
        case .listenNotAllowed(let why), .invalid(let why), .conflict(let why), .unavailable(let why),
            .failed(let why):
            why
        case .listenFailed(let address, let reason): "listen tcp \(address): \(reason)"
        case .upstreamNotAllowed(let port, let allowed):
            """
            upstream port \(port) is not one this daemon may fault; it faults only the ports of --allow-ports \
            (\(allowed.sorted().map(String.init).joined(separator: ",")))
            """
        case .unresolvableUpstream(let host):
            "the kernel backend cannot resolve upstream host '\(host)'; give an IP address, localhost or a name "
                + "this host resolves"
        case .cannotExpress(let toxic, let type, let why):
            "the kernel backend cannot express toxic '\(toxic)' (\(type.rawValue)): \(why); "
                + "run netfault serve --backend proxy for it"
        case .partialToxicity(let toxic, let toxicity, let why):
            """
            the kernel backend cannot draw toxicity \(toxicity) of toxic '\(toxic)': \(why); give toxicity 1, or \
            run netfault serve --backend proxy
            """
        case .noNetem(let toxic, let type):
            """
            this kernel has no netem (CONFIG_NET_SCH_NETEM), which toxic '\(toxic)' (\(type.rawValue)) \
            needs; run netfault serve --backend proxy, or a kernel with netem
            """
        case .shuttingDown: "the daemon is shutting down"
        }
    }
}

extension ApiError {
    /// A failure as the API answers it, the one place statuses are decided: the request's or
    /// the caller's fault 400 (403 where a flag of the daemon refuses it), what does not exist
    /// 404, what exists or is held 409, a kernel without the feature 501, a stopping daemon 503,
    /// anything else 500.
    public init(_ failure: ServeFailure) {
        let status =
            switch failure {
            case .request(let e): e.status
            case .invalid, .unresolvableUpstream, .cannotExpress, .partialToxicity: 400
            case .listenNotAllowed, .upstreamNotAllowed: 403
            case .proxyNotFound, .toxicNotFound: 404
            case .proxyAlreadyExists, .toxicAlreadyExists, .conflict: 409
            case .noNetem, .unavailable: 501
            case .shuttingDown: 503
            case .listenFailed, .failed: 500
            }
        self.init(failure.description, status: status)
    }
}
