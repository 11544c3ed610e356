import FoundationEssentials
import Testing
@testable import NetFaultCore

/// The journal's port lists: runs of consecutive ports in their order, read back exactly, and
/// the arrays of entries written before still read.
@Suite struct PortListTests {
    @Test("runs rising and falling, single ports and the order are kept", arguments: [
        ([], ""),
        ([6379], "6379"),
        ([6379, 3306], "6379,3306"),
        ([6379] + (20000...29998).map { UInt16($0) }, "6379,20000-29998"),
        ((1...65535).reversed().map { UInt16($0) }, "65535-1"),
        ([5, 6, 7, 3, 2, 9], "5-7,3-2,9"),
        ([65534, 65535, 0, 1], "65534-65535,0-1"),
    ] as [([UInt16], String)])
    func text(ports: [UInt16], text: String) {
        #expect(PortList.text(ports) == text)
        #expect(PortList.ports(text) == ports)
    }

    @Test("text that no list makes is refused", arguments: ["6379,", ",1", "1--2", "1-2-3", "65536", "x", "-1", " 1"])
    func refused(text: String) {
        #expect(PortList.ports(text) == nil)
    }

    @Test("a target and a filter plan encode their ports as text and read both forms back")
    func codable() throws {
        let many = [6379] + (20000..<30000).map { UInt16($0) }
        let target = Target(ports: many, host: IPAddress("10.1.2.3"))
        let plan = FilterPlan(table: "netfault-nf-000001", ports: many, rules: [])
        let encoded = try JSONEncoder().encode(target)
        #expect(String(decoding: encoded, as: UTF8.self).contains(#""ports":"6379,20000-29999""#))
        #expect(try JSONDecoder().decode(Target.self, from: encoded) == target)
        #expect(try JSONDecoder().decode(FilterPlan.self, from: try JSONEncoder().encode(plan)) == plan)
        let old = Data(#"{"ports":[6379,3306],"name":"redis,mysql"}"#.utf8)
        #expect(try JSONDecoder().decode(Target.self, from: old) == Target(ports: [6379, 3306], name: "redis,mysql"))
        let oldPlan = Data(#"{"table":"t","rules":[],"ports":[1,2]}"#.utf8)
        #expect(try JSONDecoder().decode(FilterPlan.self, from: oldPlan).ports == [1, 2])
    }
}
