import AsyncHTTPClient
import NIOCore
import NIOSSL
import WeirCore

/// How to reach an HTTP upstream.
public struct HTTPUpstreamConfiguration: Sendable, Equatable {
    public var url: String
    /// File holding a bearer token, read again for every batch so a rotated token is picked up.
    public var tokenFile: String?
    public var timeout: Duration = .seconds(30)
    /// Extra request headers (for example an API key header some ingest endpoints want).
    public var headers: [String: String] = [:]
    /// CA bundle to trust instead of the system roots (a private ingest endpoint).
    public var caFile: String?

    public init(url: String, tokenFile: String? = nil) {
        self.url = url
        self.tokenFile = tokenFile
    }
}

/// POSTs each batch as `application/cloudevents-batch+json` (one zstd frame with
/// `Content-Encoding: zstd` when compression is on). 2xx acknowledges; 5xx, 401, 403, 404, 408,
/// 429, 3xx and network errors are retried; any other 4xx (400, 413, 415, 422...) says this batch
/// cannot be accepted, so it is dead-lettered instead of blocking the queue for ever.
public final class HTTPUpstream: Upstream {
    public let configuration: HTTPUpstreamConfiguration
    let compressed: Bool
    let client: HTTPClient

    public init(configuration: HTTPUpstreamConfiguration, compressed: Bool) throws {
        self.configuration = configuration
        self.compressed = compressed
        var clientConfiguration = HTTPClient.Configuration()
        if let caFile = configuration.caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caFile)
            clientConfiguration.tlsConfiguration = tls
        }
        clientConfiguration.timeout = .init(connect: .seconds(10), read: .milliseconds(configuration.timeout.milliseconds))
        clientConfiguration.decompression = .disabled
        // A redirected POST may turn into a GET and lose its body: a 3xx is an error to fix in the URL.
        clientConfiguration.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
    }

    public func start() {}

    public func send(_ payload: [UInt8]) async throws {
        var request = HTTPClientRequest(url: configuration.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/cloudevents-batch+json")
        if compressed { request.headers.add(name: "Content-Encoding", value: "zstd") }
        request.headers.add(name: "User-Agent", value: "weir")
        for (name, value) in configuration.headers.sorted(by: { $0.key < $1.key }) { request.headers.add(name: name, value: value) }
        if let tokenFile = configuration.tokenFile {
            request.headers.add(name: "Authorization", value: "Bearer \(try readToken(tokenFile))")
        }
        request.body = .bytes(ByteBuffer(bytes: payload))
        let response = try await client.execute(request, timeout: .milliseconds(configuration.timeout.milliseconds))
        // A short excerpt of the body explains a refusal in the log and the dead letter.
        let body = try await response.body.collect(upTo: 1 << 20)
        let excerpt = String(decoding: body.readableBytesView.prefix(200), as: UTF8.self)
        let status = response.status.code
        switch status {
        case 200..<300:
            return
        case 401, 403, 404, 408, 429, 500...:
            // Not the batch's fault: credentials, the URL or the server's load. Refusing every
            // batch in turn would empty the outbox into dead letters, so these are retried.
            throw HTTPUpstreamError(status: Int(status), body: excerpt)
        case 400..<500:
            throw BatchRejected(reason: "HTTP \(status) \(excerpt)")
        default:
            throw HTTPUpstreamError(status: Int(status), body: excerpt)
        }
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    private func readToken(_ path: String) throws -> String {
        do {
            return try SecretFile.read(path: path, trimming: .whitespace)
        } catch {
            throw HTTPUpstreamError(status: 0, body: "cannot read token file \(path)")
        }
    }
}

/// An HTTP answer to retry (5xx, 408, 429, other non-2xx) or a local problem before sending.
public struct HTTPUpstreamError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var body: String
    public var description: String { status == 0 ? body : "HTTP \(status) \(body)" }
}
