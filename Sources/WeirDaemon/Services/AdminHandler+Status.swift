import NIOCore
import NIOHTTP1
import WeirCore

extension AdminHandler {
    /// `GET /status`: the report is built off the event loop (it reads outbox stats from the store).
    func serveStatus(_ status: StatusReport, context: ChannelHandlerContext, version: HTTPVersion) {
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        Task {
            let body = await BlockingThreads.shared.run { String(decoding: JSONWriter.bytes(status.json()), as: UTF8.self) + "\n" }
            loop.execute {
                self.respond(context: bound.value, version: version, status: .ok, contentType: "application/json", body: body)
            }
        }
    }
}
