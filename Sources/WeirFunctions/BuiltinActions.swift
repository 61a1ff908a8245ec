import Logging
import WeirCore
import WeirRules

/// The built-in actions: `publish` to the local broker and `log`.
public struct BuiltinActions: ActionExecutor {
    public let publisher: any MessagePublisher
    public let logger: Logger

    public init(publisher: any MessagePublisher, logger: Logger) {
        self.publisher = publisher
        self.logger = logger
    }

    public func execute(_ invocation: Invocation) async throws {
        switch invocation.action {
        case .publish(let template, let qos, let retain):
            let topic = try template.render(invocation.row)
            try await publisher.publish(topic: topic, payload: JSONWriter.bytes(.object(invocation.row)), qos: qos, retain: retain)
        case .log(let level):
            logger.log(
                level: level.loggerLevel, "rule \(invocation.rule) matched",
                metadata: ["rule": "\(invocation.rule)", "topic": "\(invocation.topic)", "row": "\(JSONValue.object(invocation.row))"])
        }
    }
}

extension LogLevel {
    var loggerLevel: Logger.Level {
        switch self {
        case .debug: return .debug
        case .info: return .info
        case .notice: return .notice
        case .warning: return .warning
        case .error: return .error
        }
    }
}
