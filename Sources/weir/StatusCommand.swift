import ArgumentParser
import WeirCore
import WeirDaemon

/// `weir status`: the running daemon's health on one screen (or `--json` for scripts). Exits 0
/// when healthy, 1 when degraded (broker or store down), 2 when no daemon answers.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the running daemon's health, rules, upstreams and functions (exit 0 when healthy).")

    @OptionGroup var options: ConfigOption
    @Flag(help: "Print the report as JSON.") var json = false

    func run() throws {
        let config = try options.load()
        guard config.admin.host != nil else { throw failure(printing: "weir status: admin is off in \(config.path); nothing to ask") }
        var headers: [String: String] = [:]
        if let path = config.admin.readTokenFile, let token = try? SecretFile.read(path: path, trimming: .whitespace) {
            headers["Authorization"] = "Bearer \(token)"
        }
        guard let (status, body) = AdminClient.request("GET", port: config.admin.port, path: "/status", headers: headers) else {
            writeToStandardError("weir status: no daemon answers on 127.0.0.1:\(config.admin.port) (is weir running?)\n")
            throw ExitCode(2)
        }
        guard status == 200, let report = try? JSONParser.parse(Array(body.utf8)) else {
            throw failure(printing: "weir status: the daemon answered \(status): \(body)")
        }
        print(json ? String(decoding: JSONWriter.bytes(report), as: UTF8.self) : StatusView.render(report))
        if report["healthy"] != .bool(true) { throw ExitCode(1) }
    }
}
