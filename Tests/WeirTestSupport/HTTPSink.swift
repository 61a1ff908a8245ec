import Glibc
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A real HTTP/1.1 server on a free 127.0.0.1 port that records every request and answers with
/// the status `status` chooses for it: the "cloud ingest endpoint" in upstream tests.
public final class HTTPSink: Sendable {
    public struct Request: Sendable {
        public var method: String
        public var uri: String
        public var headers: [(String, String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    public let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let recorded = Mutex<[Request]>([])
    private let chooser: Mutex<@Sendable (Int) -> Int>
    /// Sent as `Location` with every 3xx answer.
    let redirectTo: String?

    /// `status(n)` is the status for the n-th request (0-based); 200 by default. Status 0 never
    /// answers (an upstream that hangs). A 3xx answer carries `Location: redirectTo`.
    public init(status: @escaping @Sendable (Int) -> Int = { _ in 200 }, redirectTo: String? = nil) throws {
        chooser = Mutex(status)
        self.redirectTo = redirectTo
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let sink = SinkState()
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap { channel.pipeline.addHandler(SinkHandler(sink: sink)) }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress?.port ?? 0
        sink.owner.withLock { $0 = self }
    }

    // The last reference may go on the sink's own event loop (when its channel closes), where a
    // synchronous shutdown is not allowed.
    deinit { group.shutdownGracefully { _ in } }

    public var url: String { "http://127.0.0.1:\(port)" }
    public var requests: [Request] { recorded.withLock { $0 } }

    /// Changes the answers from now on.
    public func setStatus(_ status: @escaping @Sendable (Int) -> Int) { chooser.withLock { $0 = status } }

    public func stop() { try? channel.close().wait() }

    fileprivate func record(_ request: Request) -> Int {
        let index = recorded.withLock { r in
            r.append(request)
            return r.count - 1
        }
        return chooser.withLock { $0 }(index)
    }
}

private final class SinkState: Sendable {
    let owner = Mutex<HTTPSink?>(nil)
}

private final class SinkHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let sink: SinkState
    var head: HTTPRequestHead?
    var body: [UInt8] = []

    init(sink: SinkState) { self.sink = sink }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let buffer):
            body += buffer.readableBytesView
        case .end:
            guard let head, let owner = sink.owner.withLock({ $0 }) else { return }
            let status = owner.record(
                HTTPSink.Request(method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) }, body: body)
            )
            guard status > 0 else { return }
            let text = status < 300 ? "ok" : "refused by test sink"
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "\(text.utf8.count)")
            if (300..<400).contains(status), let location = owner.redirectTo { headers.add(name: "Location", value: location) }
            context.write(
                wrapOutboundOut(
                    .head(HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: status), headers: headers))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
