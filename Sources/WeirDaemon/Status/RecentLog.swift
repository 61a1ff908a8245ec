import Logging
import Synchronization
import WeirCore

/// The last warnings and errors the daemon logged, for the status page: a ring of `capacity`
/// lines, the oldest dropped.
public final class RecentLog: Sendable {
    public struct Entry: Sendable {
        public var at: Int64
        public var level: String
        public var message: String
    }

    public let capacity: Int
    private let entries = Mutex<[Entry]>([])

    public init(capacity: Int = 20) {
        self.capacity = capacity
    }

    func record(_ entry: Entry) {
        entries.withLock { entries in
            if entries.count == capacity { entries.removeFirst() }
            entries.append(entry)
        }
    }

    /// Newest first.
    public var newestFirst: [Entry] { entries.withLock { $0.reversed() } }
}

/// A log handler that hands every record to `wrapped` and keeps the warnings and worse in `recent`.
public struct RecordingLogHandler: LogHandler {
    public var wrapped: any LogHandler
    let recent: RecentLog

    public init(wrapping wrapped: any LogHandler, recent: RecentLog) {
        self.wrapped = wrapped
        self.recent = recent
    }

    public var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        wrapped.log(event: event)
        guard event.level >= .warning else { return }
        let merged = wrapped.metadata.merging(event.metadata ?? [:]) { $1 }
        let details = merged.keys.sorted().map { "\($0)=\(merged[$0]!)" }.joined(separator: " ")
        let text = event.message.description + (details.isEmpty ? "" : " " + details)
        recent.record(RecentLog.Entry(at: currentTimeMillis(), level: event.level.rawValue, message: String(text.prefix(500))))
    }
}
