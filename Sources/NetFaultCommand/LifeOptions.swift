import ArgumentParser
import NetFaultCore

/// --reset-after, --hang-after, --limit-data: faults over each connection's life, kept per
/// connection in the lease's nf_tables table.
public struct ConnectionLifeOptions: ParsableArguments {
    public init() {}
    @Option(
        name: .customLong("reset-after"),
        help: ArgumentHelp(
            """
            Reset each connection at its first packet more than this after its first (its SYN), on its own \
            clock (Toxiproxy's reset_peer with a timeout): the client's next send fails with ECONNRESET. An idle \
            connection is reset at its next packet. Connections open before the lease are left alone. With \
            --hang, no data passes and the connection is reset at its first packet past the time (Toxiproxy's \
            timeout with a time); a hung client sends only TCP's resends (0.2, 0.6, 1.4, 3 s... after its data), \
            so its reset can come up to that much late. E.g. 2s.
            """,
            valueName: "duration"))
    public var resetAfter: String?
    @Option(
        name: .customLong("hang-after"),
        help: ArgumentHelp(
            """
            Drop each connection's packets from this long after its first on (Toxiproxy's timeout, per \
            connection): it goes silent and the client's reads time out. E.g. 5s.
            """,
            valueName: "duration"))
    public var hangAfter: String?
    @Option(
        name: .customLong("limit-data"),
        help: ArgumentHelp(
            """
            Reset each connection once the server has sent it more than this many bytes (IP packets, headers \
            included; Toxiproxy's limit_data): the client gets a TCP reset in place of the server's next \
            segment. E.g. 4096 or 64KiB.
            """,
            valueName: "bytes"))
    public var limitData: String?
    @Option(
        name: .customLong("limit-data-action"),
        help: ArgumentHelp(
            """
            What a connection over its --limit-data meets: reset (the default) or close (the server's packets \
            are dropped from then on, and the client hears nothing more).
            """,
            valueName: "action"))
    public var limitDataAction: String?
    @Option(
        help: ArgumentHelp(
            """
            Set the MSS option of each new connection's SYN to this many bytes, so the server sends segments of \
            at most that much payload (Toxiproxy's slicer, approximated): 64 to 1400. Linux sends no segment \
            under 48 bytes (tcp_min_snd_mss) and timestamps take 12 of each.
            """,
            valueName: "bytes"))
    public var slice: String?

    public func parsed() throws -> ConnectionLife {
        try ConnectionLife.parse(
            resetAfter: resetAfter, hangAfter: hangAfter, limitData: limitData, limitAction: limitDataAction,
            slice: slice)
    }
}
