import Synchronization
import Testing

@testable import WeirCore

/// Stands for a metric handle: an object whose identity shows whether it was made again.
private final class Handle: Sendable {
    let key: String
    init(key: String) { self.key = key }
}

/// How many handles were made, shared by closures.
private final class Made: Sendable {
    let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

@Suite struct MetricHandlesTests {
    @Test func handlesAreMadeOncePerKey() {
        let handles = MetricHandles<String, Handle>()
        let made = Made()
        let make = { (key: String) -> Handle in
            made.add()
            return Handle(key: key)
        }
        let first = handles.handles(for: "a", make: make)
        let again = handles.handles(for: "a", make: make)
        let other = handles.handles(for: "b", make: make)
        #expect(first === again)
        #expect(first !== other)
        #expect(first.key == "a" && other.key == "b")
        #expect(made.value == 2)
        #expect(handles.count == 2)
    }

    @Test func existingDoesNotMakeHandles() {
        let handles = MetricHandles<String, Handle>()
        #expect(handles.existing("a") == nil)
        let made = handles.handles(for: "a") { Handle(key: $0) }
        #expect(handles.existing("a") === made)
        #expect(handles.count == 1)
    }

    @Test func concurrentCallersShareOneHandle() async {
        let handles = MetricHandles<Int, Handle>()
        let made = Made()
        let seen = await withTaskGroup(of: ObjectIdentifier.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    ObjectIdentifier(
                        handles.handles(for: 7) { _ in
                            made.add()
                            return Handle(key: "7")
                        })
                }
            }
            return await group.reduce(into: Set<ObjectIdentifier>()) { $0.insert($1) }
        }
        #expect(seen.count == 1)
        #expect(made.value == 1)
    }
}
