import FoundationEssentials
import Glibc
import WeirCore

/// The credential for the admin endpoint's commands (dead-letter replay and purge): a random
/// token in `<state_dir>/admin.token`, mode 0600, made at the daemon's first start. `weir dlq`
/// reads it and sends it as `Authorization: Bearer <token>`, so only the daemon's user (and root)
/// can run commands; other local users, and web pages that reach loopback, cannot.
public enum AdminToken {
    public static let fileName = "admin.token"

    public static func path(stateDir: String) -> String { stateDir + "/" + fileName }

    /// The token, made (and synced to disk) when the file does not exist yet or is empty (a
    /// crash while it was made). Written to a temporary file, synced, then linked into place:
    /// the token file is whole or absent.
    public static func loadOrCreate(stateDir: String) throws -> String {
        let path = path(stateDir: stateDir)
        if let existing = try? read(stateDir: stateDir) { return existing }
        if let size = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int, size == 0 { unlink(path) }
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in hexByte(UInt8.random(in: 0...255, using: &generator)) }.joined()
        let temporary = path + ".new-\(getpid())"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AdminTokenError(description: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        defer { unlink(temporary) }
        let bytes = Array((token + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count && fsync(fd) == 0
        close(fd)
        guard written else { throw AdminTokenError(description: "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        guard link(temporary, path) == 0 else {
            // Another start made it meanwhile: use that one.
            if errno == EEXIST, let existing = try? read(stateDir: stateDir) { return existing }
            throw AdminTokenError(description: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        let directory = open(stateDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
        return token
    }

    /// The token from `<state_dir>/admin.token`; an error that says who may read it.
    public static func read(stateDir: String) throws -> String {
        let path = path(stateDir: stateDir)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AdminTokenError(
                description: "cannot read \(path) (the admin token, mode 0600): run as the daemon's user or root, "
                    + "and make sure the daemon has started once")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingWhitespaceAndNewlines()
        guard !token.isEmpty else { throw AdminTokenError(description: "\(path) is empty") }
        return token
    }

    /// Compares in time independent of where the two differ.
    static func matches(_ presented: String, _ token: String) -> Bool {
        let a = Array(presented.utf8)
        let b = Array(token.utf8)
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// The admin token could not be made or read.
public struct AdminTokenError: Error, Sendable, CustomStringConvertible {
    public var description: String
}
