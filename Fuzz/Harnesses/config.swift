import WeirCore
import WeirDaemon

/// The daemon configuration (`weir.yaml`): YAML, every section (mqtt, tls, pool, admin, upstreams
/// with their outbox, batch and http/mqtt settings, dead_letters), durations and byte sizes,
/// through `ConfigLoader.parse`, what `ConfigLoader.load` calls with the file's text.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    do {
        let config = try ConfigLoader.parse(fuzzText(data, size), file: "weir.yaml")
        _ = config.mqtt.effectiveQoS
    } catch {
        require(error.location.line >= 1 && error.location.column >= 1, "diagnostic position: \(error)")
    }
    return 0
}
