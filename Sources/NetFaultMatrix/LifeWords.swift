import NetFaultCore
import NetFaultServe

extension FaultWords {
    /// The proxy's toxics for the faults over a connection's life and its phases (issue 26):
    /// --slow-close is slow_close, --limit-data limit_data, --slice a slicer; --connect-delay has
    /// no equivalent (a proxy accepts at once), nor have the per-connection timers here.
    static func lifeToxics(_ r: FaultRequest, streams: [ToxicStream], into plan: inout ProxyPlan) {
        if r.netem.connectDelay != nil {
            plan.unsupported =
                "no proxy equivalent for --connect-delay: the proxy accepts each connection at once "
                + "(Toxiproxy has no slow open)"
            return
        }
        if let close = r.netem.slowClose {
            for s in streams { plan.toxics.append(Toxic(.slowClose(SlowCloseToxic(delay: close)), stream: s)) }
        }
        guard let life = r.filter.life else { return }
        if life.timer != nil {
            plan.unsupported = "no proxy equivalent here for --reset-after and --hang-after"
            return
        }
        if let bytes = life.limitData {
            plan.toxics.append(Toxic(.limitData(LimitDataToxic(bytes: Int64(bytes))), stream: .downstream))
            plan.notes.append(
                "the proxy closes the connection after exactly that many bytes of data; the kernel counts IP packets "
                    + "and resets the client")
        }
        if let slice = life.slice {
            plan.toxics.append(Toxic(.slicer(SlicerToxic(averageSize: Int64(slice))), stream: .downstream))
        }
    }

    /// Why a request cannot run on a kernel with netem but without nf_tables: --connect-delay and
    /// --slow-close need nf_tables to pick their packets out; nil when it can.
    static func phaseSkip(_ r: FaultRequest, hasNFTables: Bool, kernel: String) -> String? {
        guard !r.netem.phases.isEmpty, !hasNFTables else { return nil }
        let options = r.netem.phases.map(\.phase.option).joined(separator: " and ")
        let need = r.netem.phases.count > 1 ? "need" : "needs"
        return "unsupported here: \(options) \(need) nf_tables as well as netem, and this kernel (\(kernel)) has no "
            + "usable nf_tables; the row runs where it has both (the VM)"
    }
}
