import ArgumentParser
import Glibc

/// `weir reload --pid PID`: sends SIGHUP to the daemon, which reloads its rules. The unit's
/// `ExecReload=` uses it, so a reload needs no `/bin/kill` (procps is not on a minimal system)
/// and works with the admin endpoint off.
struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload", abstract: "Ask a running daemon to reload its rules (sends it SIGHUP).")

    @Option(help: "The daemon's process id (systemd passes $MAINPID).")
    var pid: Int32

    func run() throws {
        guard pid > 1 else { throw failure(printing: "weir reload: --pid must be the daemon's process id, not \(pid)") }
        guard kill(pid, SIGHUP) == 0 else {
            throw failure(printing: "weir reload: cannot signal process \(pid): \(String(cString: strerror(errno)))")
        }
    }
}
