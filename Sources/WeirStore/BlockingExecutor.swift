import WeirCore

/// The old name of a serial `BlockingThreads` lane, kept only for WeirForwarder until it moves to
/// `BlockingThreads.serial(name:)`; remove it then.
public typealias BlockingExecutor = BlockingThreads

extension BlockingThreads {
    /// A serial lane: `BlockingThreads.serial(name: label)`.
    public convenience init(label: String) {
        self.init(limit: 1, name: label)
    }
}
