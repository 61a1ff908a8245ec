import NIOCore
import NIOHTTP1
import WeirCore
import WeirEngine
import WeirRules

extension AdminHandler {
    /// `GET /tap?topic=F|rule=R[&sample=0.1][&rate=100]`: JSON lines as they happen, until the
    /// client goes. It shows payloads, so it needs the command credential (the admin token, a
    /// loopback client and Host, `X-Weir-Command`). At most `TapHub.maxTaps` at once; the request
    /// deadline ends with the request, so a stream is not cut while it runs.
    func serveTap(_ taps: TapHub, context: ChannelHandlerContext, request: HTTPRequestHead, query: String) {
        if let status = refusal(context: context, request: request) {
            respond(context: context, version: request.version, status: status, contentType: "text/plain", body: "\(status.reasonPhrase)\n")
            return
        }
        let parameters = Self.parameters(query)
        let filter: TapHub.Filter
        switch (parameters["topic"], parameters["rule"]) {
        case (let topic?, nil):
            guard let parsed = try? TopicFilter(topic) else {
                respond(
                    context: context, version: request.version, status: .badRequest, contentType: "text/plain", body: "bad topic filter\n")
                return
            }
            filter = .topic(parsed)
        case (nil, let rule?):
            filter = .rule(rule)
        default:
            respond(
                context: context, version: request.version, status: .badRequest, contentType: "text/plain", body: "give topic or rule\n")
            return
        }
        let sample = parameters["sample"].flatMap(Double.init) ?? 1
        let rate = parameters["rate"].flatMap(Int.init) ?? 100
        guard let subscription = taps.open(filter, sample: sample, maxPerSecond: rate) else {
            respond(
                context: context, version: request.version, status: .tooManyRequests, contentType: "text/plain",
                body: "\(taps.maxTaps) taps are open already\n")
            return
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-ndjson")
        headers.add(name: "Cache-Control", value: "no-store")
        // No length: NIO sends it chunked, one chunk per line.
        context.writeAndFlush(
            wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: .ok, headers: headers))), promise: nil)
        let channel = context.channel
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        let pump = Task {
            for await line in subscription.lines {
                loop.execute {
                    // A client that does not read gets fewer lines, never a growing buffer here.
                    guard channel.isWritable else { return }
                    bound.value.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: line + "\n")))), promise: nil)
                }
            }
        }
        channel.closeFuture.whenComplete { _ in
            pump.cancel()
            taps.close(subscription)
        }
    }

    /// `a=1&b=x%2Fy` as a dictionary, percent-decoded.
    static func parameters(_ query: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = parts.first.map(String.init), !key.isEmpty else { continue }
            result[key] = parts.count == 2 ? percentDecoded(parts[1]) : ""
        }
        return result
    }

    static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var index = text.utf8.startIndex
        let utf8 = text.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%"), let high = utf8.index(index, offsetBy: 1, limitedBy: utf8.endIndex),
                let low = utf8.index(index, offsetBy: 2, limitedBy: utf8.endIndex), low < utf8.endIndex,
                let value = UInt8(String(decoding: [utf8[high], utf8[low]], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                index = utf8.index(after: low)
            } else {
                bytes.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                index = utf8.index(after: index)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
