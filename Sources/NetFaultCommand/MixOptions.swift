import NetFaultCore

extension FilterOptions {
    /// `--connections 30%:reject,10%:hang`: the mix names each group's fault, so no other
    /// connection fault may be given beside it.
    func mixSpec(_ text: String, _ direction: Direction, _ netem: NetemSpec) throws -> FilterSpec {
        let mix = try ConnectionMix.parse(text)
        let others = [
            (blackhole, "--blackhole"), (reject, "--reject"), (reset, "--reset"), (hang, "--hang"),
            (lossNft != nil, "--loss-nft")
        ].filter(\.0).map(\.1)
        guard others.isEmpty else {
            throw InputError(
                """
                --connections \(mix) names each group's fault; leave out \(others.joined(separator: " and ")), or give \
                one fault with --connections P%
                """)
        }
        var s = FilterSpec(mix: mix)
        let given = try life.parsed()
        s.life = given.isEmpty ? nil : given
        try s.validate(direction: direction, netem: netem)
        return s
    }
}
