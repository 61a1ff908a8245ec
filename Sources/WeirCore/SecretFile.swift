import Glibc

/// Reads secrets (passwords, bearer tokens) from files, the one way every reader does it: the
/// whole file as UTF-8 (a leading byte-order mark dropped), trimmed as the setting documents.
///
/// Callers decide when to read: `password_file` once when the configuration loads, `token_file`
/// (HTTP upstreams and `http:` functions) again at every request, so a rotated token is picked up.
public enum SecretFile {
    /// What is removed from the file's text.
    public enum Trimming: Sendable, Equatable {
        /// Trailing line breaks only (`\n`, `\r`, any number of them): `password_file`. Other
        /// whitespace, at either end, is part of the secret.
        case trailingNewlines
        /// Whitespace and line breaks at both ends (Unicode White_Space): `token_file`.
        case whitespace
    }

    /// Files larger than this are not secrets; reading stops with an error.
    public static let maxSize = 1 << 20

    /// The text of the file at `path`, trimmed.
    /// - Throws: `SecretFileError` naming `path` when the file cannot be opened or read, is larger
    ///   than `maxSize`, or is not UTF-8.
    public static func read(path: String, trimming: Trimming) throws(SecretFileError) -> String {
        let bytes = try readBytes(path)
        guard var text = String(validating: bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? bytes.dropFirst(3) : bytes[...], as: UTF8.self)
        else { throw SecretFileError(path: path, reason: "not UTF-8") }
        trim(&text, trimming)
        return text
    }

    /// Removes what `trimming` removes from `text` (on Unicode scalars, so `\r\n` is two line breaks).
    static func trim(_ text: inout String, _ trimming: Trimming) {
        var scalars = Substring(text).unicodeScalars
        switch trimming {
        case .trailingNewlines:
            while let last = scalars.last, last == "\n" || last == "\r" { scalars.removeLast() }
        case .whitespace:
            while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
            while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() }
        }
        text = String(scalars)
    }

    private static func readBytes(_ path: String) throws(SecretFileError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SecretFileError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { readFile(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SecretFileError(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { return bytes }
            bytes += chunk[..<n]
            guard bytes.count <= maxSize else { throw SecretFileError(path: path, reason: "larger than \(maxSize) bytes") }
        }
    }
}

/// `read(2)`, by another name than `SecretFile.read`.
private func readFile(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { read(fd, buffer, count) }

/// A secret file that could not be read: which one, and why.
public struct SecretFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file's path, as configured.
    public var path: String
    /// Why: the system's error (`No such file or directory`), `not UTF-8`, or too large.
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "cannot read secret file '\(path)': \(reason)" }
}
