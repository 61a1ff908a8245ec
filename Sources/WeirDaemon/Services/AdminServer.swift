import Glibc
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization
import WeirCore
import WeirEngine

/// The admin HTTP endpoint: `/metrics` (Prometheus text format), `/healthz`, and the dead-letter
/// commands `POST /dlq/replay` and `POST /dlq/purge` (`?id=N` or `?all=1`), which `weir dlq`
/// uses because the running daemon holds the store's lock. Commands are taken from loopback
/// clients only, with the admin token (`AdminToken`) and a loopback `Host`.
///
/// Plain SwiftNIO HTTP/1 on one event-loop thread: a few small routes do not need a web framework,
/// and this keeps the daemon's threads and memory small.
public final class AdminServer: Service, Sendable {
    public struct Health: Sendable {
        public var healthy: Bool
        public var body: String
    }

    let host: String
    let requestedPort: Int
    let metrics: DaemonMetrics
    let health: @Sendable () -> Health
    let commands: AdminCommands?
    /// What commands must present as `Authorization: Bearer`; nil refuses every command.
    let commandToken: String?
    /// What `/metrics` asks for as `Authorization: Bearer` (`admin.token_file`); nil: open.
    let readToken: String?
    /// `/status` (`weir status`); nil answers 404.
    let status: StatusReport?
    /// `/tap` (`weir tap`); nil answers 404.
    let taps: TapHub?
    let logger: Logger
    /// The port bound, or nil when the first bind failed (later attempts are only logged).
    private let bound = AsyncLatch<Int?>()

    init(
        host: String, port: Int, metrics: DaemonMetrics, readToken: String? = nil, health: @escaping @Sendable () -> Health,
        commands: AdminCommands? = nil, commandToken: String? = nil, status: StatusReport? = nil, taps: TapHub? = nil, logger: Logger
    ) {
        self.taps = taps
        self.readToken = readToken
        self.status = status
        self.commands = commands
        self.commandToken = commandToken
        self.host = host
        self.requestedPort = port
        self.metrics = metrics
        self.health = health
        self.logger = logger
    }

    /// The port actually bound (useful with port 0 in tests); waits for the bind.
    public func boundPort() async -> Int? {
        // Never a failure: the latch holds nil when binding failed.
        try? await bound.value
    }

    private func publishBound(_ port: Int?) {
        bound.complete(.success(port))
    }

    /// Serves until graceful shutdown. A port that cannot be bound (taken by another program, an
    /// address not up yet) is logged and tried again, 1 s doubling to 30 s: the admin endpoint is
    /// not worth stopping ingest for.
    public func run() async throws {
        await withDiscardingTaskGroup { tasks in
            if let status {
                // The status page's history every 10 s, and with it, every minute, the baseline
                // `weir status` compares the rules' counters with.
                tasks.addTask {
                    while !Task.isCancelled {
                        status.history.tick()
                        try? await Task.sleep(for: StatusHistory.interval)
                    }
                }
            }
            await serve()
            tasks.cancelAll()
        }
    }

    private func serve() async {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var delay: Duration = .seconds(1)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let channel: any Channel
            do {
                channel = try await bind(group)
            } catch {
                publishBound(nil)
                logger.error(
                    "admin server cannot listen; retrying",
                    metadata: ["address": "\(host):\(requestedPort)", "error": "\(error)", "retry_in": "\(delay)"])
                let wait = delay
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
                delay = min(delay * 2, .seconds(30))
                continue
            }
            let port = channel.localAddress?.port
            publishBound(port)
            logger.info("admin server listening", metadata: ["address": "\(host):\(port ?? requestedPort)"])
            try? await gracefulShutdown()
            try? await channel.close()
            break
        }
        try? await group.shutdownGracefully()
    }

    /// Connections open at once; past it a new one is closed at once. Idle sockets would otherwise
    /// share `LimitNOFILE` with RocksDB, libmosquitto and function pipes.
    static let maxConnections = 64
    /// A connection that has not sent a complete request within this is closed (one request
    /// per connection; a command's own run does not count: its request has arrived by then).
    static let requestTimeout: TimeAmount = .seconds(10)

    private func bind(_ group: MultiThreadedEventLoopGroup) async throws -> any Channel {
        let (metrics, health, commands, token, readToken, status, taps) = (
            metrics, health, commands, commandToken, readToken, status, taps
        )
        let open = OpenConnections()
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard open.count.add(1, ordering: .relaxed).newValue <= Self.maxConnections else {
                    open.count.subtract(1, ordering: .relaxed)
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in open.count.subtract(1, ordering: .relaxed) }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(RequestDeadline(timeout: Self.requestTimeout))
                    try channel.pipeline.syncOperations.addHandler(
                        AdminHandler(
                            metrics: metrics, health: health, commands: commands, token: token, readToken: readToken, status: status,
                            taps: taps))
                }
            }
            .bind(host: host, port: requestedPort).get()
    }
}

/// The admin server's open connections, counted for `maxConnections`.
private final class OpenConnections: Sendable {
    let count = Atomic<Int>(0)
}

/// Closes a connection whose request is not complete within `timeout` of its opening: an idle or
/// trickling client must not hold a descriptor. Lives on its channel's event loop.
private final class RequestDeadline: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    let timeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            deadline?.cancel()
            deadline = nil
        }
        context.fireChannelRead(data)
    }
}

/// Serves one request per exchange.
final class AdminHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let metrics: DaemonMetrics
    let health: @Sendable () -> AdminServer.Health
    let commands: AdminCommands?
    let token: String?
    let readToken: String?
    let status: StatusReport?
    let taps: TapHub?

    init(
        metrics: DaemonMetrics, health: @escaping @Sendable () -> AdminServer.Health, commands: AdminCommands?, token: String?,
        readToken: String? = nil, status: StatusReport? = nil, taps: TapHub? = nil
    ) {
        self.taps = taps
        self.readToken = readToken
        self.status = status
        self.metrics = metrics
        self.health = health
        self.commands = commands
        self.token = token
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let parts = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = parts.first.map(String.init) ?? request.uri
        if path.hasPrefix("/dlq/") {
            command(context: context, request: request, path: path, query: parts.count == 2 ? String(parts[1]) : "")
            return
        }
        if path == "/tap", request.method == .GET, let taps {
            serveTap(taps, context: context, request: request, query: parts.count == 2 ? String(parts[1]) : "")
            return
        }
        if path == "/", request.method == .GET, status != nil {
            respond(context: context, version: request.version, status: .ok, contentType: "text/html; charset=utf-8", body: StatusPage.html)
            return
        }
        if path == "/status/history", request.method == .GET, let status, Self.presents(readToken, in: request) {
            let body = String(decoding: JSONWriter.bytes(status.history.json(recent: status.recent)), as: UTF8.self) + "\n"
            respond(context: context, version: request.version, status: .ok, contentType: "application/json", body: body)
            return
        }
        if path == "/status", request.method == .GET, let status, Self.presents(readToken, in: request) {
            serveStatus(status, context: context, version: request.version)
            return
        }
        let (status, contentType, body): (HTTPResponseStatus, String, String)
        switch (request.method, path) {
        case (.GET, "/metrics") where !Self.presents(readToken, in: request):
            (status, contentType, body) = (.unauthorized, "text/plain", "unauthorized: /metrics needs the admin.token_file token\n")
        case (.GET, "/metrics"):
            (status, contentType, body) = (.ok, "text/plain; version=0.0.4; charset=utf-8", metrics.exposition())
        case (.GET, "/healthz"):
            let h = health()
            (status, contentType, body) = (h.healthy ? .ok : .serviceUnavailable, "application/json", h.body)
        case (_, "/metrics"), (_, "/healthz"):
            (status, contentType, body) = (.methodNotAllowed, "text/plain", "method not allowed\n")
        default:
            (status, contentType, body) = (.notFound, "text/plain", "not found: try /metrics or /healthz\n")
        }
        respond(context: context, version: request.version, status: status, contentType: contentType, body: body)
    }

    /// Runs a dead-letter command off the event loop and answers when it is done.
    private func command(context: ChannelHandlerContext, request: HTTPRequestHead, path: String, query: String) {
        let refusal: HTTPResponseStatus? =
            commands == nil ? .notFound : request.method != .POST ? .methodNotAllowed : refusal(context: context, request: request)
        guard let commands, refusal == nil else {
            let status = refusal ?? .notFound
            respond(context: context, version: request.version, status: status, contentType: "text/plain", body: "\(status.reasonPhrase)\n")
            return
        }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let version = request.version
        let loop = context.eventLoop
        Task {
            let (code, body) = await commands.run(path: path, query: query)
            loop.execute {
                self.respond(
                    context: bound.value, version: version, status: HTTPResponseStatus(statusCode: code), contentType: "application/json",
                    body: body)
            }
        }
    }

    /// Whether `request` carries `Authorization: Bearer <token>`; true when no token is asked for.
    static func presents(_ token: String?, in request: HTTPRequestHead) -> Bool {
        guard let token else { return true }
        let header = request.headers.first(name: "Authorization")
        guard let header, header.hasPrefix("Bearer ") else { return false }
        return AdminToken.matches(String(header.dropFirst(7)), token)
    }

    /// Why a request that needs the command credential (commands, `weir tap`) is refused, or nil.
    func refusal(context: ChannelHandlerContext, request: HTTPRequestHead) -> HTTPResponseStatus? {
        let local = context.channel.remoteAddress.map(isLoopback) ?? false
        // A browser cannot add this header to a cross-site request without a preflight this
        // server never grants: a web page on the gateway cannot purge dead letters.
        let fromWeir = request.headers.first(name: Self.commandHeader) == "1"
        // A page on a name that resolves to 127.0.0.1 (DNS rebinding) sends its own name as Host.
        let loopbackHost = Self.isLoopbackHost(request.headers.first(name: "Host"))
        let authorized = token != nil && Self.presents(token, in: request)
        if !authorized { return .unauthorized }
        return local && fromWeir && loopbackHost ? nil : .forbidden
    }

    /// Header `weir dlq replay|purge` sends with its commands; requests without it are refused.
    static let commandHeader = "X-Weir-Command"

    /// Whether a `Host` header names this machine's loopback: `127.x.x.x`, `localhost` or `[::1]`,
    /// with or without a port.
    static func isLoopbackHost(_ host: String?) -> Bool {
        guard var host = host?.lowercased() else { return false }
        if host.hasPrefix("[") {
            return host == "[::1]" || (host.hasPrefix("[::1]:") && UInt16(host.dropFirst(6)) != nil)
        }
        if let colon = host.lastIndex(of: ":") {
            guard UInt16(host[host.index(after: colon)...]) != nil else { return false }
            host = String(host[..<colon])
        }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        let dotted = octets.count == 4 && octets.allSatisfy { UInt8($0) != nil } && octets[0] == "127"
        return host == "localhost" || dotted
    }

    func isLoopback(_ address: SocketAddress) -> Bool {
        guard let ip = address.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }

    func respond(
        context: ChannelHandlerContext, version: HTTPVersion, status: HTTPResponseStatus, contentType: String, body: String
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        // Connection: close — one request per connection keeps the handler stateless.
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
