import Foundation
import Testing
import WeirCore

@testable import WeirActions

/// Real processes: no shell, stdin/stdout, environment, working directory, process-group kill.
@Suite struct ExecProcessTests {
    func run(_ argv: [String], env: [String: String] = [:], cwd: String? = nil, stdin: String = "", timeout: Duration = .seconds(10))
        async throws
        -> ExecResult
    {
        try await ExecProcess.run(argv: argv, environment: env, directory: cwd, stdin: Array(stdin.utf8), timeout: timeout)
    }

    @Test func inputGoesToStdinAndOutputComesBack() async throws {
        let result = try await run(["cat"], stdin: #"{"device":"d1"}"#)
        #expect(result.status == 0 && !result.timedOut)
        #expect(String(decoding: result.stdout, as: UTF8.self) == #"{"device":"d1"}"#)
        let failing = try await run(["sh", "-c", "echo oops >&2; exit 3"])
        #expect(failing.status == 3)
        #expect(String(decoding: failing.stderr, as: UTF8.self) == "oops\n")
    }

    /// Output past the bound is read and dropped, and says so.
    @Test func outputPastTheBoundIsDroppedAndFlagged() async throws {
        let result = try await ExecProcess.run(
            argv: ["sh", "-c", "head -c 3000 /dev/zero"], environment: [:], directory: nil, stdin: [], timeout: .seconds(10),
            maxOutput: 1000)
        #expect(result.status == 0 && result.stdout.count == 1000 && result.truncated)
        let small = try await run(["sh", "-c", "echo hi"])
        #expect(!small.truncated)
    }

    /// The OOM killer takes a greedy function before the daemon: the child's `oom_score_adj` is
    /// 500 above Weir's. (It reads it after its stdin closed, which happens after the spawn hook.)
    @Test func aChildIsKilledBeforeTheDaemonUnderMemoryPressure() async throws {
        let own = Int(try String(contentsOfFile: "/proc/self/oom_score_adj", encoding: .utf8).trimmingCharacters(in: .newlines)) ?? 0
        let result = try await run(["sh", "-c", "cat >/dev/null; cat /proc/self/oom_score_adj"], stdin: "x")
        #expect(String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .newlines) == "\(min(1000, own + 500))")
    }

    /// A descriptor the daemon holds without close-on-exec (libmosquitto's sockets are such) never
    /// reaches a function: it sees stdin, stdout and stderr only.
    @Test func onlyTheStandardDescriptorsReachTheChild() async throws {
        let leaked = open("/dev/null", O_RDONLY)  // deliberately not O_CLOEXEC
        defer { close(leaked) }
        #expect(leaked > 2)
        let result = try await run(["sh", "-c", "ls /proc/self/fd"])
        let fds = Set(String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").compactMap { Int($0) })
        #expect(!fds.contains(Int(leaked)), "fds in the child: \(fds.sorted())")
        #expect(fds.isSubset(of: [0, 1, 2, 3]), "only the standard three (and ls's own directory): \(fds.sorted())")
    }

    @Test func argumentsAreNeverInterpretedByAShell() async throws {
        let dir = try makeTemporaryDirectoryForExec()
        let marker = dir.appendingPathComponent("pwned").path
        let hostile = "$(touch \(marker)); `touch \(marker)`; touch \(marker) \"'"
        let result = try await run(["printf", "%s", hostile])
        #expect(String(decoding: result.stdout, as: UTF8.self) == hostile)
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func environmentIsOnlyWhatIsDeclaredAndTheDirectoryIsSet() async throws {
        let result = try await run(["env"], env: ["GREETING": "hi"], cwd: "/tmp")
        let lines = Set(String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").map(String.init))
        #expect(lines == ["GREETING=hi"])
        #expect(String(decoding: try await run(["pwd"], cwd: "/tmp").stdout, as: UTF8.self) == "/tmp\n")
    }

    /// Many variables of every length arrive intact (each entry ends where its value ends).
    @Test func everyVariableArrivesExactly() async throws {
        let declared = Dictionary(uniqueKeysWithValues: (1...60).map { ("V\($0)", String(repeating: "v", count: $0 * 7)) })
        let result = try await run(["env"], env: declared)
        let lines = Set(String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").map(String.init))
        #expect(lines == Set(declared.map { "\($0.key)=\($0.value)" }))
    }

    @Test func aTimeoutKillsTheWholeProcessGroup() async throws {
        let started = monotonicNanos()
        // The child leaves a grandchild behind and prints its pid; both must die at the timeout.
        let result = try await run(["sh", "-c", "sleep 30 & echo $!; sleep 30"], timeout: .milliseconds(300))
        #expect(result.timedOut)
        #expect(monotonicNanos() - started < 5_000_000_000)
        let grandchild = try #require(Int32(String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        var gone = false
        for _ in 0..<100 where !gone {
            // Dead, or a zombie waiting for a reaper that is not ours (PID 1 in a container may never reap it).
            let stat = (try? String(contentsOfFile: "/proc/\(grandchild)/stat", encoding: .utf8)) ?? ""
            gone = kill(grandchild, 0) != 0 || stat.split(separator: ")").last?.split(separator: " ").first == "Z"
            if !gone { usleep(10_000) }
        }
        #expect(gone, "no orphan left behind")
    }

    @Test func aMissingProgramIsAClearError() async {
        await #expect(throws: SpawnError.self) { try await run(["no-such-program-weir"]) }
    }

    /// Output past `maxOutput` is dropped, not an error, and the program is not blocked by it.
    @Test func outputIsTruncatedAtMaxOutput() async throws {
        let result = try await ExecProcess.run(
            argv: ["head", "-c", "300000", "/dev/zero"], environment: [:], directory: nil, stdin: [], timeout: .seconds(10),
            maxOutput: 1000)
        #expect(result.status == 0 && !result.timedOut)
        #expect(result.stdout.count == 1000)
    }

    @Test func aSignalIsStatus128PlusItsNumber() async throws {
        #expect(try await run(["sh", "-c", "kill -9 $$"]).status == 128 + SIGKILL)
    }

    /// A child that exits while a grandchild still holds its stdout is done at its exit, not at
    /// the timeout (and the grandchild goes with the group).
    @Test func anExitEndsTheRunEvenWhenAGrandchildHoldsThePipes() async throws {
        let started = monotonicNanos()
        let result = try await run(["sh", "-c", "sleep 30 & echo started"], timeout: .seconds(20))
        #expect(!result.timedOut && result.status == 0)
        #expect(String(decoding: result.stdout, as: UTF8.self) == "started\n")
        #expect(monotonicNanos() - started < 5_000_000_000)
    }

    func makeTemporaryDirectoryForExec() throws -> URL {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("weir-exec-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
