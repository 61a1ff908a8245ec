import Foundation
import Testing
import WeirCore

/// The helpers that replaced Foundation's in the shipped modules give Foundation's results.
@Suite struct TextTests {
    /// Every scalar Foundation's sets could treat differently: controls, spaces, separators, marks.
    static let samples: [Unicode.Scalar] = (0...0x3100).compactMap(Unicode.Scalar.init) + ["\u{FEFF}", "\u{1F321}"]

    @Test func trimmingMatchesFoundation() {
        for scalar in Self.samples {
            let text = "\(scalar)\(scalar)a \(scalar) b\(scalar)"
            #expect(text.trimmingWhitespaceAndNewlines() == text.trimmingCharacters(in: .whitespacesAndNewlines), "U+\(scalar.value)")
            #expect(text.trimmingSpaces() == text.trimmingCharacters(in: .whitespaces), "U+\(scalar.value)")
        }
        #expect("[::1]".trimmingScalars { $0 == "[" || $0 == "]" } == "::1")
        #expect("  \t\n".trimmingWhitespaceAndNewlines().isEmpty)
    }

    @Test func formattingMatchesFoundation() {
        for byte in UInt8.min...UInt8.max { #expect(hexByte(byte) == String(format: "%02x", byte)) }
        for value in [0.0, 0.05, 0.15, 1.25, 1023.96, 12345.678, 1e300] {
            #expect(cFormat("%.1f", value) == String(format: "%.1f", value))
        }
    }
}
