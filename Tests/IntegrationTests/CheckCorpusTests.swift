import Foundation
import Testing
import WeirTestSupport

/// `weir check` on a corpus of broken (and a few good) configuration and rule files, through the
/// real binary, against recorded output: every diagnostic keeps its `path:line:col` and its text.
///
/// Each case is a folder of `Tests/Fixtures/check-corpus/`: its `weir.yaml` (when absent, one
/// that only sets `rules_dir` to the case's `rules/`), its `rules/`, and `expected.txt`, the exit
/// status and the output with the case's temporary folder written as `@DIR@` (which `weir.yaml`
/// may use too). `WEIR_RECORD_GOLDENS=1` writes `expected.txt` instead of comparing.
@Suite struct CheckCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/check-corpus").standardizedFileURL

    static let cases: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: corpus.path)) ?? []
        return names.filter { !$0.hasPrefix(".") && !$0.hasSuffix(".md") }.sorted()
    }()

    @Test func theCorpusIsThere() {
        #expect(Self.cases.count >= 30, "\(Self.corpus.path)")
    }

    @Test(arguments: cases) func checkPrintsTheRecordedOutput(_ name: String) throws {
        let source = Self.corpus.appendingPathComponent(name)
        let temporary = try makeTemporaryDirectory(prefix: "weir-corpus")
        // One spelling of the folder everywhere (mkdtemp's template may hold "//").
        let resolved = try #require(realpath(temporary.path, nil))
        defer { free(resolved) }
        let dir = URL(fileURLWithPath: String(cString: resolved))
        let work = dir.appendingPathComponent("case")
        try FileManager.default.copyItem(at: source, to: work)
        let expectedFile = work.appendingPathComponent("expected.txt")
        try? FileManager.default.removeItem(at: expectedFile)
        let config = work.appendingPathComponent("weir.yaml")
        if let data = FileManager.default.contents(atPath: config.path) {
            // Substituted as bytes: some configurations are deliberately not UTF-8.
            let placeholder = Data("@DIR@".utf8)
            var bytes = data
            while let range = bytes.range(of: placeholder) { bytes.replaceSubrange(range, with: Data(work.path.utf8)) }
            try bytes.write(to: config)
        } else {
            try Data("rules_dir: \(work.path)/rules\n".utf8).write(to: config)
        }
        let run = try runWeir(["check", "--config", config.path], in: dir)
        let actual = "exit: \(run.status.map(String.init) ?? "none")\n" + run.output.replacingOccurrences(of: work.path, with: "@DIR@")
        let golden = source.appendingPathComponent("expected.txt")
        if ProcessInfo.processInfo.environment["WEIR_RECORD_GOLDENS"] == "1" {
            try actual.write(to: golden, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        #expect(actual == expected, "\(name): weir check printed\n\(actual)\nrecorded:\n\(expected)")
    }
}
