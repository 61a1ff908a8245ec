import Foundation
import Testing
import WeirCore

/// `SecretFile`: the two documented trimmings (`password_file`: trailing newlines; `token_file`:
/// surrounding whitespace) and an error that names the file.
@Suite struct SecretFileTests {
    /// Writes `bytes` to a fresh file and returns its path (removed by `cleanup`).
    func file(_ bytes: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "weir-secret-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func read(_ text: String, _ trimming: SecretFile.Trimming) throws -> String {
        let path = try file(Array(text.utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try SecretFile.read(path: path, trimming: trimming)
    }

    @Test func trailingNewlinesDropsOnlyLineBreaksAtTheEnd() throws {
        #expect(try read("s3cret\n", .trailingNewlines) == "s3cret")
        #expect(try read("s3cret\r\n\n\r", .trailingNewlines) == "s3cret")
        #expect(try read("  s3 cret \t\n", .trailingNewlines) == "  s3 cret \t", "other whitespace is part of the password")
        #expect(try read("\nline1\nline2\n", .trailingNewlines) == "\nline1\nline2")
        #expect(try read("s3cret", .trailingNewlines) == "s3cret")
        #expect(try read("", .trailingNewlines) == "")
    }

    @Test func whitespaceTrimsBothEnds() throws {
        #expect(try read("tok-123\n", .whitespace) == "tok-123")
        #expect(try read(" \t tok 123 \r\n\n", .whitespace) == "tok 123", "inner whitespace stays")
        #expect(try read("\u{00A0}tok\u{2028}\u{3000}", .whitespace) == "tok", "Unicode whitespace too")
        #expect(try read(" \n\t", .whitespace) == "")
    }

    @Test func aByteOrderMarkIsDropped() throws {
        let path = try file([0xEF, 0xBB, 0xBF] + Array("tok\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try SecretFile.read(path: path, trimming: .whitespace) == "tok")
        #expect(try SecretFile.read(path: path, trimming: .trailingNewlines) == "tok")
    }

    @Test func aMissingFileIsAnErrorNamingThePath() throws {
        let path = NSTemporaryDirectory() + "weir-secret-missing-\(UUID().uuidString)"
        let error = #expect(throws: SecretFileError.self) { try SecretFile.read(path: path, trimming: .whitespace) }
        #expect(error?.path == path)
        #expect(error?.reason == "No such file or directory")
        #expect(error?.description == "cannot read secret file '\(path)': No such file or directory")
    }

    @Test func aDirectoryOrNonUTF8FileIsAnError() throws {
        let dir = NSTemporaryDirectory()
        #expect(throws: SecretFileError.self) { try SecretFile.read(path: dir, trimming: .trailingNewlines) }
        let path = try file([0x74, 0xFF, 0x6B])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: SecretFileError.self) { try SecretFile.read(path: path, trimming: .whitespace) }
        #expect(error == SecretFileError(path: path, reason: "not UTF-8"))
    }

    @Test func aCredentialNamesAFileInTheCredentialsDirectory() throws {
        let env = ["CREDENTIALS_DIRECTORY": "/run/credentials/weir.service"]
        #expect(try SecretFile.resolvedPath("credential:mqtt-password", environment: env) == "/run/credentials/weir.service/mqtt-password")
        #expect(try SecretFile.resolvedPath("/etc/weir/token", environment: env) == "/etc/weir/token", "a plain path stays")
        #expect(try SecretFile.resolvedPath("/etc/weir/token", environment: [:]) == "/etc/weir/token")
        let missing = #expect(throws: SecretFileError.self) { try SecretFile.resolvedPath("credential:pw", environment: [:]) }
        #expect(missing?.reason.contains("CREDENTIALS_DIRECTORY is not set") == true)
        #expect(missing?.reason.contains("LoadCredential=pw:") == true)
        for bad in ["credential:", "credential:../etc/shadow", "credential:a/b", "credential:.."] {
            #expect(throws: SecretFileError.self, "\(bad)") { try SecretFile.resolvedPath(bad, environment: env) }
        }
    }

    @Test func looseModeFindsSecretsOthersCanRead() throws {
        let path = try file(Array("pw".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        chmod(path, 0o640)
        #expect(SecretFile.looseMode(path) == 0o640)
        chmod(path, 0o604)
        #expect(SecretFile.looseMode(path) == 0o604)
        chmod(path, 0o600)
        #expect(SecretFile.looseMode(path) == nil)
        #expect(SecretFile.looseMode(path + ".missing") == nil)
    }
}
