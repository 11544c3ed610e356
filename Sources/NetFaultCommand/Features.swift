import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel
import NetFaultLeases

// Which kernel features a lease needs, and where the program that runs watchdogs is: shared by
// netfault, netfault serve and netfault matrix.

/// The kernel features a request needs.
public func neededFeatures(_ r: FaultRequest) -> [KernelFeature] {
    var features: [KernelFeature] = r.netem.isEmpty ? [] : KernelFeature.netemFaults
    let f = r.filter
    // A share of connections is drawn by nf_tables, netem's too (its bands then steered there);
    // --connect-delay and --slow-close: only an nf_tables rule can pick their packets out.
    if !f.isEmpty || f.connections != nil || !r.netem.phases.isEmpty { features += KernelFeature.filterFaults }
    if f.connections != nil || f.mix != nil { features += KernelFeature.connectionDraws }
    if let life = f.life, life.timer != nil || life.limitData != nil { features += KernelFeature.connectionLife }
    if f.life?.slice != nil { features += KernelFeature.mssClamp }
    if f.scope != nil { features += KernelFeature.filterFaults + KernelFeature.socketScope }
    return features
}

/// How a command installs its leases, resolved once before the first: netem bands are steered
/// by the lease's nf_tables table, so that the kernel ends them at the deadline, where the
/// nf_tables features work (probed once per boot, like the rest; not probed without netem).
public func leasePolicy(for r: FaultRequest, journal: Journal) -> LeasePolicy {
    guard !r.netem.isEmpty else { return .u32 }
    let works = ProbeCache.results(for: KernelFeature.filterFaults, in: journal.directory).allSatisfy(\.ok)
    return LeasePolicy(steerWithNFTables: works)
}

/// Whether nf_tables and netem work here, by the per-boot probe cache (probed when unknown).
public func kernelFeatures(journal: Journal) -> (nfTables: Bool, netem: Bool) {
    let results = ProbeCache.results(for: KernelFeature.filterFaults + KernelFeature.netemFaults, in: journal.directory)
    let ok = Set(results.filter(\.ok).compactMap(\.kernelFeature))
    return (KernelFeature.filterFaults.allSatisfy(ok.contains), KernelFeature.netemFaults.allSatisfy(ok.contains))
}

/// Fails with 69, naming what is missing, unless the kernel has every feature listed.
public func requireFeatures(_ features: [KernelFeature], journal: Journal) throws {
    guard !features.isEmpty else { return }
    let results = ProbeCache.results(for: features, in: journal.directory)
    let missing = results.filter { !$0.ok }
    guard missing.isEmpty else {
        let lines = missing.map { "  \($0.feature): \($0.remedy ?? "") (\($0.detail))" }.joined(separator: "\n")
        var hint = "`netfault doctor` lists every feature"
        if missing.contains(where: { $0.kernelFeature == .netem }) {
            hint =
                """
                netem is CONFIG_NET_SCH_NETEM (modprobe sch_netem); without it, --loss-nft drops at random and \
                --blackhole, --reject, --reset, --hang work through nf_tables. 
                """
                + hint
        }
        throw Unavailable("this kernel lacks what these faults need:\n\(lines)\n\(hint)")
    }
}

/// netfault, beside this program: its `watchdog` command is what every lease's watchdog runs.
/// `who` names the program that needs it, for the message.
public func netfaultExecutable(for who: String) throws -> String {
    let path = siblingExecutable("netfault")
    guard access(path, X_OK) == 0 else {
        throw Unavailable("\(who) needs netfault beside it (\(path)) to start watchdogs; install both (make install)")
    }
    return path
}
