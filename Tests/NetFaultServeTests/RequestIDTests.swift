import Testing
@testable import NetFaultServe

@Suite struct RequestIDTests {
    @Test("a request id is 20 characters of base32hex, as Toxiproxy's, and ids differ")
    func shape() {
        let ids = (0..<200).map { _ in RequestID.next() }
        let alphabet = Set("0123456789abcdefghijklmnopqrstuv")
        #expect(ids.allSatisfy { $0.count == 20 && $0.allSatisfy(alphabet.contains) })
        #expect(Set(ids).count == ids.count)
        // Every character turns up: the draw covers the whole alphabet, not a part of it.
        #expect(Set(ids.joined()) == alphabet)
    }
}
