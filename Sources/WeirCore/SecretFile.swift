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

    /// The prefix of a systemd credential in a `*_file` setting: `credential:NAME` means the file
    /// NAME in `$CREDENTIALS_DIRECTORY`, which systemd fills from the unit's `LoadCredential=`.
    public static let credentialPrefix = "credential:"

    /// The credential's name when `configured` is `credential:NAME`, else nil.
    public static func credentialName(_ configured: String) -> Substring? {
        configured.hasPrefix(credentialPrefix) ? configured.dropFirst(credentialPrefix.count) : nil
    }

    /// Why `name` cannot be a credential name (systemd's rule: a file name), or nil when it can.
    public static func credentialNameProblem(_ name: Substring) -> String? {
        if name.isEmpty { return "a credential needs a name: credential:NAME" }
        if name == "." || name == ".." || name.contains("/") || name.contains("\0") {
            return "credential name '\(name)' must be a file name (no '/')"
        }
        return nil
    }

    /// The path a `*_file` setting names: itself, or for `credential:NAME` the file NAME in the
    /// credentials directory (`environment`'s `CREDENTIALS_DIRECTORY`, the process's by default).
    /// - Throws: `SecretFileError` when a credential's name is not a file name or no credentials
    ///   directory is set (the process does not run under a unit with `LoadCredential=`).
    public static func resolvedPath(_ configured: String, environment: [String: String]? = nil) throws(SecretFileError) -> String {
        guard let name = credentialName(configured) else { return configured }
        if let problem = credentialNameProblem(name) { throw SecretFileError(path: configured, reason: problem) }
        let directory = environment.map { $0["CREDENTIALS_DIRECTORY"] } ?? getenv("CREDENTIALS_DIRECTORY").map { String(cString: $0) }
        guard let directory, !directory.isEmpty else {
            throw SecretFileError(
                path: configured,
                reason: "CREDENTIALS_DIRECTORY is not set: credentials come from the unit's LoadCredential=\(name):/path/to/file")
        }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// The permission bits of `path` when its group or others may read it (a secret should be
    /// 0600 or 0400), nil when they may not or the file cannot be examined.
    public static func looseMode(_ path: String) -> UInt32? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let mode = UInt32(info.st_mode) & 0o7777
        return mode & 0o044 != 0 ? mode : nil
    }

    /// The text of the file at `path` (or of the credential it names), trimmed.
    /// - Throws: `SecretFileError` naming `path` when the file cannot be opened or read, is larger
    ///   than `maxSize`, or is not UTF-8, or when it names a credential and there is none.
    public static func read(path configured: String, trimming: Trimming) throws(SecretFileError) -> String {
        let path = try resolvedPath(configured)
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
