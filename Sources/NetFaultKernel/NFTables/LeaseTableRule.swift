import NetFaultCore

/// A rule of a lease's table: the chain its hook names, its expressions and its comment are all
/// a NEWRULE message needs (NFTablesRequests.newRule).
protocol LeaseTableRule {
    var hook: FilterRule.Hook { get }
    var expressions: [NFTExpression] { get }
    var comment: String { get }
}

extension FilterRule: LeaseTableRule {}
extension ShareRule: LeaseTableRule {}
extension ForgetRule: LeaseTableRule {}
extension TimerStart: LeaseTableRule {}
extension SliceRule: LeaseTableRule {}
extension LifeRule: LeaseTableRule {}
