import CPCRE2
import Glibc

/// A PCRE2 call that failed: the call, PCRE2's message, and for a pattern the byte offset.
public struct RegexError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var message: String
    /// Where in the pattern compilation stopped (compile errors only).
    public var offset: Int?
    /// The match gave up at its work bound (`matchLimit`, `depthLimit`): a pattern and input
    /// that would backtrack for too long, such as `^(a+)+$` against forty a's and a `!`.
    public var limitExceeded: Bool

    public var description: String {
        if limitExceeded { return "regular expression gave up: it needed more than its work bound on this input" }
        return "\(operation) failed: \(message)" + (offset.map { " at byte \($0) of the pattern" } ?? "")
    }
}

/// PCRE2's text for an error code.
private func errorMessage(_ code: Int32) -> String {
    var buffer = [UInt8](repeating: 0, count: 256)
    let length = buffer.withUnsafeMutableBufferPointer { pcre2_get_error_message_8(code, $0.baseAddress, $0.count) }
    return String(decoding: buffer.prefix(max(0, Int(length))), as: UTF8.self)
}

/// The one funnel for PCRE2 match and substitute results: negative codes become thrown errors.
/// `PCRE2_ERROR_NOMATCH` is not an error: it comes back as is for the caller.
@inline(__always)
func pcre2(_ operation: StaticString, _ result: Int32) throws(RegexError) -> Int32 {
    guard result < 0, result != PCRE2_ERROR_NOMATCH else { return result }
    let limit = result == PCRE2_ERROR_MATCHLIMIT || result == PCRE2_ERROR_DEPTHLIMIT || result == PCRE2_ERROR_HEAPLIMIT
    throw RegexError(operation: "\(operation)", message: errorMessage(result), offset: nil, limitExceeded: limit)
}

/// A compiled regular expression (PCRE2 syntax, UTF-8) whose every match has a bounded cost.
///
/// PCRE2 backtracks like Swift's `Regex` and most engines, so a hostile input can make a
/// nested quantifier take exponential time; the match and depth limits turn that into an error
/// for the one input instead of a stalled thread. Immutable after compilation and safe to use
/// from any thread (each match has its own match data).
public final class CompiledPattern: Sendable {
    /// The most backtracking steps (calls of PCRE2's internal `match()`) one match may take:
    /// about a millisecond of work, far more than any sane pattern needs on a payload field.
    public static let matchLimit: UInt32 = 200_000
    /// The deepest backtracking one match may nest.
    public static let depthLimit: UInt32 = 10_000
    /// The heap one match may use for backtracking, in KiB (patterns can come from payloads).
    public static let heapLimitKiB: UInt32 = 8 * 1024
    /// The longest result a replacement may produce (an empty match replaced in a long value).
    public static let maxReplacedBytes = 4 << 20
    /// The most time one replacement may take in all. Each match is bounded by `matchLimit`, but
    /// a global replacement runs one match per occurrence: thousands of matches that each take
    /// nearly the bound would add up to seconds on one event.
    public static let replacementBudget: Duration = .milliseconds(100)

    public let pattern: String
    // Written once in init, only read afterwards (PCRE2 code is read-only while matching).
    nonisolated(unsafe) private let code: OpaquePointer
    nonisolated(unsafe) private let context: OpaquePointer

    public init(_ pattern: String) throws(RegexError) {
        var errorCode: Int32 = 0
        var errorOffset = 0
        let compiled = pattern.utf8CString.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: UInt8.self) { utf8 in
                // UCP: \d, \w, \s and \b are Unicode-aware, as they were with Swift's Regex.
                pcre2_compile_8(utf8.baseAddress, utf8.count - 1, PCRE2_UTF | PCRE2_UCP, &errorCode, &errorOffset, nil)
            }
        }
        guard let compiled else {
            throw RegexError(operation: "pcre2_compile", message: errorMessage(errorCode), offset: errorOffset, limitExceeded: false)
        }
        guard let matchContext = pcre2_match_context_create_8(nil) else {
            pcre2_code_free_8(compiled)
            throw RegexError(operation: "pcre2_match_context_create", message: "out of memory", offset: nil, limitExceeded: false)
        }
        pcre2_set_match_limit_8(matchContext, Self.matchLimit)
        pcre2_set_depth_limit_8(matchContext, Self.depthLimit)
        pcre2_set_heap_limit_8(matchContext, Self.heapLimitKiB)
        self.pattern = pattern
        code = compiled
        context = matchContext
    }

    deinit {
        pcre2_match_context_free_8(context)
        pcre2_code_free_8(code)
    }

    /// Whether the pattern matches anywhere in `text`; throws when the match gave up at its bound.
    public func matches(_ text: String) throws(RegexError) -> Bool {
        guard let data = pcre2_match_data_create_from_pattern_8(code, nil) else {
            throw RegexError(operation: "pcre2_match_data_create", message: "out of memory", offset: nil, limitExceeded: false)
        }
        defer { pcre2_match_data_free_8(data) }
        var text = text
        let result = text.withUTF8 { utf8 in pcre2_match_8(code, utf8.baseAddress, utf8.count, 0, 0, data, context) }
        return try pcre2("pcre2_match", result) >= 0
    }

    /// `text` with every match replaced by `replacement`, taken literally (no `$1`).
    public func replacingMatches(in text: String, with replacement: String) throws(RegexError) -> String {
        var text = text
        var replacement = replacement
        let options = PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_LITERAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH
        var capacity = text.utf8.count + max(64, replacement.utf8.count * 4) + 1
        // Its own copy of the context: the callout's data (this call's deadline) is per call.
        guard let callContext = pcre2_match_context_copy_8(context) else {
            throw RegexError(operation: "pcre2_match_context_copy", message: "out of memory", offset: nil, limitExceeded: false)
        }
        defer { pcre2_match_context_free_8(callContext) }
        // [deadline in monotonic nanoseconds, 1 once the callout found it passed].
        let deadline = UnsafeMutablePointer<UInt64>.allocate(capacity: 2)
        defer { deadline.deallocate() }
        let budget = Self.replacementBudget.components
        deadline[0] = monotonicNow() + UInt64(budget.seconds) * 1_000_000_000 + UInt64(budget.attoseconds / 1_000_000_000)
        deadline[1] = 0
        pcre2_set_substitute_callout_8(callContext, replacementCallout, deadline)
        while true {
            var output = [UInt8](repeating: 0, count: capacity)
            var length = capacity
            let result = text.withUTF8 { subject in
                replacement.withUTF8 { with in
                    output.withUnsafeMutableBufferPointer { out in
                        pcre2_substitute_8(
                            code, subject.baseAddress, subject.count, 0, options, nil, callContext, with.baseAddress, with.count,
                            out.baseAddress, &length)
                    }
                }
            }
            // With OVERFLOW_LENGTH, a short buffer reports the length it needs.
            if result == PCRE2_ERROR_NOMEMORY, length > capacity {
                guard length <= Self.maxReplacedBytes else {
                    throw RegexError(
                        operation: "pcre2_substitute", message: "the result would exceed \(Self.maxReplacedBytes) bytes", offset: nil,
                        limitExceeded: true)
                }
                capacity = length + 1
                continue
            }
            _ = try pcre2("pcre2_substitute", result)
            // The callout stopped it (PCRE2 then copies the rest unreplaced and reports success).
            if deadline[1] != 0 { _ = try pcre2("pcre2_substitute", PCRE2_ERROR_MATCHLIMIT) }
            return String(decoding: output.prefix(length), as: UTF8.self)
        }
    }
}

/// Called by PCRE2 after each match of a global replacement: past the deadline (`data[0]`,
/// nanoseconds) it stops the replacement and notes so in `data[1]`, for the caller to report the
/// work bound (a negative answer makes PCRE2 copy the rest of the subject and return success).
private let replacementCallout:
    @convention(c) (UnsafeMutablePointer<pcre2_substitute_callout_block_8>?, UnsafeMutableRawPointer?) -> Int32 = {
        _, data in
        guard let state = data?.assumingMemoryBound(to: UInt64.self), monotonicNow() > state[0] else { return 0 }
        state[1] = 1
        return PCRE2_ERROR_MATCHLIMIT
    }

/// Monotonic nanoseconds (this module imports no other of Weir's).
private func monotonicNow() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
