import CLibCrypto

/// A libcrypto call that failed, naming the call and OpenSSL's own reason.
public struct CryptoError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var message: String
    public var description: String { "\(operation) failed: \(message)" }
}

/// The one funnel for libcrypto return codes: EVP calls return 1 on success; anything else
/// becomes a thrown error with the first reason on OpenSSL's thread-local error queue.
@inline(__always)
func crypto(_ operation: StaticString, _ result: Int32) throws(CryptoError) {
    guard result != 1 else { return }
    let code = ERR_get_error()
    ERR_clear_error()
    var buffer = [CChar](repeating: 0, count: 256)
    ERR_error_string_n(code, &buffer, buffer.count)
    let reason = code == 0 ? "no reason given" : String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    throw CryptoError(operation: "\(operation)", message: reason)
}

/// Message digests through libcrypto (the one the MQTT client already links), for the SQL
/// functions `md5`, `sha1` and the SHA-2 family.
public enum Digest: String, Sendable, CaseIterable {
    case md5, sha1, sha224, sha256, sha384, sha512

    /// The digest of `bytes` (16 bytes for MD5 up to 64 for SHA-512).
    public func hash(_ bytes: [UInt8]) throws(CryptoError) -> [UInt8] {
        let algorithm: OpaquePointer?
        switch self {
        case .md5: algorithm = EVP_md5()
        case .sha1: algorithm = EVP_sha1()
        case .sha224: algorithm = EVP_sha224()
        case .sha256: algorithm = EVP_sha256()
        case .sha384: algorithm = EVP_sha384()
        case .sha512: algorithm = EVP_sha512()
        }
        guard let algorithm else { throw CryptoError(operation: "EVP_get_digest", message: "\(rawValue) is not available") }
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        // EVP_Digest is one-shot: it makes and frees its own context, so nothing here needs freeing.
        let result = bytes.withUnsafeBytes { input in
            output.withUnsafeMutableBufferPointer { out in
                EVP_Digest(input.baseAddress, input.count, out.baseAddress, &length, algorithm, nil)
            }
        }
        try crypto("EVP_Digest", result)
        return Array(output.prefix(Int(length)))
    }
}
