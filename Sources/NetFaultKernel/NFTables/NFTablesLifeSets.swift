import CNFTables
import Glibc
import NetFaultCore

extension NFTablesRequests {
    /// The plan's connection-life sets: per family with a timer `young` (the timer's length, at
    /// most the lease's) and `seen` (the lease's); per family with a budget, `budget` (the
    /// lease's). Elements added from the packet path take their set's timeout.
    static func lifeSets(_ plan: FilterPlan, timeoutMilliseconds lease: UInt64) -> [Message] {
        guard let life = plan.life else { return [] }
        var out: [Message] = []
        for family in life.timerFamilies {
            for young in [true, false] {
                out.append(
                    newConnectionSet(
                        table: plan.table, name: Ownership.timerSet(young: young, family: family),
                        id: Ownership.timerSetID(young: young, family: family), family: family,
                        timeoutMilliseconds: young ? life.timerMilliseconds(lease: lease) : lease))
            }
        }
        for family in life.budgetFamilies {
            out.append(
                newConnectionSet(
                    table: plan.table, name: Ownership.budgetSet(family), id: Ownership.budgetSetID(family),
                    family: family, timeoutMilliseconds: lease))
        }
        return out
    }
}
