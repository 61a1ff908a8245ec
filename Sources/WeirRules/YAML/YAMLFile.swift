import Dispatch
import WeirCore
import WeirYAML

/// Parses YAML text into nodes that remember where they came from, so every error an operator sees
/// points at `file:line:col`.
public enum YAMLFile {
    /// Every document in `text`; YAML syntax errors become a `Diagnostic` at libyaml's position.
    public static func documents(_ text: String, file: String) throws(Diagnostic) -> [YAMLNode] {
        try compose(text, file: file)
    }

    /// Calls `body` with every document in `text`, for a large file whose tree must not stay in
    /// the heap (rule files: thousands of rules).
    ///
    /// The tree is built on a thread of its own, so that glibc puts it in that thread's arena
    /// (while glibc has arenas to spare: 8 per core) and what `body` keeps (the rules, built on the
    /// caller's thread) does not fill the holes the tree leaves while it is built (its arrays grow
    /// by doubling). Once `body` has returned and the tree is freed, that thread frees a block of
    /// 64 KiB or more (96 KiB: under the default mmap threshold, so it comes from the arena), which
    /// makes glibc consolidate its arena and give the free top back to the kernel past the trim
    /// threshold (`useFixedAllocatorThresholds`): `malloc_trim` does that for the main arena only.
    /// Composed in the caller's heap, Yams' tree pinned about 1.3 KiB of freed heap per loaded rule
    /// in RSS, as much again as the rule itself. Strings taken from the tree are copies
    /// (`string(_:)`) for the same reason. When no thread can be started (thread limits), the tree
    /// is built on the caller's thread.
    public static func withDocuments<R>(_ text: String, file: String, _ body: ([YAMLNode]) -> R) throws(Diagnostic) -> R {
        let handoff = Handoff()
        let composed = DispatchSemaphore(value: 0)
        let released = DispatchSemaphore(value: 0)
        let started = JoinableOSThread.start(name: "weir-yaml") {
            handoff.result = Result { () throws(Diagnostic) in try compose(text, file: file) }
            composed.signal()
            released.wait()
            UnsafeMutableRawPointer.allocate(byteCount: 96 << 10, alignment: 16).deallocate()
        }
        guard let thread = started else { return body(try compose(text, file: file)) }
        composed.wait()
        // The tree is released at the end of this statement, before the thread is let go.
        let outcome = handoff.take().map(body)
        released.signal()
        thread.join()
        return try outcome.get()
    }

    /// Written by the composing thread, then taken by the caller once it has signalled: never at
    /// the same time.
    private final class Handoff: @unchecked Sendable {
        var result: Result<[YAMLNode], Diagnostic>?

        func take() -> Result<[YAMLNode], Diagnostic> {
            defer { result = nil }
            // Never nil: set before the thread signals.
            return result!
        }
    }

    private static func compose(_ text: String, file: String) throws(Diagnostic) -> [YAMLNode] {
        try YAMLNesting.check(text, file: file)
        do {
            return try YAMLTree.parse(text).documents.map { YAMLNode($0, file: file) }
        } catch {
            throw diagnostic(for: error, text: text, file: file)
        }
    }

    /// The diagnostic for a YAML error, worded as Weir worded Yams' errors: libyaml's context and
    /// problem at the problem's position; a reader error (a control character) at 1:1 with its
    /// own position, its line and a caret (`readerMessage`).
    static func diagnostic(for error: YAMLError, text: String, file: String) -> Diagnostic {
        switch error.stage {
        case .scanner, .parser, .composer:
            let prefix = error.context.map { "\($0) " } ?? ""
            return Diagnostic(
                SourceLocation(file: file, line: error.mark.line, column: error.mark.column), "invalid YAML: \(prefix)\(error.problem)")
        case .reader:
            return Diagnostic(SourceLocation(file: file, line: 1, column: 1), "invalid YAML: \(readerMessage(error, in: text))")
        case .memory:
            return Diagnostic(SourceLocation(file: file, line: 1, column: 1), "invalid YAML: Memory error")
        }
    }
}
