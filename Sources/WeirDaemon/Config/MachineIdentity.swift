import Glibc

/// The gateway id when `weir.yaml` sets none: unique per machine, so that gateways installed from
/// the same package do not share MQTT client ids (the broker would keep disconnecting one for the
/// other) or CloudEvent ids (the cloud would take one gateway's events for another's duplicates).
enum MachineIdentity {
    /// `<hostname>-<first 8 hex digits of /etc/machine-id>`: readable, and unique even where every
    /// gateway keeps the image's hostname (`raspberrypi`). Read once per process.
    static let defaultGatewayID = gatewayID(hostname: hostname(), machineID: machineID())

    /// The id from a host name and a machine id, either possibly missing: the host name with
    /// characters a gateway id may not hold replaced by `-`, then the machine id's first 8 hex
    /// digits; `weir` when both are missing.
    static func gatewayID(hostname: String?, machineID: String?) -> String {
        let host = (hostname ?? "").map { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) ? $0 : "-" }
        let name = String(host).trimmingDashes()
        let suffix = machineID.map { String($0.lowercased().filter(\.isHexDigit).prefix(8)) } ?? ""
        switch (name.isEmpty, suffix.count == 8) {
        case (false, true): return "\(name)-\(suffix)"
        case (false, false): return name
        case (true, true): return "weir-\(suffix)"
        case (true, false): return "weir"
        }
    }

    private static func hostname() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func machineID() -> String? {
        guard let file = fopen("/etc/machine-id", "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 64)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension String {
    fileprivate func trimmingDashes() -> String {
        var scalars = Substring(self)
        while scalars.first == "-" { scalars.removeFirst() }
        while scalars.last == "-" { scalars.removeLast() }
        return String(scalars)
    }
}
