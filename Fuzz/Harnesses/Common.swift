/// Shared by every harness (compiled into each binary): turning libFuzzer's buffer into Swift
/// values, and the property check that makes a broken invariant a crash libFuzzer reports.

/// The input as bytes.
func fuzzBytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> [UInt8] {
    Array(UnsafeBufferPointer(start: data, count: size))
}

/// The input as text, the way the loaders read files: invalid UTF-8 is repaired, as
/// `String(decoding:)` does (the file loaders reject it earlier; repairing keeps the input useful).
func fuzzText(_ data: UnsafePointer<UInt8>, _ size: Int) -> String {
    String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
}

/// Traps with `message` when a property does not hold: libFuzzer saves the input as a crash.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("fuzz property violated: \(message())") }
}
