import FoundationEssentials
import Glibc
import NetFaultCore

/// What the kernel is asked for one TCStep, and the kernel feature that answer depends on.
public struct TCStepCall: Sendable {
    public let request: NetlinkRequest
    /// The feature the request needs (nil: none beyond rtnetlink): the kernel's "unknown kind"
    /// answer to it becomes a FeatureMissing that names it and says what to install.
    public let feature: KernelFeature?

    /// Sends the request; a missing feature is reported as one.
    func perform(on nl: NetlinkSocket, _ operation: String) throws {
        guard let feature else { return try nl.perform(request, operation) }
        try FeatureMissing.check(feature) { try nl.perform(request, operation) }
    }
}

extension TCStep {
    /// The one place that turns a step into netlink: its request, with device names resolved by
    /// `index`, and the feature it needs. (`command` says the same in iproute2's words.)
    public func kernelCall(
        distributionTable: [Int16]? = nil, index: (String) throws -> Int32
    ) throws -> TCStepCall {
        typealias R = TCRequests
        switch self {
        case .createIfb(let name):
            return TCStepCall(request: R.addIfb(name: name), feature: .ifbMirred)
        case .linkUp(let d):
            return TCStepCall(request: R.setLinkUp(index: try index(d)), feature: nil)
        case .addRootPrio(let d):
            return TCStepCall(request: R.addRootPrio(ifindex: try index(d)), feature: .prio)
        case .addNetem(let d, let band, let netem):
            let request = R.addNetem(
                ifindex: try index(d), band: band, spec: netem, distributionTable: distributionTable)
            return TCStepCall(request: request, feature: .netem)
        case .addBandFilter(let d, let band, let m):
            return TCStepCall(request: R.addBandFilter(ifindex: try index(d), band: band, match: m), feature: .u32)
        case .addIngress(let d):
            return TCStepCall(request: R.addIngress(ifindex: try index(d)), feature: nil)
        case .addRedirect(let d, let band, let m, let ifb):
            let request = R.addRedirectFilter(ifindex: try index(d), band: band, match: m, ifbIndex: try index(ifb))
            return TCStepCall(request: request, feature: .u32)
        }
    }
}
